/**
 * Batched decoding of several prompts at once, each with its own images (in order) or none: the images of
 * all rows go through the vision tower in one call, every row is merged on its own, and the merged rows
 * are left-padded into one prefill with an attention mask (HF's padding_side "left"). Each step then feeds
 * one token per row; the mask grows by a real column for every row, and rotary positions count each row's
 * real tokens only, so a row's logits are those of its unbatched run (see greedy.ts).
 *
 * `BatchDecoder` is that mechanism with the token choice left to the caller (greedy here, sampling with
 * stop strings in the generation module): it exposes each row's last logits and takes one id per row per
 * step. Rows finish independently: a finished row keeps being fed a pad id so that the batch stays
 * rectangular (as HF generate does with pad_token_id); its logits are ignored from then on.
 *
 * `greedyGenerateBatch`: a row's output stops at its EOS (kept); the loop ends when every row is finished
 * or after `maxNewTokens` steps.
 *
 * Not here: sampling, stop strings, streaming (the generation module); the single-prompt loop (greedy.ts).
 */
import { noGrad, tensor } from '../../engine/index.js';
import { cat, narrow } from '../../engine/ops/index.js';
import type { Tensor } from '../../engine/tensor.js';
import type { KVCache } from '../../nn/kv-cache.js';
import { LlamaForCausalLM } from '../llama/model.js';
import { checkMaxNewTokens } from './greedy.js';
import type { LlavaModel } from './model.js';

export interface BatchPrompt {
  inputIds: readonly number[];
  /** [M, C, S, S] for the M images of this prompt, in placeholder order; null for a text-only prompt. */
  pixelValues: Tensor | null;
}

export interface GreedyBatchOptions {
  prompts: readonly BatchPrompt[];
  maxNewTokens: number;
  /** Defaults to the text config's eos ids. */
  eosTokenIds?: readonly number[];
  /** Fed to finished rows; its value never reaches an output (default: the first EOS id, else 0). */
  padTokenId?: number;
  /** KV cache storage (default f32). */
  cacheDtype?: 'f32' | 'f16';
  /** Keep logits of every prefill column (for comparisons); otherwise only the last. */
  allPrefillLogits?: boolean;
}

export interface GreedyBatchResult {
  /** New tokens of each prompt, EOS included when produced. */
  outputIds: number[][];
  /** Left-padded prefill embeddings [B, L, D] and their mask bool [B, L]. */
  inputsEmbeds: Tensor;
  attentionMask: Tensor;
  /** Prefill logits [B, L, V] (or [B, 1, V] without allPrefillLogits); pad columns hold garbage. */
  prefillLogits: Tensor;
  /** Wall milliseconds: vision tower + projector, LLM prefill, and all decode steps. */
  timings: { imageMs: number; prefillMs: number; decodeMs: number };
}

/** Projected features of every prompt's images from one tower call: [M_b, N, D] per prompt, or null. */
function featuresPerPrompt(model: LlavaModel, prompts: readonly BatchPrompt[], onLayer?: (done: number, total: number) => void): (Tensor | null)[] {
  const given = prompts.flatMap((p) => (p.pixelValues ? [p.pixelValues] : []));
  if (given.length === 0) return prompts.map(() => null);
  const projected = model.imageFeatures(given.length === 1 ? given[0]! : cat(given, 0), onLayer).projected; // (ΣM, N, D)
  let at = 0;
  return prompts.map((p) => {
    if (!p.pixelValues) return null;
    const m = p.pixelValues.shape[0]!;
    at += m;
    return narrow(projected, 0, at - m, m); // (M_b, N, D)
  });
}

export interface BatchDecoderOptions {
  prompts: readonly BatchPrompt[];
  /**
   * Most steps after the prefill (sizes the KV cache: padded length + this must fit the context); a
   * function gets the padded prefill length once the rows are merged (after the vision tower) and returns it.
   */
  maxNewTokens: number | ((paddedLength: number) => number);
  /** KV cache storage (default f32). */
  cacheDtype?: 'f32' | 'f16';
  /** Keep logits of every prefill column (for comparisons); otherwise only the last. */
  allPrefillLogits?: boolean;
  /**
   * Called after each vision-tower layer (`vision`, once for all rows' images) and each decoder layer of the
   * prefill (`language`) with (layers done, layers); may throw to abandon the prefill.
   */
  onLayer?: (stage: 'vision' | 'language', done: number, total: number) => void;
}

/** The left-padded batch after its prefill; `step` advances every row by one token. */
export class BatchDecoder {
  /** Left-padded prefill embeddings [B, L, D] and their mask bool [B, L]. */
  readonly inputsEmbeds: Tensor;
  readonly attentionMask: Tensor;
  /** Merged (unpadded) length of each row. */
  readonly lengths: readonly number[];
  /** Prefill logits [B, L, V] (or [B, 1, V] without allPrefillLogits); pad columns hold garbage. */
  readonly prefillLogits: Tensor;
  /** Wall milliseconds of the vision tower + projector and of the LLM prefill. */
  readonly timings: { imageMs: number; prefillMs: number };
  /** Most steps the cache holds. */
  readonly maxSteps: number;
  private readonly cache: KVCache;
  private readonly mask: number[][];
  private last: Tensor;
  private steps = 0;

