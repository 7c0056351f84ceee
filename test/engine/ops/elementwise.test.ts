/**
 * Elementwise behaviour that must match torch beyond what gradient checks see: `where` with two numbers,
 * and pow's gradients at a zero base or a zero exponent (masked to 0 instead of NaN).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gt, pow, sum, tensor, where } from '../../../src/index.js';
import { assertClose } from '../../helpers/assert.js';

test('where(cond, number, number) gives an f32 tensor', () => {
  const y = where(gt(tensor([1, 3]), 2), 1, -1);
  assert.equal(y.dtype, 'f32');
  assert.deepEqual(y.toArray(), [-1, 1]);
});

test('pow: no NaN gradient at a zero base or a zero exponent', () => {
  const a = tensor([0, 2, 0], { requiresGrad: true });
  const b = tensor([2, 3, 0], { requiresGrad: true });
  sum(pow(a, b)).backward();
  // d/da = b·a^(b−1): 0 at (0, 2), 12 at (2, 3), and 0 (not 0·∞) for a zero exponent.
  assertClose(a.grad!, [0, 12, 0]);
  // d/db = a^b·ln a: 8·ln 2 at (2, 3); 0 where the base is 0 and b ≥ 0.
  assertClose(b.grad!, [0, 8 * Math.log(2), 0]);
});
