/**
 * The task the interchange test model is trained on, shared by the trainer (train-margin-model.ts) and the
 * folder generator (margin-model.ts): a 32-word alphabet of single-token LLaMA words and a second-order
 * successor table over it. After a prompt of alphabet words the next word is `T[prev][cur]` (the two last
 * words), so a greedy continuation walks a long pseudo-random chain that the model can only follow by
 * attending to the previous position (RoPE, the q/k layout, GQA) and combining two tokens non-linearly
 * (the gated MLP). Each column `T[·][cur]` is a permutation, so the map on word pairs is a bijection and
 * chains do not fall into short cycles.
 *
 * Also the prompts, continuation length and margin threshold both tests use.
 *
 * Not here: weights (trained by the trainer, expanded by the generator) or any model code.
 */
import { Rng } from '../../src/engine/random.js';

/** Alphabet words with their LLaMA ids (each is one `▁word` piece; margin-model.test checks it). */
export const ALPHABET: readonly (readonly [string, number])[] = [
  ['apple', 26163], ['river', 8580], ['stone', 12565], ['cloud', 9570], ['green', 7933], ['house', 3699],
  ['bread', 18423], ['music', 4696], ['paper', 5650], ['light', 3578], ['water', 4094], ['dream', 12561],
  ['metal', 11915], ['silver', 13283], ['forest', 13569], ['ocean', 23474], ['garden', 16423], ['winter', 13851],
  ['summer', 11801], ['yellow', 13328], ['orange', 24841], ['pocket', 24589], ['castle', 20610], ['planet', 15754],
  ['engine', 6012], ['window', 3474], ['button', 2826], ['mirror', 19571], ['letter', 5497], ['market', 9999],
  ['doctor', 11619], ['island', 11359],
];

export const K = ALPHABET.length;
export const BOS_ID = 1;
/** Training vocabulary: alphabet indices 0..K−1, then BOS at K. */
export const TRAIN_VOCAB = K + 1;

export const TEXT_DIMS = {
  hidden: 64,
  intermediate: 192,
  layers: 2,
  heads: 4,
  kvHeads: 2,
  maxPositions: 256,
  ropeTheta: 10000,
  rmsNormEps: 1e-5,
} as const;

/** Prompts of alphabet words (the model continues after their last two words). */
export const CHAIN_PROMPTS = [
  'apple river',
  'stone cloud green house',
  'winter summer yellow orange pocket castle planet engine',
];
/** New tokens per continuation (the issue asks for ≥ 32). */
export const CONTINUATION = 40;
/** The smallest top-1 margin at which token equality still means something under quantization noise. */
export const MIN_MARGIN = 0.05;

const TABLE_SEED = 20261126;

/** T[prev][cur]: the word index that follows alphabet indices prev, cur. */
export function successorTable(): number[][] {
  const rng = new Rng(TABLE_SEED);
  const T = Array.from({ length: K }, () => new Array<number>(K).fill(0));
  for (let cur = 0; cur < K; cur++) {
    const perm = Array.from({ length: K }, (_, i) => i);
    for (let i = K - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [perm[i], perm[j]] = [perm[j]!, perm[i]!];
    }
    for (let prev = 0; prev < K; prev++) T[prev]![cur] = perm[prev]!;
  }
  return T;
}

/** The chain continuing alphabet indices `start` (≥ 2 of them) by `n` words. */
export function followChain(T: number[][], start: readonly number[], n: number): number[] {
  const seq = [...start];
  for (let i = 0; i < n; i++) seq.push(T[seq[seq.length - 2]!]![seq[seq.length - 1]!]!);
  return seq.slice(start.length);
}
