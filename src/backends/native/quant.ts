/**
 * Native wrappers for weight-format kernels: linear with q8_0/q4_0 weights (exact integer path),
 * few-row (decode) linear with f32/f16/bf16 weights, embedding lookup from any weight dtype, quantization.
 * Argument layouts are documented in native/src/kernels/quant_common.h.
 *
 * Each wrapper declines (returns a reason) for dtypes or layouts its kernel does not take — f64 tensors,
 * activation or output rows that are not unit-stride — so dispatch falls back to `ts` visibly.
 * Not here: the packed GEMM for many rows of float weights (linalg.ts hands those on).
 */
import { isQuant, QK, QUANT_BLOCK_BYTES, storageLength, type DType } from '../../engine/dtype.js';
import type { Kernels, KernelResult } from '../../engine/kernels.js';
import type { Tensor } from '../../engine/tensor.js';
import { runKernel } from './addon.js';

/** Weight type codes of the native kernels. */
const WTYPE: Partial<Record<DType, number>> = { f32: 0, f16: 1, bf16: 2, q8_0: 3, q4_0: 4 };

/**
 * Activation rows up to which the matvec kernels take float weights: they read the weights once and beat
 * the packed GEMM through 16 rows (4096×4096 f16/bf16/f32, 2 threads: 2.3 vs 3.6 ms at 8 rows, 3.9 vs
 * 4.7 ms at 16); linalg.ts asks them first up to the same count.
 */
export const SMALL_M_MAX = 16;

const NO_BIAS = new Float32Array(0);

// Quantized activations (and their scales) for quant_linear, reused across calls: no allocation per token.
let scratch = new Uint8Array(0);
function scratchFor(bytes: number): Uint8Array {
  if (scratch.length < bytes) scratch = new Uint8Array(Math.max(bytes, scratch.length * 2));
  return scratch;
}

/** Bytes of scratch quant_linear needs for M rows of K values (mirrors quant_linear_scratch, quant.cc). */
function quantLinearScratch(M: number, K: number): number {
  const nb = K / QK;
  const nbp = Math.ceil(nb / 8) * 8;
  return Math.ceil((M * nb * QUANT_BLOCK_BYTES.q8_0) / 32) * 32 + M * nbp * 8;
}

/** Row stride to pass for a 2-D tensor: any value is valid for a single row, so use the dense one. */
function rowStride(t: Tensor): number {
  return t.shape[0] === 1 ? t.shape[1]! : t.strides[0]!;
}
function unitRows(t: Tensor): boolean {
  return t.ndim === 2 && (t.shape[1]! <= 1 || t.strides[1] === 1);
}

function checkLinear(out: Tensor, x: Tensor, w: Tensor, bias: Tensor | null): string | null {
  if (out.dtype !== 'f32' || x.dtype !== 'f32' || (bias && bias.dtype !== 'f32')) return 'native linear takes f32 activations, output and bias';
  if (x.ndim !== 2 || w.ndim !== 2 || out.ndim !== 2) return 'native linear takes 2-D x, w and out';
  if (!unitRows(x) || !unitRows(out)) return 'native linear needs unit-stride rows of x and out';
  const [M, K] = x.shape as [number, number];
  const N = w.shape[0]!;
  if (w.shape[1] !== K || out.shape[0] !== M || out.shape[1] !== N || (bias && (bias.ndim !== 1 || bias.shape[0] !== N))) {
    return 'shapes do not match';
  }
  return null;
}

function biasArgs(bias: Tensor | null): [Float32Array, number[]] {
  return bias ? [bias.data as Float32Array, [1, bias.offset, bias.strides[0]!]] : [NO_BIAS, [0, 0, 0]];
}

/**
 * linear() for q8_0/q4_0 weights, any number of rows (called by linalg.ts). `gemmMinRows` overrides the
 * row count from which the AVX2 kernel takes its blocked GEMM (a benchmark knob; default: the kernel's).
 */
