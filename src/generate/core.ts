/**
 * The decoding loop behind `generate()`, synchronous and in-thread (the worker runs it; tests may call it
 * directly): prompt ids, one prefill over the merged sequence with the KV cache (image features computed
 * there only), then one position per step, each token chosen by sampling.ts from the last logits row and
 * turned into released text by stop.ts. Ends on an EOS id (its piece carries whatever text the detokenizer
 * still held), on a stop string (never emitted), or after `maxNewTokens`.
 *
 * The repetition penalty sees the generated ids only: the reference calls transformers' generate with
 * inputs_embeds, so its `input_ids` start empty. Abort and progress hooks run after every layer of the
 * vision tower and the decoder and between steps; an abort throws an AbortError and leaves nothing behind
 * (each generation has its own cache).
 *
 * Not here: threads and messages (worker.ts, client.ts), image decoding (images.ts).
 */
import { noGrad, tensor } from '../engine/index.js';
import { Rng } from '../engine/random.js';
import type { Tensor } from '../engine/tensor.js';
import type { LoadedLlava } from '../models/llava/load.js';
import type { LlamaForCausalLM } from '../models/llama/model.js';
import { DEFAULTS, type FinishReason, type GenerateRequest, type Piece, type PrefillProgress } from './options.js';
import { buildPrompt, folderTokenizer } from './prompt.js';
import { sampleToken, validateSampling } from './sampling.js';
import { ReplyText } from './chat-text.js';

export interface CoreHooks {
  /** True once the caller gave up: the loop throws an AbortError at the next check. */
  aborted?: () => boolean;
  progress?: (p: PrefillProgress) => void;
}

/** What the loop reports when it ends. */
export interface GenerationSummary {
  finish: FinishReason;
  promptPositions: number;
  newTokens: number;
  prefillMs: number;
  decodeMs: number;
}

export function abortError(): Error {
  const e = new Error('generation aborted');
  e.name = 'AbortError';
  return e;
}

/** The prompt ids and template stop strings for a request. */
export function requestIds(loaded: LoadedLlava, req: GenerateRequest, images: number): { ids: number[]; stop: string[] } {
  const given = [req.prompt, req.messages, req.inputIds].filter((x) => x !== undefined).length;
  if (given !== 1) throw new Error('give exactly one of prompt, messages and inputIds');
  if (req.inputIds) {
    if (req.template !== undefined || req.system !== undefined) throw new Error('template and system apply to prompt and messages, not to inputIds');
    return { ids: [...req.inputIds], stop: [] };
  }
  const built = buildPrompt(loaded.dir, { prompt: req.prompt, messages: req.messages, system: req.system, template: req.template, images });
  return { ids: built.ids, stop: built.stop };
}

/**
 * New-token budget: the request's (default 512) within what the context leaves after `positions`
 * prompt positions. An explicit request that does not fit is an error; the default shrinks to fit.
 */
export function newTokenBudget(requested: number | undefined, positions: number, context: number, contextName = 'max_position_embeddings'): number {
  if (requested !== undefined && !(Number.isInteger(requested) && requested >= 0)) {
    throw new Error(`maxNewTokens must be a non-negative integer, got ${JSON.stringify(requested)}`);
  }
  const room = context - positions;
  const whose = contextName === 'max_position_embeddings' ? "the model's" : 'the requested';
  if (room <= 0) {
    throw new Error(`the prompt takes ${positions} positions (text and image features) but ${whose} context is ${context} (${contextName}): shorten the prompt`);
  }
  if (requested === undefined) return Math.min(DEFAULTS.maxNewTokens, room);
  if (requested > room) {
    throw new Error(`maxNewTokens ${requested} does not fit: the prompt takes ${positions} of ${whose} ${context} positions (${contextName}), leaving room for ${room} new tokens`);
  }
  return requested;
}

/** A requested context must be a positive integer within max_position_embeddings. */
function checkContextLength(ctx: number | undefined, maxPositions: number): void {
  if (ctx === undefined) return;
  if (!(Number.isInteger(ctx) && ctx > 0 && ctx <= maxPositions)) {
    throw new Error(`contextLength must be an integer from 1 to the model's max_position_embeddings ${maxPositions}, got ${JSON.stringify(ctx)}`);
  }
}

/** Last-position logits [1, T, V] → one Float32Array row (a view when the storage allows). */
export function lastRow(logits: Tensor): Float32Array {
  const [, T, V] = logits.shape as [number, number, number];
  if (logits.dtype === 'f32' && logits.isContiguous()) {
    const start = logits.offset + (T - 1) * V;
    return (logits.data as Float32Array).subarray(start, start + V);
  }
  return Float32Array.from(logits.toArray().slice((T - 1) * V, T * V));
}

