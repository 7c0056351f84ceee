/**
 * Consistency rows for the normalisation, softmax, rope, attention, loss and indexing ops: odd sizes,
 * size 1, non-contiguous views, GQA with causal masks and KV prefixes, ignored targets; some rows also
 * return gradients so that backward (composed of ops) is compared too.
 */
import {
  crossEntropy, gather, indexAdd, indexSelect, layerNorm, logSoftmax, rmsNorm, rope, ropeTables,
  scaledDotProductAttention, softmax, tensor, to, type DType, type Tensor,
} from '../../../src/index.js';
import { stored } from './linalg.js';
import type { OpCase } from './types.js';

const FLOATS: DType[] = ['f32', 'f64'];
const native = (dtype: DType, k: string[]) => (dtype === 'f64' ? [] : k);
const ids = (v: number[] | number[][]) => tensor(v, { dtype: 'i32' });

function withGrads(out: Tensor, inputs: Tensor[], seed: number): Tensor[] {
  out.backward(stored([...out.shape], seed, out.dtype));
  return [out, ...inputs.map((t) => t.grad!)];
}
function leaves(...ts: Tensor[]): Tensor[] {
  for (const t of ts) t.requiresGrad = true;
  return ts;
}

function floatRows(dtype: DType): OpCase[] {
  const nk = (k: string) => native(dtype, [k]);
  return [
    { op: 'layerNorm', dtype, name: 'odd size [3, 17] with weight and bias', run: () => layerNorm(stored([3, 17], 1, dtype), stored([17], 2, dtype), stored([17], 3, dtype)), nativeKernels: nk('layerNorm') },
    { op: 'layerNorm', dtype, name: 'permuted view, no affine', run: () => layerNorm(stored([9, 4], 4, dtype).transpose(0, 1)), nativeKernels: nk('layerNorm') },
    { op: 'layerNorm', dtype, name: 'size 1 last dim (output = bias)', run: () => layerNorm(stored([5, 1], 5, dtype), stored([1], 6, dtype), stored([1], 7, dtype)), nativeKernels: nk('layerNorm') },
    {
      op: 'layerNorm', dtype, name: 'forward and backward', nativeKernels: nk('layerNorm'),
      run: () => {
        const [x, w, b] = leaves(stored([4, 33], 8, dtype), stored([33], 9, dtype), stored([33], 10, dtype));
        return withGrads(layerNorm(x!, w!, b!), [x!, w!, b!], 11);
      },
    },
    { op: 'rmsNorm', dtype, name: 'odd size [4, 33] with weight', run: () => rmsNorm(stored([4, 33], 12, dtype), stored([33], 13, dtype), 1e-6), nativeKernels: nk('rmsNorm') },
    { op: 'rmsNorm', dtype, name: 'size 1 [1, 1]', run: () => rmsNorm(stored([1, 1], 14, dtype), stored([1], 15, dtype)), nativeKernels: nk('rmsNorm') },
    { op: 'rmsNorm', dtype, name: 'narrowed view, no weight', run: () => rmsNorm(stored([3, 40], 16, dtype).narrow(1, 3, 31), null, 1e-5), nativeKernels: nk('rmsNorm') },
    {
      op: 'rmsNorm', dtype, name: 'forward and backward', nativeKernels: nk('rmsNorm'),
      run: () => {
        const [x, w] = leaves(stored([2, 3, 20], 17, dtype), stored([20], 18, dtype));
        return withGrads(rmsNorm(x!, w!), [x!, w!], 19);
      },
    },
    { op: 'softmax', dtype, name: 'odd size [5, 19], values up to ±30', run: () => softmax(stored([5, 19], 20, dtype, 10)), nativeKernels: nk('softmax') },
    { op: 'softmax', dtype, name: 'dim 0 (permuted) of [7, 3]', run: () => softmax(stored([7, 3], 21, dtype), 0), nativeKernels: nk('softmax') },
    { op: 'softmax', dtype, name: 'size 1', run: () => softmax(stored([4, 1], 22, dtype)), nativeKernels: nk('softmax') },
    { op: 'logSoftmax', dtype, name: 'odd size [3, 2, 23]', run: () => logSoftmax(stored([3, 2, 23], 23, dtype, 5)), nativeKernels: nk('softmax') },
    { op: 'logSoftmax', dtype, name: 'dim 1 of [2, 6, 5]', run: () => logSoftmax(stored([2, 6, 5], 24, dtype), 1), nativeKernels: nk('softmax') },
    {
      op: 'logSoftmax', dtype, name: 'forward and backward', nativeKernels: nk('softmax'),
      run: () => {
        const [x] = leaves(stored([3, 10], 25, dtype));
        return withGrads(logSoftmax(x!), [x!], 26);
      },
    },
    {
      op: 'rope', dtype, name: 'head-split view [2, 3, 5, 8] with ropeTables [5, 4]', nativeKernels: nk('rope'),
      run: () => {
        const { cos, sin } = ropeTables(ids([3, 4, 5, 6, 7]), 8, 10000);
        return rope(stored([2, 5, 3, 8], 27, dtype).transpose(1, 2), to(cos, dtype), to(sin, dtype));
      },
    },
    {
      op: 'rope', dtype, name: 'per-batch tables [2, 1, 6] for T = 1', nativeKernels: nk('rope'),
      run: () => {
        const { cos, sin } = ropeTables(ids([[17], [3]]), 12, 500000);
        return rope(stored([2, 4, 1, 12], 28, dtype), to(cos, dtype), to(sin, dtype));
      },
    },
    {
      op: 'scaledDotProductAttention', dtype, name: 'plain [2, 2, 5, 16]', atol: 2e-5, nativeKernels: nk('attention'),
      run: () => scaledDotProductAttention(stored([2, 2, 5, 16], 29, dtype), stored([2, 2, 5, 16], 30, dtype), stored([2, 2, 5, 16], 31, dtype)),
    },
    {
      op: 'scaledDotProductAttention', dtype, name: 'GQA 4:2, causal, KV prefix (Tq 3, Tk 7), key mask, Dv ≠ D', atol: 2e-5, nativeKernels: nk('attention'),
      run: () => {
        const keyMask = tensor([[1, 1, 0, 1, 1, 1, 1], [0, 0, 0, 0, 0, 1, 1]], { dtype: 'bool' });
        return scaledDotProductAttention(stored([2, 4, 3, 16], 32, dtype), stored([2, 2, 7, 16], 33, dtype), stored([2, 2, 7, 9], 34, dtype), { causal: true, keyMask });
      },
    },
    {
      op: 'scaledDotProductAttention', dtype, name: 'decode: one query over a head-split view cache', atol: 2e-5, nativeKernels: nk('attention'),
      run: () => scaledDotProductAttention(stored([1, 1, 8, 32], 35, dtype).transpose(1, 2), stored([1, 11, 2, 32], 36, dtype).transpose(1, 2), stored([1, 11, 2, 32], 37, dtype).transpose(1, 2), { causal: true }),
    },
    {
      op: 'scaledDotProductAttention', dtype, name: 'forward and backward, GQA causal with a row that sees no key', atol: 2e-5, nativeKernels: nk('attention'),
      run: () => {
        const keyMask = tensor([[0, 0, 1, 1], [1, 1, 1, 1]], { dtype: 'bool' });
        const [q, k, v] = leaves(stored([2, 4, 3, 8], 38, dtype), stored([2, 2, 4, 8], 39, dtype), stored([2, 2, 4, 8], 40, dtype));
        return withGrads(scaledDotProductAttention(q!, k!, v!, { causal: true, keyMask }), [q!, k!, v!], 41);
      },
    },
    {
      // Two tasks (batch 2 × one GQA pair) split their 1000 keys into chunks [0, 384), [384, 768), [768, 1000):
      // batch 0 masks the middle chunk wholly, batch 1 masks every key (zeros after the merge).
      op: 'scaledDotProductAttention', dtype, name: 'decode T = 1 split into key chunks: GQA 2:1 over 1000 positions, masked chunk, no visible key', atol: 2e-5, nativeKernels: nk('attention'),
      run: () => {
        const keyMask = tensor([Array.from({ length: 1000 }, (_, j) => (j >= 384 && j < 768 ? 0 : 1)), Array.from({ length: 1000 }, () => 0)], { dtype: 'bool' });
        return scaledDotProductAttention(stored([2, 2, 1, 32], 70, dtype), stored([2, 1, 1000, 32], 71, dtype), stored([2, 1, 1000, 32], 72, dtype), { causal: true, keyMask });
      },
    },
    { op: 'crossEntropy', dtype, name: 'logits [3, 5, 11] with ignored targets', nativeKernels: nk('crossEntropy'), run: () => crossEntropy(stored([3, 5, 11], 42, dtype, 3), ids([[1, -100, 10, 0, 4], [5, 5, 5, -100, 2], [9, 8, 7, 6, 3]])) },
    { op: 'crossEntropy', dtype, name: "size 1 vocabulary, reduction 'none'", nativeKernels: nk('crossEntropy'), run: () => crossEntropy(stored([4, 1], 43, dtype), ids([0, 0, -100, 0]), { reduction: 'none' }) },
    {
      op: 'crossEntropy', dtype, name: 'forward and backward on a transposed view', nativeKernels: nk('crossEntropy'),
      run: () => {
        const [l] = leaves(stored([13, 4], 44, dtype));
        const y = crossEntropy(l!.transpose(0, 1), ids([12, 0, -100, 7]));
        y.backward();
        return [y, l!.grad!];
      },
    },
    { op: 'indexAdd', dtype, name: 'repeated positions along dim 1', nativeKernels: nk('binary'), run: () => indexAdd(stored([3, 5], 45, dtype), 1, ids([4, 0, 4]), stored([3, 3], 46, dtype)) },
    { op: 'gather', dtype, name: 'dim 0 of a permuted view', nativeKernels: nk('indexSelect'), run: () => gather(stored([5, 4], 47, dtype).transpose(0, 1), 0, ids([[3, 0, 1, 2, 3], [0, 0, 0, 1, 1]])) },
  ];
}

