/**
 * indexSelect, indexAdd, gather and embedding: values derived by hand (torch's documented examples where
 * they exist), repeated indices, raw copies of non-float dtypes, and range errors naming the index.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { embedding, gather, indexAdd, indexSelect, sum, tensor, zeros } from '../../../src/index.js';
import { assertClose } from '../../helpers/assert.js';
import { tsKernelPending } from '../../helpers/kernels.js';

const ids = (v: number[] | number[][]) => tensor(v, { dtype: 'i32' });

test('indexSelect along dims 0 and 1, on a permuted view', () => {
  const x = tensor([[1, 2, 3], [4, 5, 6]]);
  assertClose(indexSelect(x, 1, ids([2, 0])), [3, 1, 6, 4]);
  assertClose(indexSelect(x, 0, ids([1, 1, 0])), [4, 5, 6, 4, 5, 6, 1, 2, 3]);
  assertClose(indexSelect(x.transpose(0, 1), 0, ids([2])), [3, 6]);
  assert.deepEqual(indexSelect(x, -1, ids([])).shape, [2, 0]);
});

test('indexSelect copies stored values of any non-quantized dtype', () => {
  const h = indexSelect(tensor([0.1, 0.2, 0.3], { dtype: 'f16' }), 0, ids([2, 0]));
  assert.equal(h.dtype, 'f16');
  assert.deepEqual([...h.data], [...tensor([0.3, 0.1], { dtype: 'f16' }).data]);
  assert.deepEqual(indexSelect(ids([7, -8, 9]), 0, ids([1, 1])).toArray(), [-8, -8]);
  assert.deepEqual(indexSelect(tensor([1, 0], { dtype: 'bool' }), 0, ids([1, 0])).toArray(), [0, 1]);
});

test('indexAdd accumulates repeated positions', () => {
  assertClose(indexAdd(zeros([3]), 0, ids([0, 2, 0]), tensor([1, 2, 3])), [4, 0, 2]);
  const x = tensor([[1, 1], [1, 1]]);
  assertClose(indexAdd(x, 1, ids([1, 1]), tensor([[1, 2], [3, 4]])), [1, 4, 1, 8]);
  assertClose(x, [1, 1, 1, 1], {}, 'the input is not modified');
});

test('gather follows torch.gather', () => {
  // torch docs: gather([[1, 2], [3, 4]], 1, [[0, 0], [1, 0]]) = [[1, 1], [4, 3]].
  assertClose(gather(tensor([[1, 2], [3, 4]]), 1, ids([[0, 0], [1, 0]])), [1, 1, 4, 3]);
  assertClose(gather(tensor([[1, 2, 3], [4, 5, 6]]), 0, ids([[1, 0, 1]])), [4, 2, 6]);
});

test('index errors name the value, its position and the size', () => {
  const x = zeros([2, 3]);
  assert.throws(() => indexSelect(x, 1, ids([0, 3])), /indexSelect: index 3 at position \[1\] is out of range for size 3 \(x f32 \[2, 3\], dim 1\)/);
  assert.throws(() => indexSelect(x, 0, ids([[0]])), /indexSelect: index must be 1-D, got i32 \[1, 1\] for x f32 \[2, 3\]/);
  assert.throws(() => indexSelect(x, 0, tensor([0])), /indexSelect: index must be i32, got f32 \[1\]/);
  assert.throws(() => indexAdd(x, 0, ids([0]), zeros([2, 3])), /indexAdd: source must have x's shape with dim 0 of size 1: x f32 \[2, 3\], index i32 \[1\], source f32 \[2, 3\]/);
  assert.throws(() => gather(x, 1, ids([[0, -1]])), /gather: index -1 at position \[0, 1\] is out of range for size 3/);
  assert.throws(() => gather(x, 1, ids([0])), /gather: index must have x's rank/);
  assert.throws(() => embedding(zeros([4, 2]), ids([[0, 1], [4, 0]])), /embedding: id 4 at position \[1, 0\] is out of range for size 4 \(weight f32 \[4, 2\], ids i32 \[2, 2\]\)/);
  assert.throws(() => embedding(zeros([4]), ids([0])), /embedding: weight must be \[V, D\]/);
});

test('embedding looks up rows; repeated ids accumulate their gradients', { skip: tsKernelPending('embedding') }, () => {
  const w = tensor([[1, 2], [3, 4], [5, 6]], { requiresGrad: true });
  const y = embedding(w, ids([[2, 0], [1, 1]]));
  assert.deepEqual(y.shape, [2, 2, 2]);
  assertClose(y, [5, 6, 1, 2, 3, 4, 3, 4]);
  sum(y).backward();
  assertClose(w.grad!, [1, 1, 2, 2, 1, 1]);
});

for (const dtype of ['f16', 'bf16', 'q8_0', 'q4_0'] as const) {
  test(`embedding from ${dtype} weights returns f32 rows of the stored values, no gradient`, { skip: tsKernelPending('embedding') }, () => {
    const w = tensor(Array.from({ length: 96 }, (_, i) => Math.sin(i)), { shape: [3, 32], dtype });
    w.requiresGrad = true;
    const y = embedding(w, ids([2, 0]));
    assert.equal(y.dtype, 'f32');
    const stored = w.toArray();
    assertClose(y, [...stored.slice(64), ...stored.slice(0, 32)], { atol: 0, rtol: 0 });
    sum(y).backward();
    assert.equal(w.grad, null);
  });
}
