/**
 * layerNorm, rmsNorm, softmax and logSoftmax: values derived by hand, dims other than the last, and
 * errors that name the op and the shapes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { full, layerNorm, logSoftmax, rmsNorm, softmax, tensor } from '../../../src/index.js';
import { assertClose } from '../../helpers/assert.js';

test('softmax of [1, 2, 3] is e^i / Σ e^j', () => {
  const z = 1 + Math.E + Math.E ** 2;
  assertClose(softmax(tensor([1, 2, 3])), [1 / z, Math.E / z, Math.E ** 2 / z]);
  // Shifting a row does not change it; huge values do not overflow (max is subtracted).
  assertClose(softmax(tensor([1001, 1002, 1003], { dtype: 'f64' })), [1 / z, Math.E / z, Math.E ** 2 / z], { atol: 1e-12, rtol: 1e-12 });
});

test('logSoftmax of [0, ln 3] is [ln 1/4, ln 3/4]; along dim 0 it normalises columns', () => {
  assertClose(logSoftmax(tensor([0, Math.log(3)], { dtype: 'f64' })), [Math.log(0.25), Math.log(0.75)], { atol: 1e-12 });
  const y = logSoftmax(tensor([[0, 5], [Math.log(3), 5]], { dtype: 'f64' }), 0);
  assertClose(y, [Math.log(0.25), Math.log(0.5), Math.log(0.75), Math.log(0.5)], { atol: 1e-12 });
  assertClose(softmax(tensor([[0, 5], [Math.log(3), 5]]), -2), [0.25, 0.5, 0.75, 0.5]);
});

test('rmsNorm of [3, 4]: x / sqrt(12.5), then times the weight', () => {
  const r = 1 / Math.sqrt(12.5);
  assertClose(rmsNorm(tensor([3, 4]), null, 0), [3 * r, 4 * r]);
  assertClose(rmsNorm(tensor([[3, 4], [0, 0]]), tensor([2, 0.5]), 1e-6), [6 * r, 2 * r, 0, 0], { atol: 1e-6 });
  // eps is added to the mean square: mean([1, 1]) + 3 = 4 → x / 2.
  assertClose(rmsNorm(tensor([1, -1]), null, 3), [0.5, -0.5]);
});

test('layerNorm of [1, 2, 3]: (x − 2)/sqrt(2/3 + eps)·w + b, biased variance', () => {
  const s = Math.sqrt(1.5);
  assertClose(layerNorm(tensor([1, 2, 3]), null, null, 0), [-s, 0, s]);
  assertClose(layerNorm(tensor([[1, 2, 3]]), tensor([1, 2, 3]), tensor([0, 1, 0]), 0), [-s, 1, 3 * s]);
  // var([0, 2]) = 1, eps 3 → (x − 1)/2.
  assertClose(layerNorm(tensor([0, 2]), null, null, 3), [-0.5, 0.5]);
});

test('normalisation of a permuted view works row by row', () => {
  const x = tensor([[3, 0], [4, 0]]).transpose(0, 1); // rows [3, 4] and [0, 0]
  const r = 1 / Math.sqrt(12.5);
  assertClose(rmsNorm(x, null, 0), [3 * r, 4 * r, NaN, NaN]);
  assertClose(layerNorm(x, null, null, 1e-5), [-1, 1, 0, 0], { atol: 1e-4 });
});

test('errors name the op and both shapes', () => {
  assert.throws(() => layerNorm(full([2, 4], 1), full([3], 1)), /layerNorm: weight must be f32 \[4\] for x f32 \[2, 4\], got f32 \[3\]/);
  assert.throws(() => layerNorm(full([2, 4], 1), null, full([4], 1, 'f64')), /layerNorm: bias must be f32 \[4\].*got f64 \[4\]/);
  assert.throws(() => rmsNorm(full([2, 4], 1), full([2, 4], 1)), /rmsNorm: weight must be f32 \[4\] for x f32 \[2, 4\], got f32 \[2, 4\]/);
  assert.throws(() => rmsNorm(full([2], 1, 'i32')), /rmsNorm: expected a float tensor.*i32 \[2\]/);
  assert.throws(() => softmax(full([2, 3], 1), 2), /softmax: axis 2 out of range/);
});
