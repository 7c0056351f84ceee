/**
 * Consistency rows for elementwise, view and reduction ops.
 */
import { add, randn, type DType } from '../../../src/index.js';
import type { OpCase } from './types.js';

const FLOATS: DType[] = ['f32', 'f64'];

export const cases: OpCase[] = [
  ...FLOATS.map((dtype): OpCase => ({
    op: 'add',
    dtype,
    name: 'broadcast [3,1,5] + [4,1]',
    run: () => add(randn([3, 1, 5], { seed: 1, dtype }), randn([4, 1], { seed: 2, dtype })),
    nativeKernels: dtype === 'f32' ? ['binary'] : [],
  })),
];
