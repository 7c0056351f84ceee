/**
 * Batched generation, synchronous and in-thread (the worker runs it for `generateBatch`, `llava run
 * --batch` runs it directly): several requests, each with its own prompt, images, sampling options, seed,
 * stop strings and length, decoded together in one left-padded batch (models/llava/greedy-batch.ts's
 * BatchDecoder: one vision-tower call over all images, one prefill with an attention mask, one forward per
 * step). Every row chooses its tokens through core.ts's ReplyDecoder — the same sampling order, its own
 * seeded RNG, EOS, stop strings held back — so a row produces exactly what its request produces alone with
 * `generate` (its logits equal the unbatched ones to rounding; bit for bit on the reference backend).
 *
 * Rows finish independently; a finished row is fed a pad id (the first EOS id) until the batch ends. Each
 * step yields the pieces of the rows still running, in request order.
 *
 * New-token budgets count the padded length: a row's default (512) shrinks to what the context leaves
 * after the longest merged prompt, and an explicit `maxNewTokens` must fit there.
 *
 * Not here: threads and messages (worker.ts, client.ts), the token choice itself (core.ts, sampling.ts).
 */
import type { Tensor } from '../engine/tensor.js';
import type { LoadedLlava } from '../models/llava/load.js';
import { BatchDecoder } from '../models/llava/greedy-batch.js';
import { abortError, newTokenBudget, prepareRequest, progressReporter, ReplyDecoder, type CoreHooks, type PreparedRequest } from './core.js';
import { checkBatch, forRequest, type BatchPiece, type BatchRequest, type FinishReason } from './options.js';

/** What a batch reports when it ends. */
export interface BatchSummary {
  /** Per request, in order: why its reply ended, its merged prompt length and its new tokens. */
  rows: { finish: FinishReason; promptPositions: number; newTokens: number }[];
  /** Length of the left-padded prefill (the longest merged prompt). */
  paddedPositions: number;
  prefillMs: number;
  decodeMs: number;
}

/**
 * Runs a batch. `pixelValues[i]` ([M, C, S, S] or null) must match the images request i's prompt places.
 * Yields each new token's piece tagged with its request's index; returns the summary.
 */
export function* generateBatchTokens(
  loaded: LoadedLlava, requests: readonly BatchRequest[], pixelValues: readonly (Tensor | null)[],
  hooks: CoreHooks & { cacheDtype?: 'f32' | 'f16' } = {},
): Generator<BatchPiece, BatchSummary> {
  checkBatch(requests);
  if (pixelValues.length !== requests.length) throw new Error(`batch: ${pixelValues.length} image sets for ${requests.length} requests`);
  const prepared: PreparedRequest[] = requests.map((r, i) => forRequest(i, () => {
    const images = pixelValues[i] ? pixelValues[i]!.shape[0]! : 0;
    const p = prepareRequest(loaded, r, images);
    loaded.model.plan(p.ids, images); // placeholders against images, before any compute
    return p;
  }));
  const check = () => {
    if (hooks.aborted?.()) throw abortError();
  };
  const progress = progressReporter(loaded, pixelValues.some((p) => p !== null), hooks, check);
  const context = loaded.model.config.text.maxPositions;
  let budgets: number[] = [];

  check();
  const t0 = performance.now();
  const dec = new BatchDecoder(loaded.model, {
    prompts: prepared.map((p, i) => ({ inputIds: p.ids, pixelValues: pixelValues[i]! })),
    maxNewTokens: (L) => {
      budgets = requests.map((r, i) => forRequest(i, () => {
        try {
          return newTokenBudget(r.maxNewTokens, L, context);
        } catch (e) {
          (e as Error).message += ` (the batch is left-padded to its longest prompt, ${L} positions)`;
          throw e;
        }
      }));
      return Math.max(...budgets);
    },
    cacheDtype: hooks.cacheDtype,
    onLayer: progress,
  });
  const t1 = performance.now();
  const replies = prepared.map((p, i) => new ReplyDecoder(loaded, p, budgets[i]!));
  const pad = loaded.eosTokenIds[0] ?? 0;
  while (replies.some((r) => !r.done)) {
    check();
    const feed: number[] = [];
    for (let b = 0; b < replies.length; b++) {
      const reply = replies[b]!;
      if (reply.done) {
        feed.push(pad);
        continue;
      }
      const piece = reply.next(dec.rowLogits(b));
      feed.push(piece.tokenId);
      yield { index: b, ...piece };
    }
    if (replies.every((r) => r.done)) break;
    check();
    dec.step(feed, check);
  }
  return {
    rows: replies.map((r, b) => ({ finish: r.finish, promptPositions: dec.lengths[b]!, newTokens: r.ids.length })),
    paddedPositions: dec.paddedLength,
    prefillMs: t1 - t0,
    decodeMs: performance.now() - t1,
  };
}
