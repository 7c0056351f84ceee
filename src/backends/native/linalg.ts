/**
 * Native wrappers for matmul and linear. Float weights (f32/f16/bf16) go to the packed GEMM (or the
 * matvec kernels for a few rows); quantized weights are handed to quant.ts.
 */
import type { Kernels } from '../../engine/kernels.js';
import { isQuant } from '../../engine/dtype.js';
import { quantLinear, smallMLinear } from './quant.js';

export const linalgKernels: Partial<Kernels> = {
  linear(out, x, w, bias) {
    if (isQuant(w.dtype)) return quantLinear(out, x, w, bias);
    const small = smallMLinear(out, x, w, bias);
    if (small === undefined) return;
    return 'native float linear is not written yet';
  },
};
