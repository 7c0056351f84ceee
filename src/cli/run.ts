/**
 * `llava run`: load a model folder, preprocess its images, build the prompt ids (from `--prompt` with the
 * tokenizer and chat template, or given as `--input-ids`), decode with the KV cache until EOS, a stop string
 * or `--max-new-tokens`, print the reply (streamed with `--stream`, or one JSON line with `--json`) and
 * optionally dump the prefill intermediates to safetensors (f32, with their batch dimension).
 *
 * Two decoding paths: with the folder's tokenizer, generation/core.ts (sampling in HF's processor order,
 * stop strings held back, UTF-8-safe streamed text; `--temperature 0` is greedy); without a tokenizer, or
 * with `--dump`, the plain greedy loop (models/llava/greedy.ts), which also returns the prefill tensors.
 * Defaults follow the reference CLI: temperature 0.2, 512 new tokens.
 *
 * `LLAVA_DEBUG=timing` prints the wall time of loading, the vision tower, the prefill and the decode steps.
 *
 * Not here: chat sessions (chat.ts), running off the main thread (generate/client.ts, for API users).
 */
import '../backends/index.js';
import type { Tensor } from '../engine/tensor.js';
import { to } from '../engine/ops/index.js';
import { writeSafetensors } from '../io/safetensors-writer.js';
import { greedyGenerate } from '../models/llava/greedy.js';
import { loadLlava } from '../models/llava/load.js';
import { checkWeightQuant, type WeightQuant } from '../models/llama/quant.js';
import { generateTokens, requestIds } from '../generate/core.js';
import { preprocessImages } from '../generate/images.js';
import { DEFAULTS } from '../generate/options.js';
import { hasTokenizer } from '../generate/prompt.js';
import { modelPreprocessing } from '../generate/model-assets.js';
import { debug, infoOnce } from '../util/log.js';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promptIds, replyText } from './run-text.js';

/** The flags run and chat share (main.ts withGeneration), as commander gives them. */
export interface GenerationFlags {
  temperature: string;
  topP?: string;
  topK?: string;
  minP?: string;
  repetitionPenalty?: string;
  seed?: string;
  quant?: string;
}

export interface RunOptions extends GenerationFlags {
  /** Absent: the embedded tiny demo model (assets/), and its image when --image is absent too. */
  model?: string;
  visionTower?: string;
  /** The mmproj GGUF of a text `.gguf` --model. */
  mmproj?: string;
  /** Repeatable: images in prompt order. */
  image: string[];
  prompt?: string;
  template?: string;
  system?: string;
  inputIds?: string;
  /** Absent: 512, or what the context leaves when less (as generate()'s default). */
  maxNewTokens?: string;
  stream?: boolean;
  json?: boolean;
  dump?: string;
  kvCache: string;
  pad?: boolean;
  crop?: boolean;
  /** A JSONL file of requests decoded as one batch (run-batch.ts). */
  batch?: string;
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

/** `--max-new-tokens`, or undefined when absent (the default then shrinks to fit the context). */
function maxNewTokensFlag(o: RunOptions): number | undefined {
  return o.maxNewTokens === undefined ? undefined : nonNegativeInt('--max-new-tokens', o.maxNewTokens);
}

/** The package's embedded demo model folder (random weights, see its README). */
export const DEFAULT_MODEL = fileURLToPath(new URL('../../../assets/tiny-llava-1.5-hf', import.meta.url));

/** An optional numeric flag: undefined when absent, else a finite number (one sentence naming the flag). */
function num(flag: string, v: string | undefined, integer = false): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === '' || !Number.isFinite(x) || (integer && !Number.isInteger(x))) {
    throw new Error(`${flag} must be ${integer ? 'an integer' : 'a number'}, got ${JSON.stringify(v)}`);
  }
  return x;
}

/** `--quant`: undefined when absent, else the checked type (an error names the flag and the accepted values). */
export function quantFlag(o: GenerationFlags): WeightQuant | undefined {
  return o.quant === undefined ? undefined : checkWeightQuant(o.quant, '--quant');
}

/** The sampling flags shared by `run` and `chat`, as numbers (a flag that is not a number is an error naming it). */
export function samplingFlags(o: GenerationFlags) {
  const sampling = {
    temperature: num('--temperature', o.temperature)!,
    topP: num('--top-p', o.topP),
    topK: num('--top-k', o.topK, true),
    minP: num('--min-p', o.minP),
    repetitionPenalty: num('--repetition-penalty', o.repetitionPenalty),
  };
  const seed = num('--seed', o.seed, true);
  if (sampling.temperature < 0) throw new Error(`--temperature must be ≥ 0, got ${JSON.stringify(o.temperature)}`);
  return { sampling, seed };
}

