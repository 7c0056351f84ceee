/**
 * The native thread pool's claiming mode (parallel_claim with WorkRanges), which the decode-time linears and
 * the GEMM's owned-rows split run on: every unit of work is done exactly once whichever thread is late, a
 * thread that is late is covered by the other (the caller does not wait for it to take its share), and a
 * request for more threads than the pool has still covers every unit.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { hasKernel, loadAddon, runKernel } from '../../src/backends/native/addon.js';
import { withPool } from '../helpers/native-pool.js';

const addon = loadAddon();
const skip = !addon ? 'native addon not loaded' : !hasKernel('pool_claim_check') ? 'pool_claim_check not built' : false;

/** Runs the check; returns the taker of each unit after asserting that each was taken exactly once. */
function claim(units: number, threads: number, late = -1, delayUs = 0): number[] {
  const out = new Int32Array(2 * units);
  runKernel('pool_claim_check', [out], [units, threads, late, delayUs]);
  const counts = Array.from(out.subarray(units));
  assert.deepEqual(counts.filter((c) => c !== 1).length, 0, `units taken other than once: ${counts.map((c, u) => (c === 1 ? '' : `${u}×${c}`)).filter(Boolean).join(' ')}`);
  return Array.from(out.subarray(0, units));
}

describe('parallel_claim and WorkRanges', { skip }, () => {
  test('every unit exactly once, for unit counts around the thread count', () => {
    withPool(2, () => {
      for (const units of [0, 1, 2, 3, 7, 64, 1000]) {
        for (let rep = 0; rep < 20; rep++) claim(units, 2);
      }
    });
  });

  test('a late worker is covered: the caller takes its own run, then the rest from the back', () => {
    withPool(2, () => {
      // The worker sleeps 100 ms before taking anything (if it joins at all: one that has not woken by the
      // time the caller is done skips the job); the caller has long finished both runs by then.
      for (let rep = 0; rep < 3; rep++) assert.deepEqual(new Set(claim(200, 2, 1, 100_000)), new Set([0]));
    });
  });

  test('a late caller is covered by the worker', () => {
    withPool(2, () => {
      const takers = claim(200, 2, 0, 100_000);
      // The worker wakes within microseconds to milliseconds; the caller sleeps 100 ms first.
      assert.ok(takers.filter((t) => t === 1).length >= 100, `the worker took ${takers.filter((t) => t === 1).length} of 200`);
    });
  });

  test('more threads asked for than the pool has, and a pool of one', () => {
    withPool(1, () => assert.deepEqual(new Set(claim(50, 2)), new Set([0])));
    withPool(2, () => {
      claim(50, 4);
      claim(50, 6); // past WorkRanges' inline slots
    });
  });
});
