/**
 * Consistency rows for `quantize` (f32/f64 → q8_0/q4_0). Rows are exact: every backend writes the block
 * bytes that engine/quant.ts specifies (compared through their dequantized values, which differ whenever
 * the bytes do, except for the q4_0 nibble of an all-zero scale).
 */
import { mul, permute, quantize, randn, tensor, type DType, type Tensor } from '../../../src/index.js';
import type { OpCase } from './types.js';

/** Rows of varied scale, including a zero block and blocks with exact ties (values k + 0.5 at scale 1). */
function values(shape: number[], seed: number, dtype: DType): Tensor {
  const x = randn(shape, { seed, dtype });
  const d = x.data;
  for (let i = 0; i < Math.min(32, d.length); i++) d[i] = 0;
  if (d.length >= 64) {
    d[32] = 127;
    for (let j = 33; j < 64; j++) d[j] = ((j % 7) - 3) + 0.5;
  }
  const scale = tensor(Array.from({ length: shape[shape.length - 1]! }, (_, i) => 1 + (i % 5)), { dtype });
  return mul(x, scale);
}

export const cases: OpCase[] = [
  ...(['q8_0', 'q4_0'] as const).map((q): OpCase => ({
    op: 'quantize', dtype: 'f32', name: `to ${q}: [5, 96] with zero and tie blocks`,
    run: () => quantize(values([5, 96], 31, 'f32'), q),
    exact: true, nativeKernels: ['quantize'],
  })),
  {
    op: 'quantize', dtype: 'f32', name: 'to q4_0: 3-D [3, 2, 64] from a transposed view',
    run: () => quantize(permute(values([3, 64, 2], 32, 'f32'), [0, 2, 1]), 'q4_0'),
    exact: true, nativeKernels: ['quantize'],
  },
  {
    op: 'quantize', dtype: 'f64', name: 'to q8_0: [4, 32] (rounded to f32 first)',
    run: () => quantize(values([4, 32], 33, 'f64'), 'q8_0'),
    exact: true, nativeKernels: ['quantize'],
  },
];
