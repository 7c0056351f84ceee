/**
 * Gradient checks of the linear-algebra, normalisation, attention, loss, indexing and convolution ops,
 * against f64 central differences: broadcasting, 1-D promotion, non-contiguous inputs, GQA, causal with a
 * key mask (including a query that sees no key), ignore index, repeated indices, tensors used twice.
 */
import * as E from '../../../src/index.js';
import { tensor, type Tensor } from '../../../src/index.js';
import { gradcheck } from '../../helpers/gradcheck.js';
import { g64, narrow64, perm64 } from './inputs.js';
import type { GradCase } from './types.js';

const ids = (v: number[] | number[][]) => tensor(v, { dtype: 'i32' });

/** A [B, H, T, D] input stored as [B, T, H, D] (the layout after a head split), then transposed. */
function heads64(B: number, H: number, T: number, D: number, seed: number): Tensor {
  const x = E.noGrad(() => E.randn([B, T, H, D], { seed, dtype: 'f64' }).transpose(1, 2));
  x.requiresGrad = true;
  return x;
}

const sdpa = (opts: E.SdpaOptions) => (q: Tensor, k: Tensor, v: Tensor) => E.scaledDotProductAttention(q, k, v, opts);

export const nnCases: GradCase[] = [
  { op: 'matmul', name: '[2, 3, 4] · [4, 5]', run: () => gradcheck(E.matmul, [g64([2, 3, 4], 1), g64([4, 5], 2)]) },
  { op: 'matmul', name: 'batch broadcast [2, 1, 3, 4] · [3, 4, 2]', run: () => gradcheck(E.matmul, [g64([2, 1, 3, 4], 3), g64([3, 4, 2], 4)]) },
  { op: 'matmul', name: 'transposed views', run: () => gradcheck(E.matmul, [perm64([3, 4], 5), perm64([4, 2], 6)]) },
  { op: 'matmul', name: '1-D · 2-D and 2-D · 1-D', run: () => gradcheck((a, b, c) => E.matmul(E.matmul(a, b), c), [g64([3], 7), g64([3, 4], 8), g64([4], 9)]) },
  { op: 'matmul', name: '1-D · 1-D', run: () => gradcheck(E.matmul, [g64([4], 10), g64([4], 11)]) },
  { op: 'matmul', name: 'tensor used twice (a · a)', run: () => gradcheck((a) => E.matmul(a, a), [g64([2, 3, 3], 12)]) },
  { op: 'linear', name: '[2, 3, 4] with bias', needs: ['linear'], run: () => gradcheck(E.linear, [g64([2, 3, 4], 1), g64([5, 4], 2), g64([5], 3)]) },
  { op: 'linear', name: 'permuted x, no bias', needs: ['linear'], run: () => gradcheck((x, w) => E.linear(x, w), [perm64([3, 4], 4), narrow64([2, 4], 5)]) },
  { op: 'embedding', name: 'repeated ids accumulate', needs: ['embedding'], run: () => gradcheck((w) => E.embedding(w, ids([[0, 4, 0], [2, 2, 0]])), [g64([5, 3], 1)]) },
  { op: 'indexSelect', name: 'dim 0 with repeats', run: () => gradcheck((x) => E.indexSelect(x, 0, ids([2, 0, 2, 2])), [g64([3, 4], 1)]) },
  { op: 'indexSelect', name: 'dim 1 of a permuted view', run: () => gradcheck((x) => E.indexSelect(x, 1, ids([1, 3])), [perm64([2, 4], 2)]) },
  { op: 'indexAdd', name: 'both inputs, repeated index', run: () => gradcheck((x, s) => E.indexAdd(x, 1, ids([0, 2, 0]), s), [g64([2, 4], 3), perm64([2, 3], 4)]) },
  { op: 'gather', name: 'dim 1, index smaller than x', run: () => gradcheck((x) => E.gather(x, 1, ids([[0, 0], [3, 1]])), [g64([3, 4], 5)]) },
  { op: 'gather', name: 'dim 0 of a permuted view', run: () => gradcheck((x) => E.gather(x, 0, ids([[1, 0, 1]])), [perm64([2, 3], 6)]) },
  { op: 'layerNorm', name: 'weight and bias', run: () => gradcheck((x, w, b) => E.layerNorm(x, w, b, 1e-5), [g64([2, 3, 5], 1), g64([5], 2), g64([5], 3)]) },
  { op: 'layerNorm', name: 'bias only, permuted x', run: () => gradcheck((x, b) => E.layerNorm(x, null, b), [perm64([3, 4], 4), g64([4], 5)]) },
  { op: 'layerNorm', name: 'no affine, x used twice', run: () => gradcheck((x) => E.mul(E.layerNorm(x), x), [g64([2, 6], 6)]) },
  { op: 'rmsNorm', name: 'weight', run: () => gradcheck((x, w) => E.rmsNorm(x, w, 1e-6), [g64([2, 3, 5], 7), g64([5], 8)]) },
  { op: 'rmsNorm', name: 'no weight, narrowed x', run: () => gradcheck((x) => E.rmsNorm(x, null, 0.1), [narrow64([3, 4], 9)]) },
  { op: 'softmax', name: 'last dim, x used twice', run: () => gradcheck((x) => E.mul(E.softmax(x), x), [g64([2, 5], 1)]) },
  { op: 'softmax', name: 'dim 0 of a 3-D tensor', run: () => gradcheck((x) => E.softmax(x, 0), [g64([3, 2, 4], 2)]) },
  { op: 'logSoftmax', name: 'last dim of a permuted view', run: () => gradcheck((x) => E.logSoftmax(x), [perm64([3, 4], 3)]) },
  { op: 'logSoftmax', name: 'dim 1', run: () => gradcheck((x) => E.logSoftmax(x, 1), [g64([2, 3, 2], 4)]) },
  { op: 'rope', name: 'head-split view, tables [T, D/2] with gradients', run: () => gradcheck(E.rope, [heads64(2, 2, 3, 4, 1), g64([3, 2], 2), g64([3, 2], 3)]) },
  { op: 'rope', name: 'tables [B, T, D/2]', run: () => gradcheck(E.rope, [g64([2, 1, 3, 6], 4), g64([2, 3, 3], 5), g64([2, 3, 3], 6)]) },
  { op: 'rope', name: 'x only, real tables', run: () => {
    const { cos, sin } = E.ropeTables(E.arange(3), 4);
    gradcheck((x) => E.rope(x, cos.to('f64'), sin.to('f64')), [g64([1, 2, 3, 4], 7)]);
  } },
  { op: 'scaledDotProductAttention', name: 'plain', run: () => gradcheck(sdpa({}), [g64([1, 2, 3, 4], 1), g64([1, 2, 5, 4], 2), g64([1, 2, 5, 3], 3)]) },
  {
    op: 'scaledDotProductAttention',
    name: 'GQA 4:2, causal with KV prefix, head-split views',
    run: () => gradcheck(sdpa({ causal: true }), [heads64(1, 4, 2, 3, 4), heads64(1, 2, 4, 3, 5), heads64(1, 2, 4, 2, 6)]),
  },
  {
    op: 'scaledDotProductAttention',
    name: 'causal + key mask with a query that sees no key, custom scale',
    run: () => {
      const keyMask = tensor([[1, 1, 1], [0, 0, 1]], { dtype: 'bool' });
      gradcheck(sdpa({ causal: true, keyMask, scale: 0.7 }), [g64([2, 2, 2, 3], 7), g64([2, 1, 3, 3], 8), g64([2, 1, 3, 3], 9)]);
    },
  },
  { op: 'crossEntropy', name: 'mean with ignored targets', run: () => gradcheck((l) => E.crossEntropy(l, ids([[1, -100, 0], [3, 3, -100]])), [g64([2, 3, 4], 1)]) },
  { op: 'crossEntropy', name: "reduction 'none' on a permuted view", run: () => gradcheck((l) => E.crossEntropy(l, ids([2, 0, 1]), { reduction: 'none' }), [perm64([3, 4], 2)]) },
  { op: 'crossEntropy', name: "reduction 'sum', custom ignoreIndex", run: () => gradcheck((l) => E.crossEntropy(l, ids([2, 0, 2]), { reduction: 'sum', ignoreIndex: 0 }), [g64([3, 3], 3)]) },
  {
    op: 'conv2d',
    name: 'patch embedding with remainder rows/cols and bias',
    needs: ['linear'],
    run: () => gradcheck((x, w, b) => E.conv2d(x, w, b, { stride: [2, 3] }), [g64([1, 2, 5, 7], 1), g64([3, 2, 2, 3], 2), g64([3], 3)]),
  },
];
