/**
 * The public generation options and pieces (the `generate()` contract), their defaults (LLaVA's CLI:
 * temperature 0.2, 512 new tokens; transformers' top-k 50 when sampling) and the serializable request that
 * crosses to the model's worker thread (no signal or callbacks in it).
 *
 * Also the light checks of a batch's shape (kept here so that the public client does not load model code).
 *
 * Not here: validation of the sampling numbers (sampling.ts) and of images (images.ts).
 */
import type { ChatMessage } from '../tokenizer/index.js';
import type { RgbImage } from '../vision/index.js';
import type { SamplingOptions } from './sampling.js';

/** An image: a file path, the encoded file's bytes, or a decoded 8-bit RGB image. */
export type ImageInput = string | Uint8Array | RgbImage;

/** Prefill progress: `stage` runs layer by layer; `fraction` covers both stages. */
export interface PrefillProgress {
  stage: 'vision' | 'language';
  layer: number;
  layers: number;
  fraction: number;
}

export interface GenerateOptions extends SamplingOptions {
  /** One user message (rendered with the chat template). Exactly one of prompt, messages, inputIds. */
  prompt?: string;
  /** A conversation (`{role, content}`; `<image>` places images, else they precede the first user text). */
  messages?: ChatMessage[];
  /** Prompt ids as given (−200 or the image token id per image): no template, no tokenizer needed for it. */
  inputIds?: number[];
  images?: ImageInput[];
  /** Chat template name (`hf`: the folder's Jinja template); default chosen from the model folder. */
  template?: string;
  system?: string;
  /** Default 512, reduced to what the context leaves; an explicit value that does not fit is an error. */
  maxNewTokens?: number;
  /**
   * Positions the KV cache is allocated for, prompt and reply together (llama.cpp's n_ctx), at most
   * max_position_embeddings. Default: just what the prompt and the new-token budget need.
   */
  contextLength?: number;
  /** KV cache storage (default f32; f16 halves its memory). */
  cacheDtype?: 'f32' | 'f16';
  /** Seed of the sampling draws; default a random one. */
  seed?: number;
  /** Stop strings (never emitted); added to the template's own (`###` for v0, `<|im_end|>` for MPT). */
  stop?: string[];
  /** Checked before every layer of the prefill and every decoding step. */
  signal?: AbortSignal;
  onPrefillProgress?: (p: PrefillProgress) => void;
}

/** One step of the reply: the token and the text it released (often '', e.g. while a stop string may match). */
export interface Piece {
  text: string;
  tokenId: number;
}

export const DEFAULTS = { temperature: 0.2, topK: 50, maxNewTokens: 512 } as const;

/** Why the reply ended. */
export type FinishReason = 'eos' | 'stop' | 'length';

/** What the worker receives for one generation (images already preprocessed there). */
export type GenerateRequest = Omit<GenerateOptions, 'signal' | 'onPrefillProgress'>;

/** One request of a batch: a prompt with its images and its own sampling, stop strings, seed and length. */
export type BatchRequest = Omit<GenerateOptions, 'signal' | 'onPrefillProgress' | 'cacheDtype' | 'contextLength'>;

/** What applies to a whole batch. */
export interface BatchOptions {
  /** Checked after every layer of the (one, shared) prefill and every decoding step. */
  signal?: AbortSignal;
  /** Progress of the shared prefill: the vision tower over every request's images, then the decoder. */
  onPrefillProgress?: (p: PrefillProgress) => void;
  /** KV cache storage (default f32). */
  cacheDtype?: 'f32' | 'f16';
}

/** A piece of request `index`'s reply. */
export interface BatchPiece extends Piece {
  index: number;
}

/** `e` with its message prefixed by the request it concerns (an abort is left as it is). */
export function requestError(index: number, e: unknown): unknown {
  if (e instanceof Error && e.name !== 'AbortError') e.message = `request ${index}: ${e.message}`;
  return e;
}

/** `f()`, with an error's message prefixed by the request it concerns. */
export function forRequest<T>(index: number, f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw requestError(index, e);
  }
}

/** The requests checked as a batch (a non-empty array of objects). */
export function checkBatch(requests: unknown): asserts requests is BatchRequest[] {
  if (!Array.isArray(requests) || requests.length === 0) throw new Error('a batch needs a non-empty array of requests');
  const bad = requests.findIndex((r) => typeof r !== 'object' || r === null || Array.isArray(r));
  if (bad >= 0) throw new Error(`request ${bad}: expected an object with prompt, messages or inputIds, got ${JSON.stringify(requests[bad])}`);
}
