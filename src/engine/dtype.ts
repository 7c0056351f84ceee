/**
 * Data types of tensor storage.
 *
 * `f32` is the compute type; `f64` exists in the `ts` backend for finite-difference gradient checks.
 * `f16`/`bf16` are weight storage (Uint16Array bit patterns), converted per tile inside kernels.
 * `q8_0`/`q4_0` are llama.cpp's block-quantized weight layouts (see quant.ts), stored as raw bytes:
 * a tensor of these types is a matrix [rows, cols] whose rows are sequences of 32-element blocks.
 * `i32` holds ids, `u8`/`bool` hold bytes and masks (bool is 0/1 in a Uint8Array).
 */

export type DType = 'f32' | 'f64' | 'f16' | 'bf16' | 'i32' | 'u8' | 'bool' | 'q8_0' | 'q4_0';
export type FloatDType = 'f32' | 'f64';
export type HalfDType = 'f16' | 'bf16';
export type QuantDType = 'q8_0' | 'q4_0';

export type TypedArray = Float32Array | Float64Array | Uint16Array | Int32Array | Uint8Array;

export const ALL_DTYPES: readonly DType[] = ['f32', 'f64', 'f16', 'bf16', 'i32', 'u8', 'bool', 'q8_0', 'q4_0'];

/** Elements per quantization block and bytes per block, as in ggml (block_q8_0 / block_q4_0). */
export const QK = 32;
export const QUANT_BLOCK_BYTES: Record<QuantDType, number> = { q8_0: 2 + QK, q4_0: 2 + QK / 2 };

export function isFloat(d: DType): d is FloatDType {
  return d === 'f32' || d === 'f64';
}
export function isHalf(d: DType): d is HalfDType {
  return d === 'f16' || d === 'bf16';
}
export function isQuant(d: DType): d is QuantDType {
  return d === 'q8_0' || d === 'q4_0';
}
/** Types a weight matrix may be stored in (matmul/linear/embedding read them directly). */
export function isWeightDType(d: DType): boolean {
  return d === 'f32' || d === 'f64' || isHalf(d) || isQuant(d);
}

/** Bytes per element of the backing typed array (quantized: 1, the array is raw block bytes). */
export function arrayItemBytes(d: DType): number {
  switch (d) {
    case 'f64': return 8;
    case 'f32': case 'i32': return 4;
    case 'f16': case 'bf16': return 2;
    case 'u8': case 'bool': case 'q8_0': case 'q4_0': return 1;
  }
}

/**
 * Length of the backing typed array for `numel` logical elements. Quantized storage must hold whole
 * blocks; callers guarantee `numel % 32 === 0` (rows of other lengths are not quantized).
 */
export function storageLength(d: DType, numel: number): number {
  if (isQuant(d)) {
    if (numel % QK !== 0) throw new Error(`${d}: ${numel} elements is not a whole number of ${QK}-element blocks`);
    return (numel / QK) * QUANT_BLOCK_BYTES[d];
  }
  return numel;
}

export function allocArray(d: DType, length: number): TypedArray {
  switch (d) {
    case 'f32': return new Float32Array(length);
    case 'f64': return new Float64Array(length);
    case 'f16': case 'bf16': return new Uint16Array(length);
    case 'i32': return new Int32Array(length);
    case 'u8': case 'bool': case 'q8_0': case 'q4_0': return new Uint8Array(length);
  }
}

/** Check that a typed array is the right kind of backing store for `d`. */
export function arrayMatches(d: DType, a: TypedArray): boolean {
  switch (d) {
    case 'f32': return a instanceof Float32Array;
    case 'f64': return a instanceof Float64Array;
    case 'f16': case 'bf16': return a instanceof Uint16Array;
    case 'i32': return a instanceof Int32Array;
    default: return a instanceof Uint8Array;
  }
}
