/**
 * crossEntropy: uniform logits give log V, ignored targets, reductions, the (softmax − onehot)/count
 * gradient, and errors naming bad targets by value and position.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crossEntropy, full, tensor, zeros } from '../../../src/index.js';
import { assertClose } from '../../helpers/assert.js';

const ids = (v: number[] | number[][]) => tensor(v, { dtype: 'i32' });

test('uniform logits give log V', () => {
  assertClose([crossEntropy(zeros([2, 5]), ids([1, 4])).item()], [Math.log(5)]);
  assertClose([crossEntropy(full([2, 3, 7], 2.5), ids([[0, 1, 2], [6, 5, 4]])).item()], [Math.log(7)]);
});

test('ignored targets are left out of the mean; all ignored is NaN', () => {
  const logits = tensor([[0, Math.log(3)], [0, 0]], { dtype: 'f64' });
  assertClose([crossEntropy(logits, ids([1, -100])).item()], [Math.log(4 / 3)], { atol: 1e-12 });
  assertClose([crossEntropy(logits, ids([0, 1]), { ignoreIndex: 1 }).item()], [Math.log(4)], { atol: 1e-12 });
  assert.ok(Number.isNaN(crossEntropy(logits, ids([-100, -100])).item()));
});

test("reductions 'sum' and 'none'", () => {
  const logits = tensor([[0, Math.log(3)], [0, 0]], { dtype: 'f64' });
  assertClose([crossEntropy(logits, ids([0, 1]), { reduction: 'sum' }).item()], [Math.log(4) + Math.log(2)], { atol: 1e-12 });
  const none = crossEntropy(logits, ids([0, -100]), { reduction: 'none' });
  assert.deepEqual(none.shape, [2]);
  assertClose(none, [Math.log(4), 0], { atol: 1e-12 });
});

test('gradient is (softmax − onehot)/count on non-ignored rows', () => {
  const logits = zeros([3, 4], 'f64');
  logits.requiresGrad = true;
  crossEntropy(logits, ids([0, -100, 3])).backward();
  assertClose(logits.grad!, [-0.375, 0.125, 0.125, 0.125, 0, 0, 0, 0, 0.125, 0.125, 0.125, -0.375], { atol: 1e-12 });
});

test('targets out of range, wrong dtype or shape are errors naming them', () => {
  assert.throws(() => crossEntropy(zeros([2, 3, 5]), ids([[0, 1, 2], [5, 0, 0]])), /crossEntropy: target 5 at position \[1, 0\] is out of range for 5 classes \(logits f32 \[2, 3, 5\], targets i32 \[2, 3\]\)/);
  assert.throws(() => crossEntropy(zeros([2, 5]), ids([-1, 0])), /target -1 at position \[0\]/);
  assert.throws(() => crossEntropy(zeros([2, 5]), tensor([0, 1])), /crossEntropy: targets must be i32: logits f32 \[2, 5\], targets f32 \[2\]/);
  assert.throws(() => crossEntropy(zeros([2, 5]), ids([0, 1, 2])), /targets must have the shape of logits without its last dim: logits f32 \[2, 5\], targets i32 \[3\]/);
});
