/**
 * Batched greedy decoding of several prompts at once, each with its own images (in order) or none: the
 * images of all rows go through the vision tower in one call, every row is merged on its own, and the
 * merged rows are left-padded into one prefill with an attention mask (HF's padding_side "left"). Each
 * step then feeds one token per row; the mask grows by a real column for every row, and rotary
 * positions count each row's real tokens only, so a row's tokens and logits are those of its unbatched
 * run (see greedy.ts).
 *
 * Rows finish independently: a row's output stops at its EOS (kept) and is frozen from then on, while
 * the row keeps being fed a pad id so that the batch stays rectangular (as HF generate does with
 * pad_token_id). The loop ends when every row is finished or after `maxNewTokens` steps.
 *
 * Not here: sampling, stop strings, streaming (the generation module); the single-prompt loop (greedy.ts).
 */
import { noGrad, tensor } from '../../engine/index.js';
import { cat, narrow } from '../../engine/ops/index.js';
import type { Tensor } from '../../engine/tensor.js';
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
function featuresPerPrompt(model: LlavaModel, prompts: readonly BatchPrompt[]): (Tensor | null)[] {
  const given = prompts.flatMap((p) => (p.pixelValues ? [p.pixelValues] : []));
  if (given.length === 0) return prompts.map(() => null);
  const projected = model.imageFeatures(given.length === 1 ? given[0]! : cat(given, 0)).projected; // (ΣM, N, D)
  let at = 0;
  return prompts.map((p) => {
    if (!p.pixelValues) return null;
    const m = p.pixelValues.shape[0]!;
    at += m;
    return narrow(projected, 0, at - m, m); // (M_b, N, D)
  });
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
  return noGrad(() => {
    const t0 = performance.now();
    const projected = featuresPerPrompt(model, opts.prompts);
    const t1 = performance.now();
    const batch = model.inputsEmbedsBatch(opts.prompts.map((p, b) => ({ ids: p.inputIds, projected: projected[b]! })));
    const [B, L] = batch.inputsEmbeds.shape as [number, number, number];
    const lm = model.languageModel;
    const cache = lm.newCache(L + Math.max(1, opts.maxNewTokens), { batch: B, dtype: opts.cacheDtype ?? 'f32' });
    const prefill = lm.forward(batch.inputsEmbeds, { cache, attentionMask: batch.attentionMask, logits: opts.allPrefillLogits ? 'all' : 'last' });
    const t2 = performance.now();
    const flat = batch.attentionMask.toArray();
    const mask = Array.from({ length: B }, (_, b) => flat.slice(b * L, (b + 1) * L)); // grows by one column per step
    const outputIds: number[][] = Array.from({ length: B }, () => []);
    const done = new Array<boolean>(B).fill(opts.maxNewTokens === 0);
    let logits = prefill.logits!;
    for (let step = 1; step <= opts.maxNewTokens; step++) {
      const next = LlamaForCausalLM.argmaxLast(logits); // (B)
      const feed = next.map((id, b) => (done[b] ? pad : id)); // a row's EOS is still fed once, as HF does
      next.forEach((id, b) => {
        if (done[b]) return;
        outputIds[b]!.push(id);
        if (eos.has(id)) done[b] = true;
      });
      if (step === opts.maxNewTokens || done.every(Boolean)) break;
      mask.forEach((row) => row.push(1));
      const x = lm.embed(tensor(feed.map((id) => [id]), { dtype: 'i32' })); // (B, 1, D)
      logits = lm.forward(x, { cache, attentionMask: tensor(mask, { dtype: 'bool' }), logits: 'last' }).logits!;
    }
    return {
      outputIds,
      inputsEmbeds: batch.inputsEmbeds,
      attentionMask: batch.attentionMask,
      prefillLogits: prefill.logits!,
      timings: { imageMs: t1 - t0, prefillMs: t2 - t1, decodeMs: performance.now() - t2 },
    };
  });
}