  constructor(private readonly model: LlavaModel, private readonly opts: BatchDecoderOptions) {
    if (typeof opts.maxNewTokens === 'number') checkMaxNewTokens(opts.maxNewTokens);
    let maxSteps = 0;
    const r = noGrad(() => {
      const t0 = performance.now();
      const projected = featuresPerPrompt(model, opts.prompts, (d, n) => opts.onLayer?.('vision', d, n));
      const t1 = performance.now();
      const batch = model.inputsEmbedsBatch(opts.prompts.map((p, b) => ({ ids: p.inputIds, projected: projected[b]! })));
      const [B, L] = batch.inputsEmbeds.shape as [number, number, number];
      const lm = model.languageModel;
      maxSteps = typeof opts.maxNewTokens === 'number' ? opts.maxNewTokens : opts.maxNewTokens(L);
      checkMaxNewTokens(maxSteps);
      const cache = lm.newCache(L + Math.max(1, maxSteps), { batch: B, dtype: opts.cacheDtype ?? 'f32' });
      const prefill = lm.forward(batch.inputsEmbeds, {
        cache, attentionMask: batch.attentionMask, logits: opts.allPrefillLogits ? 'all' : 'last', onLayer: (d, n) => opts.onLayer?.('language', d, n),
      });
      return { batch, cache, prefill, L, B, t0, t1, t2: performance.now() };
    });
    this.maxSteps = maxSteps;
    this.inputsEmbeds = r.batch.inputsEmbeds;
    this.attentionMask = r.batch.attentionMask;
    this.lengths = r.batch.lengths;
    this.cache = r.cache;
    this.prefillLogits = r.prefill.logits!;
    this.last = opts.allPrefillLogits ? narrow(this.prefillLogits, 1, r.L - 1, 1) : this.prefillLogits;
    this.timings = { imageMs: r.t1 - r.t0, prefillMs: r.t2 - r.t1 };
    const flat = r.batch.attentionMask.toArray();
    this.mask = Array.from({ length: r.B }, (_, b) => flat.slice(b * r.L, (b + 1) * r.L)); // grows by one column per step
  }

  /** Rows in the batch. */
  get size(): number {
    return this.opts.prompts.length;
  }

  /** Padded prefill length (every row's first new token sits at this column). */
  get paddedLength(): number {
    return this.mask[0]!.length - this.steps;
  }

  /** Logits at the latest position of every row [B, 1, V]. */
  get logits(): Tensor {
    return this.last;
  }

  /** Row b's logits at its latest position (a view when the storage allows; do not keep it across steps). */
  rowLogits(b: number): Float32Array {
    const V = this.last.shape[2]!;
    const t = narrow(this.last, 0, b, 1);
    if (t.dtype === 'f32' && t.isContiguous()) return (t.data as Float32Array).subarray(t.offset, t.offset + V);
    return Float32Array.from(t.toArray());
  }

  /**
   * Feeds one id per row (a finished row gets the caller's pad id) and computes the next logits.
   * `onLayer` runs after each decoder layer and may throw to abandon the step.
   */
  step(ids: readonly number[], onLayer?: (done: number, total: number) => void): void {
    const B = this.size;
    if (ids.length !== B) throw new Error(`batch step: ${ids.length} ids for ${B} rows`);
    if (this.steps >= this.maxSteps) throw new Error(`batch step: the cache holds ${this.maxSteps} new positions`);
    const lm = this.model.languageModel;
    const V = this.model.config.text.vocabSize;
    const bad = ids.findIndex((id) => !Number.isInteger(id) || id < 0 || id >= V);
    if (bad >= 0) throw new Error(`batch step: row ${bad} id ${ids[bad]} is not a token id of this model (vocabulary 0..${V - 1})`);
    this.last = noGrad(() => {
      const x = lm.embed(tensor(ids.map((id) => [id]), { dtype: 'i32' })); // (B, 1, D)
      const mask = tensor(this.mask.map((row) => [...row, 1]), { dtype: 'bool' }); // (B, past + 1)
      return lm.forward(x, { cache: this.cache, attentionMask: mask, logits: 'last', onLayer }).logits!;
    });
    this.mask.forEach((row) => row.push(1));
    this.steps++;
  }
}

export function greedyGenerateBatch(model: LlavaModel, opts: GreedyBatchOptions): GreedyBatchResult {
  checkMaxNewTokens(opts.maxNewTokens);
  const eosIds = opts.eosTokenIds ?? model.config.text.eosTokenIds;
  const eos = new Set(eosIds);
  const pad = opts.padTokenId ?? eosIds[0] ?? 0;
  const V = model.config.text.vocabSize;
  if (!Number.isInteger(pad) || pad < 0 || pad >= V) {
    throw new Error(`batch greedy: pad token id ${pad} is not a token id of this model (vocabulary 0..${V - 1})`);
  }
  const dec = new BatchDecoder(model, opts);
  const t2 = performance.now();
  const B = dec.size;
  const outputIds: number[][] = Array.from({ length: B }, () => []);
  const done = new Array<boolean>(B).fill(opts.maxNewTokens === 0);
  for (let step = 1; step <= opts.maxNewTokens; step++) {
    const next = noGrad(() => LlamaForCausalLM.argmaxLast(dec.logits)); // (B)
    const feed = next.map((id, b) => (done[b] ? pad : id)); // a row's EOS is still fed once, as HF does
    next.forEach((id, b) => {
      if (done[b]) return;
      outputIds[b]!.push(id);
      if (eos.has(id)) done[b] = true;
    });
    if (step === opts.maxNewTokens || done.every(Boolean)) break;
    dec.step(feed);
  }
  return {
    outputIds,
    inputsEmbeds: dec.inputsEmbeds,
    attentionMask: dec.attentionMask,
    prefillLogits: dec.prefillLogits,
    timings: { ...dec.timings, decodeMs: performance.now() - t2 },
  };
}
