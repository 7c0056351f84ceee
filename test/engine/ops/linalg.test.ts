/**
 * matmul and linear: forward values derived by hand, torch's 1-D promotion and batch broadcasting,
 * half/quantized operands (frozen: no gradient, but gradients flow through them) and error messages.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { full, linear, matmul, sum, tensor, type Tensor } from '../../../src/index.js';
import { assertClose } from '../../helpers/assert.js';
import { tsKernelPending } from '../../helpers/kernels.js';

const linearPending = tsKernelPending('linear');

test('matmul of 2×2 matrices, and of transposed views', () => {
  assertClose(matmul(tensor([[1, 2], [3, 4]]), tensor([[5, 6], [7, 8]])), tensor([[19, 22], [43, 50]]));
  const at = tensor([[1, 3], [2, 4]]).transpose(0, 1);
  const bt = tensor([[5, 7], [6, 8]]).transpose(0, 1);
  assertClose(matmul(at, bt), tensor([[19, 22], [43, 50]]));
});

test('matmul promotes 1-D operands like torch and drops the added dim', () => {
  const dot = matmul(tensor([1, 2, 3]), tensor([4, 5, 6]));
  assert.deepEqual(dot.shape, []);
  assert.equal(dot.item(), 32);
  assertClose(matmul(tensor([1, 2]), tensor([[1, 0, 2], [0, 1, 3]])), tensor([1, 2, 8]));
  assertClose(matmul(tensor([[1, 2], [3, 4]]), tensor([1, 1])), tensor([3, 7]));
  const batched = matmul(full([4, 2, 3], 1), tensor([1, 2, 3]));
  assert.deepEqual(batched.shape, [4, 2]);
  assertClose(batched, full([4, 2], 6));
});

test('matmul broadcasts batch dims: [2, 1, 2, 2] · [3, 2, 2] → [2, 3, 2, 2]', () => {
  // a[i] = (i + 1)·I, so out[i, j] = (i + 1)·b[j].
  const a = tensor([[[[1, 0], [0, 1]]], [[[2, 0], [0, 2]]]]);
  const bv = [[[1, 2], [3, 4]], [[0, 1], [1, 0]], [[-1, 0], [0, 5]]];
  const out = matmul(a, tensor(bv));
  assert.deepEqual(out.shape, [2, 3, 2, 2]);
  assertClose(out, [...bv.flat(2), ...bv.flat(2).map((v) => 2 * v)]);
});

test('matmul with f16/bf16 b decodes the stored values; b gets no gradient, a does', () => {
  // 1/3 stored in f16 is 0.333251953125, in bf16 0.333984375 (round to nearest even).
  assertClose(matmul(tensor([[3]]), tensor([[1 / 3]], { dtype: 'f16' })), [0.999755859375], { atol: 0, rtol: 0 });
  assertClose(matmul(tensor([[3]]), tensor([[1 / 3]], { dtype: 'bf16' })), [1.001953125], { atol: 0, rtol: 0 });
  const a = tensor([[1, 2]], { requiresGrad: true });
  const b = tensor([[0.5, 2], [-1, 0.25]], { dtype: 'f16' });
  b.requiresGrad = true;
  const y = matmul(a, b);
  assertClose(y, [-1.5, 2.5]);
  sum(y).backward();
  assertClose(a.grad!, [2.5, -0.75]); // row sums of b
  assert.equal(b.grad, null);
});

test('matmul errors name the op and both shapes', () => {
  assert.throws(() => matmul(tensor([[1, 2, 3], [4, 5, 6]]), full([4, 5], 1)), /matmul: inner dimensions differ.*\[2, 3\].*\[4, 5\]/);
  assert.throws(() => matmul(full([2, 2, 3], 1), full([3, 3, 4], 1)), /matmul: batch dims do not broadcast.*\[2, 2, 3\].*\[3, 3, 4\]/);
  assert.throws(() => matmul(full([2, 2], 1, 'f64'), full([2, 2], 1)), /matmul: dtypes differ.*f64 \[2, 2\].*f32 \[2, 2\]/);
  assert.throws(() => matmul(full([2, 2], 1, 'i32'), full([2, 2], 1)), /matmul: a must be f32 or f64.*i32 \[2, 2\]/);
  assert.throws(() => matmul(tensor(1), tensor([1])), /matmul: both operands need at least 1 dim/);
});

test('linear errors name the op and the shapes', () => {
  assert.throws(() => linear(full([2, 3], 1), full([4, 5], 1)), /linear: last dim of x must equal in-features 5: x f32 \[2, 3\], w f32 \[4, 5\]/);
  assert.throws(() => linear(full([2, 3], 1), full([4, 3], 1), full([5], 1)), /linear: bias must be f32 \[4\].*bias f32 \[5\]/);
  assert.throws(() => linear(full([2, 3], 1, 'f64'), full([4, 3], 1)), /linear: dtypes of x and w differ/);
  assert.throws(() => linear(full([2, 3], 1), full([4, 3], 1, 'i32')), /linear: w must be/);
  assert.throws(() => linear(full([2, 3], 1), full([2, 4, 3], 1)), /linear: w must be \[out, in\]/);
});

test('linear: x·wᵀ + bias over leading dims, and its gradients', { skip: linearPending }, () => {
  const x = tensor([[[1, 2]], [[3, -1]]], { requiresGrad: true }); // [2, 1, 2]
  const w = tensor([[1, 0], [0, 1], [1, 1]], { requiresGrad: true });
  const b = tensor([0.5, 0, -1], { requiresGrad: true });
  const y = linear(x, w, b);
  assert.deepEqual(y.shape, [2, 1, 3]);
  assertClose(y, [1.5, 2, 2, 3.5, -1, 1]);
  sum(y).backward();
  assertClose(x.grad!, [2, 2, 2, 2]); // column sums of w
  assertClose(w.grad!, [4, 1, 4, 1, 4, 1]); // each row: Σ over rows of x
  assertClose(b.grad!, [2, 2, 2]);
});

/** gx = g·w with the weight's stored (dequantized/decoded) values, computed by plain loops. */
function expectedGx(g: number[][], w: Tensor): number[] {
  const [N, K] = w.shape as [number, number];
  const wv = w.toArray();
  return g.flatMap((row) => Array.from({ length: K }, (_, k) => row.reduce((s, gn, n) => s + gn * wv[n * K + k]!, 0)));
}

for (const dtype of ['f16', 'bf16', 'q8_0', 'q4_0'] as const) {
  test(`linear with frozen ${dtype} weights: close to the f32 result; gradient flows to x only`, { skip: linearPending }, () => {
    const K = 64;
    const wv = Array.from({ length: 3 * K }, (_, i) => Math.sin(i) * 0.5);
    const w32 = tensor(wv, { shape: [3, K] });
    const w = tensor(wv, { shape: [3, K], dtype }); // quantized/rounded on construction
    w.requiresGrad = true;
    const x = tensor(Array.from({ length: 2 * K }, (_, i) => Math.cos(i)), { shape: [2, K], requiresGrad: true });
    const y = linear(x, w);
    assertClose(y, linear(x.detach(), w32), { atol: dtype === 'q4_0' ? 0.5 : dtype === 'q8_0' ? 0.05 : 0.02, rtol: 0 });
    const g = [[1, -2, 0.5], [0, 1, 3]];
    y.backward(tensor(g));
    assert.equal(w.grad, null);
    assertClose(x.grad!, expectedGx(g, w), { atol: 1e-5, rtol: 1e-5 });
  });
}
