/**
 * Writing a LLaVA checkpoint (any layout src/io and layouts.ts read) as a `llava quantize` folder: the text
 * GGUF, the mmproj GGUF and `llava-gguf.json`. Tensors are read, converted (f16 rounding or q8_0/q4_0
 * blocks per weight-types.ts, q/k rows permuted for llama.cpp's RoPE) and written one at a time, so peak
 * memory is about one tensor; every file is written atomically (temporary name, fsync, rename), the folder
 * config last, so a folder with a config is complete.
 *
 * Not here: command-line handling and the image/tokenizer files next to these (cli/quantize.ts).
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { storageLength, type QuantDType } from '../../engine/dtype.js';
import { narrow, quantize, to } from '../../engine/ops/index.js';
import { Tensor } from '../../engine/tensor.js';
import { tensorTypeForDtype } from '../../io/gguf-format.js';
import { writeGguf, type GgufTensorPlan } from '../../io/gguf-writer.js';
import type { WeightSource } from '../../io/source.js';
import type { GgufTokenizerData } from '../../tokenizer/gguf.js';
import { GGUF_CONFIG_FILE, type GgufFolderConfig } from './gguf-load.js';
import { checkMmprojSupported, mmprojMetadata, mmprojTensorSpecs } from './gguf-mmproj.js';
import { llamaMetadata, llamaTensorSpecs, permuteRopeRows, type TensorSpec } from './gguf-text.js';
import type { DescribedLlava } from './load.js';
import { weightStorage, type MmprojScheme, type QuantScheme, type WeightStorage } from './weight-types.js';

export interface LlavaGgufRequest {
  /** The source model, resolved from its headers (describeLlava). */
  model: DescribedLlava;
  outDir: string;
  scheme: QuantScheme;
  mmprojScheme: MmprojScheme;
  /** `general.name`. */
  name: string;
  tokenizer: GgufTokenizerData | null;
  /** The source's Jinja chat template, if any (stored as `tokenizer.chat_template`). */
  chatTemplate?: string;
  /** Tokenizer `legacy` flag to keep in the folder config. */
  legacy?: boolean;
  /** Image normalization constants (written to the mmproj file). */
  mean: readonly number[];
  std: readonly number[];
  /** Progress: file ("text" | "mmproj"), tensors done, total, last tensor name. */
  onProgress?: (file: 'text' | 'mmproj', done: number, total: number, name: string) => void;
}

export interface LlavaGgufResult {
  text: string;
  mmproj: string;
  config: string;
  /** Tensor name → stored type, per file (for reports and tests). */
  types: { text: Map<string, string>; mmproj: Map<string, string> };
}

// Rows are quantized in slices of about this many elements: converting a whole f16 matrix to f32 first
// would fault in a fresh buffer twice its size for every tensor (seconds per 7B matrix on this kind of VM).
const SLICE_ELEMENTS = 1 << 20;

/** q8_0/q4_0 blocks of a matrix, computed slice by slice; the bytes equal `quantize(to(t, 'f32'), q)`. */
function quantizeRows(t: Tensor, q: QuantDType): Tensor {
  const rows = t.shape[0]!;
  const cols = t.numel / rows;
  const out = Tensor.empty(t.shape, q);
  const rowBytes = storageLength(q, cols);
  const step = Math.max(1, Math.floor(SLICE_ELEMENTS / cols));
  for (let r = 0; r < rows; r += step) {
    const n = Math.min(step, rows - r);
    const part = quantize(to(narrow(t, 0, r, n), 'f32'), q);
    out.data.set(part.data.subarray(0, n * rowBytes), r * rowBytes);
  }
  return out;
}

/** Converts `t` to its storage type, then permutes q/k rows for llama.cpp. */
function convert(t: Tensor, storage: WeightStorage, ropeHeads: number | undefined): Tensor {
  let out: Tensor;
  if (storage === 'q8_0' || storage === 'q4_0') out = quantizeRows(t, storage);
  else out = t.dtype === storage ? t : to(t, storage);
  return ropeHeads ? permuteRopeRows(out, ropeHeads, true) : out;
}

