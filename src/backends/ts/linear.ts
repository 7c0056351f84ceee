/**
 * Reference weight-matrix kernels: linear (f32/f64/f16/bf16 weights, and q8_0/q4_0 through the exact
 * integer path of engine/quant.ts), embedding lookup from any weight dtype, and quantization.
 */
import type { KernelResult } from '../../engine/kernels.js';
import type { Tensor } from '../../engine/tensor.js';

export function linear(_out: Tensor, _x: Tensor, _w: Tensor, _bias: Tensor | null): KernelResult {
  return 'ts linear is not written yet';
}

export function embedding(_out: Tensor, _weight: Tensor, _ids: Tensor): KernelResult {
  return 'ts embedding is not written yet';
}

export function quantize(_out: Tensor, _x: Tensor): KernelResult {
  return 'ts quantize is not written yet';
}
