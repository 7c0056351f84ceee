/**
 * Next-token choice from one logits row, as pure functions in Hugging Face's logits-processor order:
 * repetition penalty (a processor: applies to greedy decoding too), then the sampling warpers temperature,
 * top-k, top-p, min-p, then a seeded categorical draw. Temperature 0 means greedy: argmax after the
 * repetition penalty, lowest id on ties (torch.argmax).
 *
 * Filters follow transformers' semantics exactly where they differ from the textbook ones: top-k keeps every
 * token tied with the k-th largest score; top-p keeps a token while the probability mass strictly above it
 * (in descending order, lower id first on ties) is below p, so the smallest set reaching p, at least one
 * token; min-p removes tokens whose probability is below min_p × the top probability. Removed tokens get
 * −Infinity. top_p = 1 and min_p = 0 are no-ops, top_k = 0 disables top-k.
 *
 * Not here: the decoding loop, stop handling (stop.ts, core.ts). Every function copies rather than mutates
 * its input unless its name says otherwise.
 */
import { Rng } from '../engine/random.js';

export interface SamplingOptions {
  /** 0 = greedy. Default 1 when sampling options are evaluated directly. */
  temperature?: number;
  /** 0 or undefined: no top-k. */
  topK?: number;
  /** 1 or undefined: no top-p. */
  topP?: number;
  /** 0 or undefined: no min-p. */
  minP?: number;
  /** 1 or undefined: no penalty. */
  repetitionPenalty?: number;
}

/** Checks the options, with one sentence naming the bad one. */
export function validateSampling(o: SamplingOptions): void {
  const bad = (name: string, v: unknown, want: string) => new Error(`${name} must be ${want}, got ${JSON.stringify(v)}`);
  if (o.temperature !== undefined && !(Number.isFinite(o.temperature) && o.temperature >= 0)) throw bad('temperature', o.temperature, 'a number ≥ 0');
  if (o.topK !== undefined && !(Number.isInteger(o.topK) && o.topK >= 0)) throw bad('topK', o.topK, 'an integer ≥ 0');
  if (o.topP !== undefined && !(Number.isFinite(o.topP) && o.topP > 0 && o.topP <= 1)) throw bad('topP', o.topP, 'a number in (0, 1]');
  if (o.minP !== undefined && !(Number.isFinite(o.minP) && o.minP >= 0 && o.minP <= 1)) throw bad('minP', o.minP, 'a number in [0, 1]');
  if (o.repetitionPenalty !== undefined && !(Number.isFinite(o.repetitionPenalty) && o.repetitionPenalty > 0)) {
    throw bad('repetitionPenalty', o.repetitionPenalty, 'a number > 0');
  }
}

/** HF RepetitionPenaltyLogitsProcessor: each seen id's logit divided by `penalty` if positive, else multiplied. */
export function applyRepetitionPenalty(logits: Float32Array, seen: Iterable<number>, penalty: number): Float32Array {
  const out = logits.slice();
  if (penalty === 1) return out;
  for (const id of new Set(seen)) {
    if (id < 0 || id >= out.length) continue;
    const v = out[id]!;
    out[id] = v < 0 ? v * penalty : v / penalty;
  }
  return out;
}

export function applyTemperature(logits: Float32Array, temperature: number): Float32Array {
  if (!(temperature > 0)) throw new Error(`temperature must be > 0 for sampling, got ${temperature}`);
  const out = new Float32Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = logits[i]! / temperature;
  return out;
}

/** The k-th largest value (1-based) by quickselect on a copy: O(V) where sorting the vocabulary is not needed. */
function kthLargest(values: Float32Array, k: number): number {
  const a = values.slice();
  const want = a.length - k; // index of the k-th largest in ascending order
  let lo = 0;
  let hi = a.length - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >>> 1]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i++] = a[j]!;
        a[j--] = t;
      }
    }
    if (want <= j) hi = j;
    else if (want >= i) lo = i;
    else break; // a[want] equals the pivot
  }
  return a[want]!;
}

