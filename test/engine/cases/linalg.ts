/**
 * Consistency rows for matmul, linear, embedding and conv2d. The row dtype is the weight's (b's for
 * matmul); activations are f32 except on f64 rows. Quantized linear rows are exact: the integer path is
 * bit-exact by contract.
 */
import {
  conv2d, embedding, linear, matmul, randn, sum, tensor, type DType, type Tensor,
} from '../../../src/index.js';
import type { OpCase } from './types.js';

/** Seeded values stored in `dtype` (rounded/quantized on the host, identically for every backend). */
export function stored(shape: number[], seed: number, dtype: DType, scale = 1): Tensor {
  const v = randn(shape, { seed, dtype: 'f64' }).toArray().map((x) => x * scale);
  return tensor(v, { shape, dtype });
}

/** f32 activations on rows whose weight is not f64, f64 otherwise. */
const act = (dtype: DType): DType => (dtype === 'f64' ? 'f64' : 'f32');
const native = (dtype: DType, k: string[]) => (dtype === 'f64' ? [] : k);

/** A transposed view with the given logical shape. */
function transposed(shape: [number, number], seed: number, dtype: DType): Tensor {
  return stored([shape[1], shape[0]], seed, dtype).transpose(0, 1);
}

const ids = (v: number[][]) => tensor(v, { dtype: 'i32' });

const matmulRows = (['f32', 'f64', 'f16', 'bf16'] as DType[]).flatMap((dtype): OpCase[] => [
  {
    op: 'matmul', dtype, name: 'odd sizes, batch broadcast [2, 1, 7, 9] · [3, 9, 5]',
    run: () => matmul(stored([2, 1, 7, 9], 1, act(dtype)), stored([3, 9, 5], 2, dtype)),
    nativeKernels: native(dtype, ['matmul']),
  },
  {
    op: 'matmul', dtype, name: 'size 1 [1, 1] · [1, 1]',
    run: () => matmul(stored([1, 1], 3, act(dtype)), stored([1, 1], 4, dtype)),
    nativeKernels: native(dtype, ['matmul']),
  },
  {
    op: 'matmul', dtype, name: 'transposed views [13, 33] · [33, 17]',
    run: () => matmul(transposed([13, 33], 5, act(dtype)), transposed([33, 17], 6, dtype)),
    atol: 1e-4, nativeKernels: native(dtype, ['matmul']),
  },
  {
    op: 'matmul', dtype, name: '1-D · 2-D (vector-matrix)',
    run: () => matmul(stored([21], 7, act(dtype)), stored([21, 11], 8, dtype)),
    nativeKernels: native(dtype, ['matmul']),
  },
]);

matmulRows.push(
  ...(['f32', 'f64'] as DType[]).map((dtype): OpCase => ({
    op: 'matmul', dtype, name: 'forward and backward [2, 5, 6] · [6, 3]',
    run: () => {
      const a = stored([2, 5, 6], 9, dtype);
      const b = stored([6, 3], 10, dtype);
      a.requiresGrad = b.requiresGrad = true;
      const y = matmul(a, b);
      sum(y).backward();
      return [y, a.grad!, b.grad!];
    },
    nativeKernels: native(dtype, ['matmul']),
  })),
);

const quant = (dtype: DType) => dtype === 'q8_0' || dtype === 'q4_0';

const linearRows = (['f32', 'f64', 'f16', 'bf16', 'q8_0', 'q4_0'] as DType[]).flatMap((dtype): OpCase[] => [
  {
    op: 'linear', dtype, name: 'odd rows [3, 64] · [5, 64]ᵀ + bias',
    run: () => linear(stored([3, 64], 11, act(dtype)), stored([5, 64], 12, dtype, 0.2), stored([5], 13, act(dtype))),
    exact: quant(dtype), atol: 1e-4, nativeKernels: native(dtype, ['linear']),
  },
  {
    op: 'linear', dtype, name: 'one row (decode) [1, 1, 96], 37 outputs, no bias',
    run: () => linear(stored([1, 1, 96], 14, act(dtype)), stored([37, 96], 15, dtype, 0.2)),
    exact: quant(dtype), atol: 1e-4, nativeKernels: native(dtype, ['linear']),
  },
  {
    op: 'linear', dtype, name: 'non-contiguous x (columns 16..80 of [4, 96])',
    run: () => linear(stored([4, 96], 16, act(dtype)).narrow(1, 16, 64), stored([3, 64], 17, dtype, 0.2), stored([3], 18, act(dtype))),
    exact: quant(dtype), atol: 1e-4, nativeKernels: native(dtype, ['linear']),
  },
]);

