/**
 * `llava run`: load a model folder, preprocess one image, build the prompt ids (from `--prompt` with the
 * tokenizer and chat template, or given as `--input-ids`), decode greedily with the KV cache until EOS or
 * `--max-new-tokens`, print the reply (or one JSON line with `--json`) and optionally dump the prefill
 * intermediates to safetensors (f32, with their batch dimension).
 *
 * `LLAVA_DEBUG=timing` prints the wall time of loading, the vision tower, the prefill and the decode steps.
 *
 * Not here: sampling (only --temperature 0), chat sessions, streaming (later generation work).
 */
import '../backends/index.js';
import type { Tensor } from '../engine/tensor.js';
import { to } from '../engine/ops/index.js';
import { writeSafetensors } from '../io/safetensors-writer.js';
import { greedyGenerate } from '../models/llava/greedy.js';
import { loadLlava } from '../models/llava/load.js';
import { preprocessImage } from '../vision/preprocess.js';
import { preprocessOptionsFromModel } from '../vision/config.js';
import { fmtShape } from '../engine/shape.js';
import { debug, infoOnce } from '../util/log.js';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promptIds, replyText } from './run-text.js';

export interface RunOptions {
  /** Absent: the embedded tiny demo model (assets/), and its image when --image is absent too. */
  model?: string;
  visionTower?: string;
  image?: string;
  prompt?: string;
  template?: string;
  inputIds?: string;
  maxNewTokens: string;
  temperature: string;
  json?: boolean;
  dump?: string;
  kvCache: string;
  pad?: boolean;
  crop?: boolean;
}

const ms = (t: number) => `${(t / 1000).toFixed(2)} s`;

/** "1,2,-200,3" → ids; anything else is an error naming the bad item. */
export function parseInputIds(text: string): number[] {
  const items = text.split(',').map((s) => s.trim());
  return items.map((s, i) => {
    if (!/^-?\d+$/.test(s)) throw new Error(`--input-ids: item ${i + 1} ${JSON.stringify(s)} is not an integer (expected e.g. 1,3148,-200,13)`);
    return Number(s);
  });
}

function nonNegativeInt(flag: string, v: string): number {
  if (!/^\d+$/.test(v.trim())) throw new Error(`${flag} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return Number(v);
}

/** The package's embedded demo model folder (random weights, see its README). */
export const DEFAULT_MODEL = fileURLToPath(new URL('../../../assets/tiny-llava-1.5-hf', import.meta.url));

export async function run(opts: RunOptions): Promise<void> {
  const o = { ...opts, model: opts.model ?? DEFAULT_MODEL };
  if (opts.model === undefined) {
    // Its image too, unless the given ids leave no place for one.
    const placesImage = o.inputIds === undefined || /(^|,)\s*(-200|32000)\s*(,|$)/.test(o.inputIds);
    if (o.image === undefined && placesImage) o.image = path.join(DEFAULT_MODEL, 'image.png');
    infoOnce('no --model given: running the embedded tiny demo model (random weights: the pipeline is real, the reply is not meaningful)');
  }
  if ((o.prompt === undefined) === (o.inputIds === undefined)) throw new Error('give exactly one of --prompt TEXT or --input-ids IDS');
  if (o.template !== undefined && o.prompt === undefined) throw new Error('--template applies to --prompt only');
  if (o.pad && o.crop) throw new Error('give at most one of --pad and --crop');
  const temperature = Number(o.temperature);
  if (!Number.isFinite(temperature) || temperature < 0) throw new Error(`--temperature must be a number ≥ 0, got ${JSON.stringify(o.temperature)}`);
  if (temperature !== 0) throw new Error('only greedy decoding (--temperature 0) is supported so far');
  const maxNewTokens = nonNegativeInt('--max-new-tokens', o.maxNewTokens);
  if (o.kvCache !== 'f32' && o.kvCache !== 'f16') throw new Error(`--kv-cache must be f32 or f16, got ${JSON.stringify(o.kvCache)}`);
  const inputIds = o.inputIds !== undefined ? parseInputIds(o.inputIds) : null;

  const t0 = performance.now();
  const loaded = loadLlava(o.model, { visionTower: o.visionTower });
  const loadMs = performance.now() - t0;
  const vision = loaded.config.vision;
  let pixelValues: Tensor | null = null;
  if (o.image !== undefined) {
    const prep = preprocessOptionsFromModel(o.model, { visionTower: loaded.towerDir ?? undefined, mode: o.pad ? 'pad' : o.crop ? 'crop' : undefined });
    pixelValues = (await preprocessImage(o.image, prep.options)).pixelValues;
    const [, c, h, w] = pixelValues.shape;
    if (c !== vision.numChannels || h !== vision.imageSize || w !== vision.imageSize) {
      throw new Error(`the preprocessed image is ${fmtShape(pixelValues.shape)} but the vision tower takes [1, ${vision.numChannels}, ${vision.imageSize}, ${vision.imageSize}]`);
    }
  }
  const ids = inputIds ?? promptIds(o.model, o.prompt!, o.template, pixelValues ? 1 : 0);
  const r = greedyGenerate(loaded.model, {
    inputIds: ids,
    pixelValues,
    maxNewTokens,
    eosTokenIds: loaded.eosTokenIds,
    cacheDtype: o.kvCache,
    allPrefillLogits: o.dump !== undefined,
  });
  const text = replyText(o.model, r.outputIds);
  const { imageMs, prefillMs, decodeMs } = r.timings;
  debug('timing', `load ${ms(loadMs)}, vision tower + projector ${ms(imageMs)}, prefill of ${r.inputsEmbeds.shape[1]} positions ${ms(prefillMs)}, ` +
    `${r.outputIds.length} token(s) ${ms(decodeMs)}`);

  if (o.dump !== undefined) {
    const f32 = (t: Tensor) => to(t, 'f32').contiguous();
    const tensors: Record<string, Tensor> = {};
    if (pixelValues) tensors.pixel_values = f32(pixelValues);
    if (r.imageFeaturesSelected) tensors.image_features_selected = f32(r.imageFeaturesSelected);
    if (r.imageFeaturesProjected) tensors.image_features_projected = f32(r.imageFeaturesProjected);
    tensors.inputs_embeds = f32(r.inputsEmbeds);
    tensors.logits = f32(r.prefillLogits);
    await writeSafetensors(o.dump, tensors, { metadata: { producer: 'llava run', model: o.model } });
  }
  if (o.json) {
    process.stdout.write(JSON.stringify({ input_ids: ids, output_ids: r.outputIds, text }) + '\n');
  } else {
    process.stdout.write(`${text ?? r.outputIds.join(',')}\n`);
  }
}
