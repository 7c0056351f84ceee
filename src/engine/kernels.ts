/**
 * The kernel interface every backend implements. Ops (src/engine/ops) validate shapes and dtypes,
 * allocate outputs and then call kernels through `dispatch`; kernels only compute.
 *
 * Contracts shared by all kernels:
 * - `out` is freshly allocated and contiguous unless a kernel says otherwise; inputs may be any strided
 *   view (including stride-0 broadcast views) unless stated.
 * - A kernel returns nothing when it did the work, or `false` / a short reason string when it does not
 *   support the given dtypes or layouts; `dispatch` then runs the reference (`ts`) kernel and records the
 *   fallback (visible with LLAVA_DEBUG=fallback).
 * - Float compute is f32 (f64 in the `ts` backend for gradient checks); f16/bf16/q8_0/q4_0 appear only
 *   as weight inputs of matmul/linear/embedding and as copy sources/targets.
 *
 * Not here: autograd (ops own backward formulas), allocation policy, thread counts.
 */
import type { Tensor } from './tensor.js';

export type UnaryOp =
  | 'neg' | 'abs' | 'sign' | 'exp' | 'log' | 'sqrt' | 'rsqrt' | 'square' | 'reciprocal'
  | 'sin' | 'cos' | 'tanh' | 'sigmoid' | 'relu'
  | 'gelu' /* erf form */ | 'geluTanh' | 'quickGelu' | 'silu'
  | 'erf';
export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum';
export type CompareOp = 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge';
export type ReduceOp = 'sum' | 'max' | 'min' | 'argmax' | 'argmin';

export type KernelResult = void | false | string;

export interface AttentionOptions {
  /** Query i (of Tq) sits at absolute position (Tk − Tq + i) and sees keys at positions ≤ that. */
  causal: boolean;
  /** [B, Tk] bool, 1 = key may be attended (padding mask); null = all keys. */
  keyMask: Tensor | null;
  /** Multiplies QKᵀ; usually 1/sqrt(headDim). */
  scale: number;
}

export interface Kernels {
  /** out[...] = value. */
  fill(out: Tensor, value: number): KernelResult;
  /**
   * out = src elementwise with dtype conversion (same shape; `out` may be a strided view, e.g. a slice of
   * a KV cache or of a `cat` result). Conversions: any of f32/f64/i32/u8/bool to each other; f32/f64 →
   * f16/bf16 (round to nearest even) and back; q8_0/q4_0 → f32 (dequantize) when both are contiguous.
   */
  copy(out: Tensor, src: Tensor): KernelResult;
  /** out = op(x) (alpha: exponent for no op yet; reserved). x and out same shape. */
  unary(op: UnaryOp, out: Tensor, x: Tensor): KernelResult;
  /** out = op(a, b); a and b already expanded (stride 0) to out's shape; same float dtype as out. */
  binary(op: BinaryOp, out: Tensor, a: Tensor, b: Tensor): KernelResult;
  /** out (bool) = a op b; a, b expanded to out's shape; a and b share a dtype (float, i32, u8 or bool). */
  compare(op: CompareOp, out: Tensor, a: Tensor, b: Tensor): KernelResult;
  /** out = cond ? a : b; all expanded to out's shape; cond bool. */
  where(out: Tensor, cond: Tensor, a: Tensor, b: Tensor): KernelResult;
  /**
   * Reduce x over `axes` (sorted, distinct) into out, which has x's rank with those dims set to 1.
   * sum/max/min keep x's float dtype; argmax/argmin write i32 (index along the single axis; first on ties).
   */
  reduce(op: ReduceOp, out: Tensor, x: Tensor, axes: readonly number[]): KernelResult;
  /**
   * Batched matmul: out [...batch, M, N] = a [...batch, M, K] · b [...batch, K, N]; a and b already
   * expanded to out's batch dims. a f32/f64; b f32/f64/f16/bf16 (converted per tile).
   */
  matmul(out: Tensor, a: Tensor, b: Tensor): KernelResult;
  /**
   * out [M, N] = x [M, K] · wᵀ + bias, with w [N, K] the weight matrix in f32/f64/f16/bf16/q8_0/q4_0.
   * x is f32 (f64 too with f32/f64/f16/bf16 weights, in the reference backend). For q8_0/q4_0 weights, x
   * is quantized per 32-block to q8_0 and the integer dot products are accumulated exactly as quant.ts
   * specifies, then the bias is added once in f32: out = fl(acc + bias) (all backends agree to the bit).
   */
  linear(out: Tensor, x: Tensor, w: Tensor, bias: Tensor | null): KernelResult;
  /** out [n, D] (f32/f64) = rows of weight [V, D] (any weight dtype) at ids [n] (i32, validated by the op). */
  embedding(out: Tensor, weight: Tensor, ids: Tensor): KernelResult;
  /** Over the last dim: (x − mean)/sqrt(var + eps)·w + b, biased variance; w, b optional [D]. */
  layerNorm(out: Tensor, x: Tensor, weight: Tensor | null, bias: Tensor | null, eps: number): KernelResult;
  /** Over the last dim, HF LLaMA order: x̂ = x·rsqrt(mean(x²) + eps), then x̂·w. */
  rmsNorm(out: Tensor, x: Tensor, weight: Tensor | null, eps: number): KernelResult;
  /** Softmax (or log-softmax) over the last dim. */
  softmax(out: Tensor, x: Tensor, log: boolean): KernelResult;
  /**
   * Rotary embedding, rotate_half layout: x [B, H, T, D] (any strides), cos/sin [B, T, D/2] (expanded);
   * out[..., i] = x[i]·cos[i] − x[i + D/2]·sin[i], out[..., i + D/2] = x[i + D/2]·cos[i] + x[i]·sin[i].
   */
  rope(out: Tensor, x: Tensor, cos: Tensor, sin: Tensor): KernelResult;
  /**
   * Fused scaled-dot-product attention forward: q [B, Hq, Tq, D], k [B, Hkv, Tk, D], v [B, Hkv, Tk, Dv]
   * (any strides; Hq a multiple of Hkv, query head h uses kv head floor(h·Hkv/Hq)); out [B, Hq, Tq, Dv].
   * k and v share q's dtype or are both f16/bf16 (decoded exactly; out has q's dtype).
   * Softmax in f32; a query row with no visible key yields zeros.
   */
  attention(out: Tensor, q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions): KernelResult;
  /** Per-row loss out [N] = logsumexp(logits[n]) − logits[n, t[n]]; rows with t[n] = ignoreIndex get 0. */
  crossEntropy(out: Tensor, logits: Tensor, targets: Tensor, ignoreIndex: number): KernelResult;
  /** Quantize x [N, K] (f32, contiguous, K % 32 == 0) into out (q8_0 or q4_0, [N, K]). */
  quantize(out: Tensor, x: Tensor): KernelResult;
  /** out = x gathered along `axis` at idx (i32, 1-D, validated): out.shape[axis] = idx.length. */
  indexSelect(out: Tensor, x: Tensor, axis: number, idx: Tensor): KernelResult;
}

export type KernelName = keyof Kernels;
export const KERNEL_NAMES: readonly KernelName[] = [
  'fill', 'copy', 'unary', 'binary', 'compare', 'where', 'reduce', 'matmul', 'linear', 'embedding',
  'layerNorm', 'rmsNorm', 'softmax', 'rope', 'attention', 'crossEntropy', 'quantize', 'indexSelect',
];