linearRows.push(
  // Quantized weights have no backward row: their rows must be exact, and gradients run through float matmul.
  ...(['f32', 'f64', 'f16'] as DType[]).map((dtype): OpCase => ({
    op: 'linear', dtype, name: 'forward and backward to x (and float w, bias)',
    run: () => {
      const x = stored([3, 64], 19, act(dtype));
      const w = stored([5, 64], 20, dtype, 0.2);
      const b = stored([5], 21, act(dtype));
      x.requiresGrad = b.requiresGrad = true;
      if (dtype === 'f32' || dtype === 'f64') w.requiresGrad = true;
      const y = linear(x, w, b);
      y.backward(stored([3, 5], 22, act(dtype)));
      return w.grad ? [y, x.grad!, w.grad, b.grad!] : [y, x.grad!, b.grad!];
    },
    atol: 1e-4, nativeKernels: native(dtype, ['linear']),
  })),
);

// Quantized prefill: the AVX2 kernel switches from 8-row tiles to the blocked GEMM at 8 activation rows
// (GEMM_MIN_M, native/src/kernels/quant_common.h), runs 4 rows × 16 outputs per micro-tile and repacks the
// weight in tiles of up to 16 groups of 8 rows per thread: rows around the switch, row and output counts
// off those multiples, one block of K, and a weight spanning several tiles.
linearRows.push(
  ...(['q8_0', 'q4_0'] as DType[]).flatMap((dtype): OpCase[] => [
    {
      op: 'linear', dtype, name: 'prefill [7, 96] · [37, 96]ᵀ + bias (one row below the GEMM)',
      run: () => linear(stored([7, 96], 40, 'f32'), stored([37, 96], 41, dtype, 0.2), stored([37], 42, 'f32')),
      exact: true, nativeKernels: ['linear'],
    },
    {
      op: 'linear', dtype, name: 'prefill [8, 32] · [37, 32]ᵀ + bias (GEMM threshold, one block of K)',
      run: () => linear(stored([8, 32], 43, 'f32'), stored([37, 32], 44, dtype, 0.2), stored([37], 45, 'f32')),
      exact: true, nativeKernels: ['linear'],
    },
    {
      op: 'linear', dtype, name: 'prefill [3, 7, 160] · [23, 160]ᵀ (21 rows, odd groups of outputs)',
      run: () => linear(stored([3, 7, 160], 46, 'f32', 3), stored([23, 160], 47, dtype, 0.2)),
      exact: true, nativeKernels: ['linear'],
    },
    {
      op: 'linear', dtype, name: 'prefill non-contiguous x (columns 16..80 of [23, 96]) · [530, 64]ᵀ (several weight tiles)',
      run: () => linear(stored([23, 96], 48, 'f32').narrow(1, 16, 64), stored([530, 64], 49, dtype, 0.2), stored([530], 50, 'f32')),
      exact: true, nativeKernels: ['linear'],
    },
  ]),
);

const embeddingRows = (['f32', 'f64', 'f16', 'bf16', 'q8_0', 'q4_0'] as DType[]).flatMap((dtype): OpCase[] => [
  {
    op: 'embedding', dtype, name: 'ids [2, 3] with repeats from [7, 32]',
    run: () => embedding(stored([7, 32], 23, dtype), ids([[6, 0, 6], [3, 3, 1]])),
    exact: true, nativeKernels: native(dtype, ['embedding']),
  },
  {
    op: 'embedding', dtype, name: 'one id from one row',
    run: () => embedding(stored([1, 64], 24, dtype), ids([[0]])),
    exact: true, nativeKernels: native(dtype, ['embedding']),
  },
]);

const conv2dRows = (['f32', 'f64', 'f16', 'bf16'] as DType[]).map((dtype): OpCase => ({
  op: 'conv2d', dtype, name: 'patches 4×3 of [2, 3, 9, 10] with remainder and bias',
  run: () => conv2d(stored([2, 3, 9, 10], 25, act(dtype)), stored([4, 3, 4, 3], 26, dtype, 0.3), stored([4], 27, act(dtype)), { stride: [4, 3] }),
  atol: 1e-4, nativeKernels: native(dtype, ['linear']),
}));

export const cases: OpCase[] = [...matmulRows, ...linearRows, ...embeddingRows, ...conv2dRows];