function plans(specs: TensorSpec[], source: (hf: string) => WeightSource, leaf: (hf: string) => string, scheme: QuantScheme, types: Map<string, string>): GgufTensorPlan[] {
  return specs.map((s) => {
    const src = source(s.hf);
    const name = leaf(s.hf);
    const shape = src.info(name).shape;
    const storage = weightStorage(s.role, scheme, shape);
    const type = tensorTypeForDtype(storage)!;
    types.set(s.gguf, type);
    return { name: s.gguf, type, shape, produce: () => convert(src.get(name, shape), storage, s.ropeHeads) };
  });
}

export async function writeLlavaGguf(req: LlavaGgufRequest): Promise<LlavaGgufResult> {
  const m = req.model;
  const cfg = m.config;
  const where = m.dir;
  checkMmprojSupported(cfg, where);
  const w = m.weights;
  const layout = m.layout;
  const tied = !w.has(`${layout.head}.weight`);
  const types = { text: new Map<string, string>(), mmproj: new Map<string, string>() };

  // Text names are "model.X" / "lm_head.weight" below the layout's prefixes.
  const textSpecs = llamaTensorSpecs(cfg.text, tied);
  const textSource = (hf: string) => w.prefix(hf.startsWith('lm_head.') ? layout.head : layout.text);
  const textLeaf = (hf: string) => hf.replace(/^(model|lm_head)\./, '');
  const textPlans = plans(textSpecs, textSource, textLeaf, req.scheme, types.text);

  const mmSpecs = mmprojTensorSpecs(cfg.projector.bias, m.layersRun);
  const projector = w.prefix(layout.projector);
  const mmSource = (hf: string) => (hf.startsWith('vision_model.') ? m.vision : projector);
  const mmLeaf = (hf: string) => {
    if (hf.startsWith('vision_model.')) return hf.slice('vision_model.'.length);
    const [, i, leaf] = /^projector\.linear_(\d)\.(.*)$/.exec(hf)!;
    const layer = layout.projectorLayer(Number(i) - 1, cfg.projector.layers);
    return layer === '' ? leaf! : `${layer}.${leaf}`;
  };
  const mmPlans = plans(mmSpecs, mmSource, mmLeaf, req.mmprojScheme, types.mmproj);

  const textFile = path.join(req.outDir, `model-${req.scheme}.gguf`);
  const mmFile = path.join(req.outDir, `mmproj-${req.mmprojScheme}.gguf`);
  await writeGguf(textFile, llamaMetadata(cfg.text, req.name, req.scheme, req.tokenizer, req.chatTemplate), textPlans, {
    onTensor: (d, n, name) => req.onProgress?.('text', d, n, name),
  });
  await writeGguf(mmFile, mmprojMetadata(cfg, req.name, req.mmprojScheme, req.mean, req.std), mmPlans, {
    onTensor: (d, n, name) => req.onProgress?.('mmproj', d, n, name),
  });

  const folder: GgufFolderConfig = {
    format: 'llava-ts-gguf',
    model: path.basename(textFile),
    mmproj: path.basename(mmFile),
    type: req.scheme,
    mmproj_type: req.mmprojScheme,
    name: req.name,
    vision_feature_select_strategy: cfg.selectStrategy,
    projector_hidden_act: cfg.projector.act,
    ...(cfg.placeholderIds.length > 1 ? { image_token_index: cfg.placeholderIds[1]! } : {}),
    ...(req.legacy !== undefined ? { legacy: req.legacy } : {}),
    eos_token_id: m.eosTokenIds,
  };
  const configFile = path.join(req.outDir, GGUF_CONFIG_FILE);
  writeTextAtomic(configFile, JSON.stringify(folder, null, 2) + '\n');
  return { text: textFile, mmproj: mmFile, config: configFile, types };
}

/** A small text file written atomically (the GGUF writer's temp + rename, with no tensors). */
export function writeTextAtomic(file: string, text: string): void {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    writeFileSync(temp, text);
    const fd = openSync(temp, 'r');
    fsyncSync(fd);
    closeSync(fd);
    renameSync(temp, file);
  } catch (e) {
    rmSync(temp, { force: true });
    throw e;
  }
}
