/**
 * Greedy decoding with a KV cache: one prefill over the merged prompt (images consumed there only), then
 * one position per step, each new token embedded with `embed_tokens`; stop at an EOS id (kept in the
 * output) or after `maxNewTokens`. The prefix is never recomputed. Ties go to the lowest id, as
 * torch.argmax. The prefill intermediates are returned for dumps and parity checks.
 *
 * Not here: sampling, stop strings, streaming text (a later generation module).
 */
import { noGrad, tensor } from '../../engine/index.js';
import type { Tensor } from '../../engine/tensor.js';
import { LlamaForCausalLM } from '../llama/model.js';
import type { LlavaModel } from './model.js';

export interface GreedyOptions {
  inputIds: readonly number[];
  /** [M, C, S, S], or null for a text-only prompt. */
  pixelValues: Tensor | null;
  maxNewTokens: number;
  /** Defaults to the text config's eos ids. */
  eosTokenIds?: readonly number[];
  /** KV cache storage (default f32). */
  cacheDtype?: 'f32' | 'f16';
  /** Keep logits of every prefill position (for dumps); otherwise only the last. */
  allPrefillLogits?: boolean;
}

export interface GreedyResult {
  /** New tokens only, EOS included when produced. */
  outputIds: number[];
  imageFeaturesSelected: Tensor | null;
  imageFeaturesProjected: Tensor | null;
  inputsEmbeds: Tensor;
  /** Prefill logits [1, L, V] (or [1, 1, V] without allPrefillLogits). */
  prefillLogits: Tensor;
  /** Wall milliseconds: vision tower + projector, LLM prefill, and all decode steps. */
  timings: { imageMs: number; prefillMs: number; decodeMs: number };
}

/** Shared by the single and batched loops. */
export function checkMaxNewTokens(n: number): void {
  if (!Number.isInteger(n) || n < 0) throw new Error(`max new tokens must be a non-negative integer, got ${n}`);
}

export function greedyGenerate(model: LlavaModel, opts: GreedyOptions): GreedyResult {
  checkMaxNewTokens(opts.maxNewTokens);
  const eos = new Set(opts.eosTokenIds ?? model.config.text.eosTokenIds);
  return noGrad(() => {
    const t0 = performance.now();
    const feats = opts.pixelValues ? model.imageFeatures(opts.pixelValues) : null;
    const t1 = performance.now();
    const inputsEmbeds = model.inputsEmbeds(opts.inputIds, feats?.projected ?? null);
    const lm = model.languageModel;
    const cache = lm.newCache(inputsEmbeds.shape[1]! + Math.max(1, opts.maxNewTokens), { dtype: opts.cacheDtype ?? 'f32' });
    const prefill = lm.forward(inputsEmbeds, { cache, logits: opts.allPrefillLogits ? 'all' : 'last' });
    const t2 = performance.now();
    const outputIds: number[] = [];
    let logits = prefill.logits!;
    while (outputIds.length < opts.maxNewTokens) {
      const next = LlamaForCausalLM.argmaxLast(logits)[0]!;
      outputIds.push(next);
      if (eos.has(next) || outputIds.length === opts.maxNewTokens) break;
      logits = lm.forward(lm.embed(tensor([[next]], { dtype: 'i32' })), { cache, logits: 'last' }).logits!;
    }
    return {
      outputIds,
      imageFeaturesSelected: feats?.selected ?? null,
      imageFeaturesProjected: feats?.projected ?? null,
      inputsEmbeds,
      prefillLogits: prefill.logits!,
      timings: { imageMs: t1 - t0, prefillMs: t2 - t1, decodeMs: performance.now() - t2 },
    };
  });
}