export function quantLinear(out: Tensor, x: Tensor, w: Tensor, bias: Tensor | null, gemmMinRows = -1): KernelResult {
  if (!isQuant(w.dtype)) return `quantLinear takes q8_0/q4_0 weights, not ${w.dtype}`;
  const bad = checkLinear(out, x, w, bias);
  if (bad) return bad;
  const [M, K] = x.shape as [number, number];
  if (K % QK !== 0) return `K = ${K} is not a multiple of ${QK}`;
  const [b, bp] = biasArgs(bias);
  runKernel('quant_linear', [out.data, x.data, w.data, b, scratchFor(quantLinearScratch(M, K))], [
    WTYPE[w.dtype]!, M, w.shape[0]!, K, x.offset, rowStride(x), storageLength(w.dtype, w.offset),
    out.offset, rowStride(out), ...bp, gemmMinRows,
  ]);
}

/**
 * linear() for few activation rows (decode) with f32/f16/bf16/q8_0/q4_0 weights: memory-bound matvec /
 * small-M kernels. Returns a reason when the shape is better served by the packed GEMM (linalg.ts).
 */
export function smallMLinear(out: Tensor, x: Tensor, w: Tensor, bias: Tensor | null): KernelResult {
  if (isQuant(w.dtype)) return quantLinear(out, x, w, bias);
  if (w.dtype !== 'f32' && w.dtype !== 'f16' && w.dtype !== 'bf16') return `small-M linear takes f32/f16/bf16 weights, not ${w.dtype}`;
  const bad = checkLinear(out, x, w, bias);
  if (bad) return bad;
  const M = x.shape[0]!;
  if (M > SMALL_M_MAX) return `small-M linear is for at most ${SMALL_M_MAX} rows (M = ${M})`;
  if (!unitRows(w)) return 'small-M linear needs unit-stride weight rows';
  const [b, bp] = biasArgs(bias);
  runKernel('small_m_linear', [out.data, x.data, w.data, b], [
    WTYPE[w.dtype]!, M, w.shape[0]!, x.shape[1]!, x.offset, rowStride(x), w.offset, rowStride(w),
    out.offset, rowStride(out), ...bp,
  ]);
}

export const quantKernels: Partial<Kernels> = {
  embedding(out, weight, ids) {
    if (out.dtype !== 'f32') return 'native embedding writes f32';
    const wt = WTYPE[weight.dtype];
    if (wt === undefined) return `native embedding reads f32/f16/bf16/q8_0/q4_0 weights, not ${weight.dtype}`;
    if (ids.dtype !== 'i32' || ids.ndim !== 1 || weight.ndim !== 2 || !unitRows(out)) return 'native embedding needs i32 ids [n], weight [V, D] and unit-stride output rows';
    if (!isQuant(weight.dtype) && !unitRows(weight)) return 'native embedding needs unit-stride weight rows';
    const [V, D] = weight.shape as [number, number];
    const n = ids.shape[0]!;
    if (out.shape[0] !== n || out.shape[1] !== D) return 'shapes do not match';
    runKernel('embedding_rows', [out.data, weight.data, ids.data], [
      wt, n, D, V, out.offset, rowStride(out),
      isQuant(weight.dtype) ? storageLength(weight.dtype, weight.offset) : weight.offset, rowStride(weight),
      ids.offset, ids.strides[0]!,
    ]);
  },

  quantize(out, x) {
    if (!isQuant(out.dtype) || x.dtype !== 'f32') return 'native quantize takes f32 input and q8_0/q4_0 output';
    if (x.ndim !== 2 || out.ndim !== 2 || !unitRows(x) || x.shape[0] !== out.shape[0] || x.shape[1] !== out.shape[1]) {
      return 'native quantize needs x [N, K] with unit-stride rows matching out';
    }
    const [N, K] = x.shape as [number, number];
    if (K % QK !== 0) return `K = ${K} is not a multiple of ${QK}`;
    runKernel('quantize_rows', [out.data, x.data], [WTYPE[out.dtype]!, N, K, x.offset, rowStride(x), storageLength(out.dtype, out.offset)]);
  },
};