const indexSelectRows = (['f32', 'f64', 'f16', 'bf16', 'i32', 'u8', 'bool'] as DType[]).flatMap((dtype): OpCase[] => {
  const x = (shape: number[], seed: number) => {
    if (dtype === 'i32' || dtype === 'u8' || dtype === 'bool') {
      const v = stored(shape, seed, 'f64', 4).toArray().map((a) => (dtype === 'i32' ? Math.round(a) : dtype === 'u8' ? Math.abs(Math.round(a * 30)) % 256 : a > 0 ? 1 : 0));
      return tensor(v, { shape, dtype });
    }
    return stored(shape, seed, dtype);
  };
  const nk = dtype === 'f32' ? ['indexSelect'] : [];
  return [
    { op: 'indexSelect', dtype, name: 'rows with repeats of [6, 7]', exact: true, nativeKernels: nk, run: () => indexSelect(x([6, 7], 48), 0, ids([5, 0, 5, 2])) },
    { op: 'indexSelect', dtype, name: 'dim 1 of a permuted 3-D view', exact: true, nativeKernels: nk, run: () => indexSelect(x([3, 4, 5], 49).permute(2, 0, 1), 1, ids([2, 1])) },
    { op: 'indexSelect', dtype, name: 'size 1', exact: true, nativeKernels: nk, run: () => indexSelect(x([1, 1], 50), 1, ids([0])) },
  ];
});