/** Keeps the scores ≥ the k-th largest (ties with it kept, as HF); k ≥ vocabulary or 0 keeps all. */
export function topKFilter(logits: Float32Array, k: number): Float32Array {
  const out = logits.slice();
  if (k <= 0 || k >= logits.length) return out;
  const kth = kthLargest(logits, k);
  for (let i = 0; i < out.length; i++) if (out[i]! < kth) out[i] = -Infinity;
  return out;
}

/** Softmax in float64 (−Infinity → 0). */
export function softmax(logits: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  const p = new Float64Array(logits.length);
  if (max === -Infinity) throw new Error('sampling: every token was filtered out');
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += p[i] = Math.exp(logits[i]! - max);
  for (let i = 0; i < p.length; i++) p[i]! /= sum;
  return p;
}

/** Ids of the finite scores by descending score, lower id first on ties (after top-k only k are sorted). */
function descending(logits: Float32Array): Int32Array {
  const ids: number[] = [];
  for (let i = 0; i < logits.length; i++) if (logits[i]! > -Infinity) ids.push(i);
  return Int32Array.from(ids).sort((a, b) => (logits[b]! - logits[a]!) || a - b);
}

/** HF TopPLogitsWarper: the smallest highest-probability set whose mass reaches p (at least one token). */
export function topPFilter(logits: Float32Array, p: number): Float32Array {
  const out = logits.slice();
  if (p >= 1) return out;
  const probs = softmax(logits);
  let above = 0;
  for (const id of descending(logits)) {
    if (above >= p) out[id] = -Infinity;
    above += probs[id]!;
  }
  return out;
}

/** HF MinPLogitsWarper: drops tokens whose probability is below minP × the largest probability. */
export function minPFilter(logits: Float32Array, minP: number): Float32Array {
  const out = logits.slice();
  if (minP <= 0) return out;
  const probs = softmax(logits);
  let top = 0;
  for (const q of probs) if (q > top) top = q;
  const cut = minP * top;
  for (let i = 0; i < out.length; i++) if (probs[i]! < cut) out[i] = -Infinity;
  return out;
}

/** Index of the largest value, lowest index on ties. */
export function argmax(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  return best;
}

/**
 * The warped scores sampling draws from (repetition penalty, temperature, top-k, top-p, min-p, in that
 * order). Exposed so that tests and callers can see the exact distribution.
 */
export function warpLogits(logits: Float32Array, o: SamplingOptions, seen: Iterable<number> = []): Float32Array {
  let x = applyRepetitionPenalty(logits, seen, o.repetitionPenalty ?? 1);
  x = applyTemperature(x, o.temperature ?? 1);
  if (o.topK) x = topKFilter(x, o.topK);
  if (o.topP !== undefined && o.topP < 1) x = topPFilter(x, o.topP);
  if (o.minP) x = minPFilter(x, o.minP);
  return x;
}

/** One draw from the categorical distribution `probs` (sums to 1) with one uniform number. */
export function drawCategorical(probs: Float64Array, rng: Rng): number {
  const u = rng.uniform();
  let acc = 0;
  let last = -1;
  for (let i = 0; i < probs.length; i++) {
    const q = probs[i]!;
    if (q <= 0) continue;
    acc += q;
    last = i;
    if (u < acc) return i;
  }
  return last; // rounding left u ≥ the total: the last possible token
}

/**
 * The next token from one logits row: greedy when temperature is 0 (the default here is 1), else a draw
 * from the warped distribution. `seen` are the ids the repetition penalty applies to.
 */
export function sampleToken(logits: Float32Array, o: SamplingOptions, rng: Rng, seen: Iterable<number> = []): number {
  for (let i = 0; i < logits.length; i++) {
    if (Number.isNaN(logits[i]!)) throw new Error(`sampling: logit ${i} is NaN (the model produced invalid values)`);
  }
  const t = o.temperature ?? 1;
  if (t === 0) return argmax(applyRepetitionPenalty(logits, seen, o.repetitionPenalty ?? 1));
  return drawCategorical(softmax(warpLogits(logits, o, seen)), rng);
}

export { Rng };
