/**
 * Sampling as pure functions: each filter against hand-derived results (HF semantics: ties at the k-th score
 * kept by top-k, the smallest set reaching top_p, min-p relative to the top probability, the repetition
 * penalty dividing positive and multiplying negative logits), greedy choice, seeded reproducibility, and
 * chi-square goodness of fit of drawn frequencies against the exact truncated distributions written out by
 * hand (fixed seed and sample count; critical values for a false-failure probability of 1e-6).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  applyRepetitionPenalty, minPFilter, Rng, sampleToken, topKFilter, topPFilter, validateSampling, type SamplingOptions,
} from '../../src/generate/sampling.js';

const P = [0.30, 0.20, 0.15, 0.12, 0.10, 0.07, 0.04, 0.02]; // sums to 1
const LOGITS = Float32Array.from(P, (p) => Math.log(p) + 3); // any shift: softmax gives P back
const kept = (x: Float32Array) => [...x].flatMap((v, i) => (v === -Infinity ? [] : [i]));

test('repetition penalty divides positive and multiplies negative logits of seen ids only (once per id)', () => {
  const out = applyRepetitionPenalty(Float32Array.from([2, -2, 1, 0.5]), [0, 1, 1, 3], 2);
  assert.deepEqual([...out], [1, -4, 1, 0.25]);
  assert.deepEqual([...applyRepetitionPenalty(Float32Array.from([2, -2]), [0, 1], 0.5)], [4, -1]);
});

test('top-k keeps the k largest and every token tied with the k-th', () => {
  assert.deepEqual(kept(topKFilter(LOGITS, 3)), [0, 1, 2]);
  assert.deepEqual(kept(topKFilter(Float32Array.from([1, 3, 2, 2, 0]), 2)), [1, 2, 3]);
  assert.deepEqual(kept(topKFilter(LOGITS, 0)), [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(kept(topKFilter(LOGITS, 100)), [0, 1, 2, 3, 4, 5, 6, 7]);
});

test('top-k on random rows with many ties equals the definition by full sort', () => {
  const rng = new Rng(3);
  for (let trial = 0; trial < 2000; trial++) {
    const n = 1 + rng.int(40);
    const row = Float32Array.from({ length: n }, () => rng.int(6) - 3);
    if (rng.uniform() < 0.2) row[rng.int(n)] = -Infinity;
    const k = 1 + rng.int(n);
    const kth = [...row].sort((a, b) => b - a)[k - 1]!;
    assert.deepEqual(kept(topKFilter(row, k)), [...row].flatMap((v, i) => (v >= kth && v !== -Infinity ? [i] : [])), `k ${k} row ${row.join(' ')}`);
  }
});

test('top-p keeps the smallest highest-probability set whose mass reaches p, at least one token', () => {
  // descending masses before each token: 0, .30, .50, .65, .77, .87, .94, .98
  assert.deepEqual(kept(topPFilter(LOGITS, 0.6)), [0, 1, 2]);
  assert.deepEqual(kept(topPFilter(LOGITS, 0.7)), [0, 1, 2, 3]);
  assert.deepEqual(kept(topPFilter(LOGITS, 0.95)), [0, 1, 2, 3, 4, 5, 6]);
  assert.deepEqual(kept(topPFilter(LOGITS, 0.01)), [0]);
  assert.deepEqual(kept(topPFilter(LOGITS, 1)), [0, 1, 2, 3, 4, 5, 6, 7]);
  // order of the input does not matter
  assert.deepEqual(kept(topPFilter(Float32Array.from([0.1, 0.5, 0.25, 0.15], Math.log), 0.7)), [1, 2]);
});

test('min-p drops tokens below min_p × the top probability', () => {
  assert.deepEqual(kept(minPFilter(LOGITS, 0.3)), [0, 1, 2, 3, 4]); // cut 0.09
  assert.deepEqual(kept(minPFilter(LOGITS, 0.45)), [0, 1, 2]); // cut 0.135
  assert.deepEqual(kept(minPFilter(LOGITS, 1)), [0]);
});

test('temperature 0 is greedy: argmax after the repetition penalty, lowest id on ties', () => {
  const rng = new Rng(1);
  assert.equal(sampleToken(LOGITS, { temperature: 0 }, rng), 0);
  assert.equal(sampleToken(Float32Array.from([1, 5, 5, 2]), { temperature: 0 }, rng), 1);
  assert.equal(sampleToken(Float32Array.from([4, 3, -1]), { temperature: 0, repetitionPenalty: 2 }, rng, [0]), 1);
  assert.throws(() => sampleToken(Float32Array.from([0, NaN]), { temperature: 1 }, rng), /logit 1 is NaN/);
});

test('invalid options are refused with the option named', () => {
  assert.throws(() => validateSampling({ temperature: -1 }), /temperature must be a number ≥ 0/);
  assert.throws(() => validateSampling({ topK: 1.5 }), /topK must be an integer ≥ 0/);
  assert.throws(() => validateSampling({ topP: 0 }), /topP must be a number in \(0, 1\]/);
  assert.throws(() => validateSampling({ minP: 2 }), /minP must be a number in \[0, 1\]/);
  assert.throws(() => validateSampling({ repetitionPenalty: 0 }), /repetitionPenalty must be a number > 0/);
});

function draws(o: SamplingOptions, seed: number, n: number): number[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => sampleToken(LOGITS, o, rng));
}

test('T = 1: the same seed reproduces the draws, different seeds give different ones', () => {
  const a = draws({ temperature: 1 }, 7, 64);
  assert.deepEqual(draws({ temperature: 1 }, 7, 64), a);
  assert.notDeepEqual(draws({ temperature: 1 }, 8, 64), a);
  assert.notDeepEqual(draws({ temperature: 1 }, 9, 64), a);
  assert.ok(new Set(a).size >= 4, 'draws spread over the distribution');
});

// Chi-square critical values at P(X > x) = 1e-6 for 1..7 degrees of freedom.
const CRIT = [0, 23.93, 27.63, 30.66, 33.38, 35.89, 38.26, 40.52];

function chiSquare(o: SamplingOptions, expected: number[], seed: number): { stat: number; df: number } {
  const N = 20000;
  const counts = new Array<number>(P.length).fill(0);
  for (const id of draws(o, seed, N)) counts[id]!++;
  let stat = 0;
  let df = -1;
  counts.forEach((c, i) => {
    const e = expected[i]! * N;
    if (e === 0) {
      assert.equal(c, 0, `token ${i} is outside the truncated distribution but was drawn ${c} times`);
      return;
    }
    stat += (c - e) ** 2 / e;
    df++;
  });
  return { stat, df };
}

const normalize = (w: number[]) => w.map((x) => x / w.reduce((a, b) => a + b, 0));

test('frequencies under top-k / top-p / min-p (and temperature) fit the exact truncated distributions', () => {
  const cases: [string, SamplingOptions, number[]][] = [
    ['T=1', { temperature: 1 }, P],
    ['top-k 3', { temperature: 1, topK: 3 }, [0.30 / 0.65, 0.20 / 0.65, 0.15 / 0.65, 0, 0, 0, 0, 0]],
    ['top-p 0.7', { temperature: 1, topP: 0.7 }, [0.30 / 0.77, 0.20 / 0.77, 0.15 / 0.77, 0.12 / 0.77, 0, 0, 0, 0]],
    ['min-p 0.3', { temperature: 1, minP: 0.3 }, [0.30 / 0.87, 0.20 / 0.87, 0.15 / 0.87, 0.12 / 0.87, 0.10 / 0.87, 0, 0, 0]],
    // T = 0.5 squares the probabilities: .09, .04, .0225, .0144, .01, .0049, .0016, .0004 (sum .1838);
    // top-p 0.8 then keeps .09 + .04 = .13 < .8·.1838 = .147, adds .0225: {0, 1, 2}; top-k 5 removes nothing more.
    ['T=0.5 top-k 5 top-p 0.8', { temperature: 0.5, topK: 5, topP: 0.8 }, normalize([0.09, 0.04, 0.0225, 0, 0, 0, 0, 0])],
    // T = 2 takes square roots; min-p 0.5 keeps sqrt(p) ≥ 0.5·sqrt(.3) ⇔ p ≥ .075: tokens 0..4.
    ['T=2 min-p 0.5', { temperature: 2, minP: 0.5 }, normalize([0.30, 0.20, 0.15, 0.12, 0.10].map(Math.sqrt).concat([0, 0, 0]))],
  ];
  cases.forEach(([label, o, expected], k) => {
    const { stat, df } = chiSquare(o, expected, 1000 + k);
    assert.ok(stat < CRIT[df]!, `${label}: chi-square ${stat.toFixed(2)} ≥ ${CRIT[df]} (df ${df})`);
  });
  // A wrong distribution is rejected by the same statistic (the test has power).
  const wrong = chiSquare({ temperature: 1, topK: 3 }, normalize([0.33, 0.19, 0.13, 0, 0, 0, 0, 0]), 5);
  assert.ok(wrong.stat > CRIT[wrong.df]!, `a 3-point shift of the top probability went undetected (chi-square ${wrong.stat.toFixed(2)})`);
});