/**
 * Runs one generation. `pixelValues` [M, C, S, S] (or null) must match the images the prompt places.
 * Yields one piece per new token; returns the summary.
 */
export function* generateTokens(
  loaded: LoadedLlava, req: GenerateRequest, pixelValues: Tensor | null, hooks: CoreHooks = {},
): Generator<Piece, GenerationSummary> {
  validateSampling(req);
  const { model } = loaded;
  checkContextLength(req.contextLength, model.config.text.maxPositions);
  const lm: LlamaForCausalLM = model.languageModel;
  const images = pixelValues ? pixelValues.shape[0]! : 0;
  const { ids, stop } = requestIds(loaded, req, images);
  if (req.stop !== undefined && (!Array.isArray(req.stop) || req.stop.some((s) => typeof s !== 'string' || s.length === 0))) {
    throw new Error(`stop must be an array of non-empty strings, got ${JSON.stringify(req.stop)}`);
  }
  const tok = folderTokenizer(loaded.dir);
  if (!tok) throw new Error(`${loaded.dir} has no tokenizer (tokenizer.model or tokenizer.json): generated text cannot be decoded`);
  const reply = new ReplyText(tok, [...stop, ...(req.stop ?? [])]);
  const eos = new Set(loaded.eosTokenIds);
  const sampling = { ...req, temperature: req.temperature ?? DEFAULTS.temperature, topK: req.topK ?? DEFAULTS.topK };
  if (req.seed !== undefined && !Number.isInteger(req.seed)) throw new Error(`seed must be an integer, got ${JSON.stringify(req.seed)}`);
  const rng = new Rng(req.seed ?? crypto.getRandomValues(new Uint32Array(1))[0]!);

  const check = () => {
    if (hooks.aborted?.()) throw abortError();
  };
  const text = model.config.text;
  const visionLayers = pixelValues ? Math.max(...model.config.featureLayers) : 0;
  const totalLayers = visionLayers + text.numLayers;
  const progress = (stage: PrefillProgress['stage'], layer: number, layers: number) => {
    check();
    const done = (stage === 'vision' ? 0 : visionLayers) + layer;
    hooks.progress?.({ stage, layer, layers, fraction: done / totalLayers });
  };

  check();
  const t0 = performance.now();
  const prefill = noGrad(() => {
    const feats = pixelValues ? model.imageFeatures(pixelValues, (d, n) => progress('vision', d, n)) : null;
    const embeds = model.inputsEmbeds(ids, feats?.projected ?? null); // (1, L, D)
    const L = embeds.shape[1]!;
    const ctx = req.contextLength;
    const maxNew = newTokenBudget(req.maxNewTokens, L, ctx ?? text.maxPositions, ctx === undefined ? 'max_position_embeddings' : 'contextLength');
    const cache = lm.newCache(ctx ?? L + Math.max(1, maxNew), { dtype: req.cacheDtype ?? 'f32' });
    const out = lm.forward(embeds, { cache, logits: 'last', onLayer: (d, n) => progress('language', d, n) });
    return { L, maxNew, cache, logits: out.logits! };
  });
  const t1 = performance.now();
  const { cache, maxNew } = prefill;
  let logits = prefill.logits;
  const seen: number[] = [];
  let finish: FinishReason = 'length';
  while (seen.length < maxNew) {
    check();
    const id = sampleToken(lastRow(logits), sampling, rng, seen);
    seen.push(id);
    if (eos.has(id)) {
      finish = 'eos';
      yield { text: reply.finish(), tokenId: id };
      break;
    }
    let piece = reply.push(id).text;
    if (reply.stop !== null) {
      finish = 'stop';
      yield { text: piece, tokenId: id };
      break;
    }
    if (seen.length === maxNew) {
      piece += reply.finish();
      if (reply.stop !== null) finish = 'stop'; // completed by the detokenizer's final flush
      yield { text: piece, tokenId: id };
      break;
    }
    yield { text: piece, tokenId: id };
    check();
    logits = noGrad(() => lm.forward(lm.embed(tensor([[id]], { dtype: 'i32' })), { cache, logits: 'last', onLayer: check }).logits!);
  }
  return { finish, promptPositions: prefill.L, newTokens: seen.length, prefillMs: t1 - t0, decodeMs: performance.now() - t1 };
}
