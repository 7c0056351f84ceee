/**
 * Reference batched matmul (f32/f64 A; f32/f64/f16/bf16 B decoded per element).
 */
import type { KernelResult } from '../../engine/kernels.js';
import type { Tensor } from '../../engine/tensor.js';

export function matmul(_out: Tensor, _a: Tensor, _b: Tensor): KernelResult {
  return 'ts matmul is not written yet';
}