/**
 * Attention over f16/bf16 keys and values (a half KV cache read in place) with f32 queries: key blocks of
 * 64 and more, D not a multiple of 8, and the narrowed [.., 0:n, ..] views of a preallocated cache buffer.
 */
const halfAttentionRows = (['f16', 'bf16'] as DType[]).flatMap((dtype): OpCase[] => {
  const cacheView = (seed: number, Hkv: number, n: number, D: number) => stored([1, Hkv, 200, D], seed, dtype).narrow(2, 0, n);
  return [
    {
      op: 'scaledDotProductAttention', dtype, name: 'plain, non-causal [2, 2, 5, 16]', atol: 2e-5, nativeKernels: ['attention'],
      run: () => scaledDotProductAttention(stored([2, 2, 5, 16], 51, 'f32'), stored([2, 2, 5, 16], 52, dtype), stored([2, 2, 5, 16], 53, dtype)),
    },
    {
      op: 'scaledDotProductAttention', dtype, name: 'GQA 4:2, causal, prefix (Tq 5, Tk 90), key mask, D 20, Dv 12', atol: 2e-5, nativeKernels: ['attention'],
      run: () => {
        const keyMask = tensor([Array.from({ length: 90 }, (_, j) => (j % 7 === 3 ? 0 : 1)), Array.from({ length: 90 }, (_, j) => (j < 70 ? 0 : 1))], { dtype: 'bool' });
        return scaledDotProductAttention(stored([2, 4, 5, 20], 54, 'f32'), stored([2, 2, 90, 20], 55, dtype), stored([2, 2, 90, 12], 56, dtype), { causal: true, keyMask });
      },
    },
    {
      op: 'scaledDotProductAttention', dtype, name: 'decode T = 1, GQA 8:2, over 150 of 200 cache positions (narrowed views)', atol: 2e-5, nativeKernels: ['attention'],
      run: () => scaledDotProductAttention(stored([1, 8, 1, 64], 57, 'f32'), cacheView(58, 2, 150, 64), cacheView(59, 2, 150, 64), { causal: true }),
    },
    {
      op: 'scaledDotProductAttention', dtype, name: 'prefill T = 7 after 60 cached positions (narrowed views), batch-padded key mask', atol: 2e-5, nativeKernels: ['attention'],
      run: () => {
        const keyMask = tensor([Array.from({ length: 67 }, (_, j) => (j < 4 ? 0 : 1))], { dtype: 'bool' });
        return scaledDotProductAttention(stored([1, 2, 7, 40], 60, 'f32'), cacheView(61, 2, 67, 40), cacheView(62, 2, 67, 40), { causal: true, keyMask });
      },
    },
    {
      op: 'scaledDotProductAttention', dtype, name: 'decode T = 1 split into key chunks over 1000 of 2048 cache positions, odd dims D 20, Dv 12, masked chunk', atol: 2e-5, nativeKernels: ['attention'],
      run: () => {
        const keyMask = tensor([Array.from({ length: 1000 }, (_, j) => (j >= 384 && j < 768 ? 0 : 1))], { dtype: 'bool' });
        const view = (seed: number, D: number) => stored([1, 1, 2048, D], seed, dtype).narrow(2, 0, 1000);
        return scaledDotProductAttention(stored([1, 2, 1, 20], 73, 'f32'), view(74, 20), view(75, 12), { causal: true, keyMask });
      },
    },
    {
      // 4 heads × 3 queries make one 12-row task (blocks widened once), split into key chunks at 320 and 640.
      op: 'scaledDotProductAttention', dtype, name: 'Tq 3 after 897 cached, GQA 4:1 in one task split into key chunks, D 33, Dv 17', atol: 2e-5, nativeKernels: ['attention'],
      run: () => scaledDotProductAttention(stored([1, 4, 3, 33], 76, 'f32'), stored([1, 1, 900, 33], 77, dtype), stored([1, 1, 900, 17], 78, dtype), { causal: true }),
    },
    {
      op: 'scaledDotProductAttention', dtype, name: 'forward and backward to q (frozen k, v), GQA causal', atol: 2e-5, nativeKernels: ['attention'],
      run: () => {
        const [q] = leaves(stored([1, 4, 3, 24], 63, 'f32'));
        return withGrads(scaledDotProductAttention(q!, stored([1, 2, 70, 24], 64, dtype), stored([1, 2, 70, 24], 65, dtype), { causal: true }), [q!], 66);
      },
    },
  ];
});

export const cases: OpCase[] = [...FLOATS.flatMap(floatRows), ...halfAttentionRows, ...indexSelectRows];
