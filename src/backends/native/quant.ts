/**
 * Native wrappers for weight-format kernels: linear with q8_0/q4_0 weights (exact integer path),
 * half/quantized matvec for decode, embedding lookup from any weight dtype, quantization.
 */
import type { Kernels, KernelResult } from '../../engine/kernels.js';
import type { Tensor } from '../../engine/tensor.js';

/** linear() for q8_0/q4_0 weights (called by linalg.ts). */
export function quantLinear(_out: Tensor, _x: Tensor, _w: Tensor, _bias: Tensor | null): KernelResult {
  return 'native quantized linear is not written yet';
}

/**
 * linear() for few activation rows (decode) with f32/f16/bf16/q8_0/q4_0 weights: memory-bound matvec /
 * small-M kernels. Returns a reason when the shape is better served by the packed GEMM (linalg.ts).
 */
export function smallMLinear(_out: Tensor, _x: Tensor, _w: Tensor, _bias: Tensor | null): KernelResult {
  return 'native small-M linear is not written yet';
}

export const quantKernels: Partial<Kernels> = {};