/** `--batch FILE`: the file's requests over the command line's generation flags, as one batch. */
async function runBatchFile(o: RunOptions & { model: string }): Promise<void> {
  const clash = (['prompt', 'inputIds', 'dump'] as const).find((k) => o[k] !== undefined) ?? (o.image.length > 0 ? 'image' : undefined);
  if (clash) throw new Error(`--batch takes the prompts and images from its file: drop --${clash.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
  if (o.pad && o.crop) throw new Error('give at most one of --pad and --crop');
  const { sampling, seed } = samplingFlags(o);
  const maxNewTokens = maxNewTokensFlag(o);
  if (o.kvCache !== 'f32' && o.kvCache !== 'f16') throw new Error(`--kv-cache must be f32 or f16, got ${JSON.stringify(o.kvCache)}`);
  const defaults = { ...sampling, seed, maxNewTokens, system: o.system, template: o.template };
  for (const k of Object.keys(defaults) as (keyof typeof defaults)[]) if (defaults[k] === undefined) delete defaults[k];
  const { readBatchFile, runBatch } = await import('./run-batch.js');
  const lines = readBatchFile(o.batch!, defaults);
  const loaded = loadLlava(o.model, { visionTower: o.visionTower, quant: quantFlag(o) });
  await runBatch(loaded, o.batch!, lines, { cacheDtype: o.kvCache, imageMode: o.pad ? 'pad' : o.crop ? 'crop' : undefined, stream: o.stream });
}

export async function run(opts: RunOptions): Promise<void> {
  if (opts.batch !== undefined) return runBatchFile({ ...opts, model: opts.model ?? DEFAULT_MODEL, image: opts.image ?? [] });
  const o = { ...opts, model: opts.model ?? DEFAULT_MODEL, image: [...(opts.image ?? [])] };
  if (opts.model === undefined) {
    // Its image too, unless the given ids leave no place for one.
    const placesImage = o.inputIds === undefined || /(^|,)\s*(-200|32000)\s*(,|$)/.test(o.inputIds);
    if (o.image.length === 0 && placesImage) o.image.push(path.join(DEFAULT_MODEL, 'image.png'));
    infoOnce('no --model given: running the embedded tiny demo model (random weights: the pipeline is real, the reply is not meaningful)');
  }
  if ((o.prompt === undefined) === (o.inputIds === undefined)) throw new Error('give exactly one of --prompt TEXT or --input-ids IDS');
  if (o.template !== undefined && o.prompt === undefined) throw new Error('--template applies to --prompt only');
  if (o.system !== undefined && o.prompt === undefined) throw new Error('--system applies to --prompt only');
  if (o.pad && o.crop) throw new Error('give at most one of --pad and --crop');
  if (o.stream && o.json) throw new Error('give at most one of --stream and --json');
  const { sampling, seed } = samplingFlags(o);
  const maxNewTokens = maxNewTokensFlag(o);
  if (o.kvCache !== 'f32' && o.kvCache !== 'f16') throw new Error(`--kv-cache must be f32 or f16, got ${JSON.stringify(o.kvCache)}`);
  const inputIds = o.inputIds !== undefined ? parseInputIds(o.inputIds) : null;
  const plainGreedy = sampling.temperature === 0 && sampling.repetitionPenalty === undefined;

  const t0 = performance.now();
  const loaded = loadLlava(o.model, { visionTower: o.visionTower, mmproj: o.mmproj, quant: quantFlag(o) });
  const loadMs = performance.now() - t0;
  let pixelValues: Tensor | null = null;
  if (o.image.length > 0) {
    const prep = modelPreprocessing(loaded, o.pad ? 'pad' : o.crop ? 'crop' : undefined);
    pixelValues = await preprocessImages(o.image, prep.options, loaded.config.vision); // (M, C, S, S)
  }

  if (hasTokenizer(o.model) && o.dump === undefined) {
    // Sampling path: pieces of released text as they come.
    const request = {
      ...(inputIds ? { inputIds } : { prompt: o.prompt, template: o.template, system: o.system }),
      ...sampling, seed, maxNewTokens, cacheDtype: o.kvCache as 'f32' | 'f16',
    };
    const ids = requestIds(loaded, request, pixelValues ? pixelValues.shape[0]! : 0).ids;
    const it = generateTokens(loaded, request, pixelValues);
    const outputIds: number[] = [];
    let text = '';
    for (let r = it.next(); ; r = it.next()) {
      if (r.done) {
        debug('timing', `load ${ms(loadMs)}, prefill of ${r.value.promptPositions} positions (vision tower included) ${ms(r.value.prefillMs)}, ` +
          `${r.value.newTokens} token(s) ${ms(r.value.decodeMs)}, finished by ${r.value.finish}`);
        break;
      }
      outputIds.push(r.value.tokenId);
      text += r.value.text;
      if (o.stream) process.stdout.write(r.value.text);
    }
    if (o.json) process.stdout.write(JSON.stringify({ input_ids: ids, output_ids: outputIds, text: text.trim() }) + '\n');
    else process.stdout.write(o.stream ? '\n' : `${text.trim()}\n`);
    return;
  }

  // Plain greedy path: no tokenizer (ids in, ids out) or --dump (the prefill tensors).
  if (!plainGreedy || sampling.topP !== undefined || sampling.topK !== undefined || sampling.minP !== undefined) {
    throw new Error(o.dump !== undefined
      ? '--dump runs plain greedy decoding: give --temperature 0 and no sampling flags'
      : `${o.model} has no tokenizer (tokenizer.model or tokenizer.json): only plain greedy decoding runs there, give --temperature 0 and no sampling flags`);
  }
  const ids = inputIds ?? promptIds(o.model, o.prompt!, o.template, pixelValues ? pixelValues.shape[0]! : 0);
  const r = greedyGenerate(loaded.model, {
    inputIds: ids,
    pixelValues,
    maxNewTokens: maxNewTokens ?? DEFAULTS.maxNewTokens,
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
