/**
 * Native wrappers for fill/copy/unary/binary/compare/where/reduce. Each wrapper declines (returns a
 * reason) for dtypes or layouts its kernel does not take, so dispatch falls back to `ts` visibly.
 */
import type { Kernels } from '../../engine/kernels.js';
import { runKernel } from './addon.js';

export const elementwiseKernels: Partial<Kernels> = {
  fill(out, value) {
    if (out.dtype !== 'f32' || !out.isContiguous()) return 'fill: contiguous f32 only';
    runKernel('fill_f32', [out.data], [out.offset, out.numel, value]);
  },
};
