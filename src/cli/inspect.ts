/**
 * `llava inspect --model DIR [--vision-tower DIR] [--json]`: what a model folder holds, read from config
 * files and checkpoint headers only (no tensor data, so a 14 GB checkpoint costs a few MB): the key
 * layout, the normalized configs, parameter counts per component, stored dtypes, and a memory estimate for
 * `llava run` (weights kept in their stored dtype, small vectors in f32, the KV cache at full context).
 *
 * Not here: loading the model (models/llava/load.ts).
 */
import { describeLlava } from '../models/llava/load.js';
import type { WeightSource } from '../io/source.js';
import { KNOWN_BUFFERS } from '../models/llava/layouts.js';

export interface InspectOptions {
  model: string;
  visionTower?: string;
  mmproj?: string;
  json?: boolean;
}

interface Tally { tensors: number; parameters: number; bytes: number }

const BYTES: Record<string, number> = { F64: 8, F32: 4, I64: 8, I32: 4, F16: 2, BF16: 2, I16: 2, U8: 1, I8: 1, BOOL: 1, Q8_0: 34 / 32, Q4_0: 18 / 32 };

function tally(): Tally {
  return { tensors: 0, parameters: 0, bytes: 0 };
}

function count(into: Tally, numel: number, storedAs: string): void {
  into.tensors++;
  into.parameters += numel;
  into.bytes += numel * (BYTES[storedAs] ?? 4);
}

export async function inspect(o: InspectOptions): Promise<void> {
  const d = describeLlava(o.model, { visionTower: o.visionTower, mmproj: o.mmproj });
  const { config: c, layout } = d;
  const parts: Record<'languageModel' | 'lmHead' | 'projector' | 'visionTower' | 'visionTowerUnused' | 'ignored', Tally> = {
    languageModel: tally(), lmHead: tally(), projector: tally(), visionTower: tally(), visionTowerUnused: tally(), ignored: tally(),
  };
  const dtypes: Record<string, Tally> = {};
  let loadedBytes = 0;
  const visit = (src: WeightSource, part: (k: string) => keyof typeof parts) => {
    for (const k of src.keys()) {
      const info = src.info(k);
      const n = info.shape.reduce((a, b) => a * b, 1);
      const p = part(k);
      count(parts[p], n, info.storedAs);
      count((dtypes[info.storedAs] ??= tally()), n, info.storedAs);
      // What `llava run` holds: matrices as stored, vectors converted to f32.
      if (p !== 'ignored' && p !== 'visionTowerUnused') loadedBytes += info.shape.length === 1 ? n * 4 : n * (BYTES[info.storedAs] ?? 4);
    }
  };
  const under = (k: string, prefix: string) => k.startsWith(`${prefix}.`);
  // Most specific prefixes first: the original layout nests the projector and tower under `model.`.
  visit(d.weights, (k) =>
    KNOWN_BUFFERS.test(k) ? 'ignored'
      : under(k, layout.vision) ? (d.ignorable(k) ? 'visionTowerUnused' : 'visionTower')
      : d.ignorable(k) ? 'ignored'
        : under(k, layout.projector) ? 'projector'
          : under(k, layout.head) ? 'lmHead'
            : under(k, layout.text) ? 'languageModel'
              : 'ignored');
  if (d.tower) {
    visit(d.tower, (k) => (KNOWN_BUFFERS.test(k) ? 'ignored' : d.towerIgnorable(k) ? (under(k, 'vision_model') ? 'visionTowerUnused' : 'ignored') : 'visionTower'));
  }
  const t = c.text;
  const kvPerToken = 2 * t.numLayers * t.numKvHeads * t.headDim * 4;
  const report = {
    model: d.dir,
    layout: layout.name,
    configKind: c.kind,
    visionTower: { from: d.towerFrom, dir: d.towerDir, layersRun: d.layersRun, layersStored: c.vision.numLayers },
    config: c,
    eosTokenIds: d.eosTokenIds,
    tiedHead: parts.lmHead.tensors === 0,
    parameters: {
      languageModel: parts.languageModel.parameters,
      lmHead: parts.lmHead.parameters,
      projector: parts.projector.parameters,
      visionTower: parts.visionTower.parameters,
      visionTowerUnused: parts.visionTowerUnused.parameters,
      total: parts.languageModel.parameters + parts.lmHead.parameters + parts.projector.parameters + parts.visionTower.parameters + parts.visionTowerUnused.parameters,
    },
    dtypes,
    memory: {
      checkpointBytes: Object.values(dtypes).reduce((s, x) => s + x.bytes, 0),
      weightsLoadedBytes: loadedBytes,
      kvCacheBytesPerToken: { f32: kvPerToken, f16: kvPerToken / 2 },
      kvCacheBytesAtMaxPositions: kvPerToken * t.maxPositions,
    },
  };
  if (o.json) {
    process.stdout.write(JSON.stringify(report) + '\n');
    return;
  }
  const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  const m = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : String(n));
  const lines = [
    `model        ${report.model}`,
    `layout       ${layout.name} (config: ${c.kind})`,
    `text         LLaMA ${t.numLayers} layers, hidden ${t.hiddenSize}, mlp ${t.intermediateSize}, heads ${t.numHeads}/${t.numKvHeads} kv, head dim ${t.headDim}, vocab ${t.vocabSize}, rms eps ${t.rmsNormEps}, rope θ ${t.ropeTheta}, context ${t.maxPositions}${report.tiedHead ? ', tied head' : ''}`,
    `vision       CLIP ${c.vision.numLayers} layers (runs ${d.layersRun}), hidden ${c.vision.hiddenSize}, heads ${c.vision.numHeads}, image ${c.vision.imageSize}, patch ${c.vision.patchSize}, ${c.vision.hiddenAct}; weights ${d.towerFrom}`,
    `features     hidden states [${c.featureLayers.join(', ')}], strategy ${c.selectStrategy}, ${c.featuresPerImage} per image × ${c.featureDim}`,
    `projector    ${c.projector.type} (${c.projector.layers} linear${c.projector.layers === 1 ? '' : 's'}, act ${c.projector.act}, bias ${c.projector.bias})`,
    `placeholders ${c.placeholderIds.join(', ')}; eos ${d.eosTokenIds.join(', ')}`,
    `parameters   LLM ${m(report.parameters.languageModel)}, head ${m(report.parameters.lmHead)}, projector ${m(report.parameters.projector)}, vision ${m(report.parameters.visionTower)} (+${m(report.parameters.visionTowerUnused)} not run), total ${m(report.parameters.total)}`,
    `dtypes       ${Object.entries(dtypes).map(([k, v]) => `${k} ${v.tensors} tensors / ${m(v.parameters)}`).join(', ')}`,
    `memory       checkpoint ${mb(report.memory.checkpointBytes)}, loaded weights ${mb(loadedBytes)}, KV cache ${(kvPerToken / 1024).toFixed(0)} KiB per token (f32), ${mb(report.memory.kvCacheBytesAtMaxPositions)} at ${t.maxPositions} positions`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
}
