/**
 * llama.cpp's block formats, bit for bit (ggml `block_q8_0` and `block_q4_0`), and the integer dot
 * product that matmul uses for them. This file is the specification every backend must match exactly.
 *
 * q8_0, 34 bytes per 32 values:  f16 d = amax/127, then 32 int8 q = round(x · (127/amax)) (ties to even),
 *   exactly as llama.cpp's AVX2 `quantize_row_q8_0` computes it (f32 arithmetic, `vroundps` nearest-even,
 *   `vcvtps2dq` then saturating packs). Dequantized value: q·d.
 * q4_0, 18 bytes per 32 values:  f16 d = max/−8 where max is the signed value of largest magnitude (the
 *   first one on ties), then 16 bytes qs[j] = q[j] | q[j+16] << 4 with q = min(15, trunc(x·id + 8.5)),
 *   id = 1/d in f32 (d before rounding to f16), as ggml's `quantize_row_q4_0_ref`. Dequantized: (q − 8)·d.
 * The f16 scale is stored little-endian, rounded to nearest even (F16C `vcvtps2ph`).
 * ggml's scalar q8_0 reference (`quantize_row_q8_0_ref`) differs slightly: it multiplies by 1/d instead of
 * 127/amax (the two reciprocals can differ in the last bit) and rounds ties away from zero, so a value
 * landing on or next to a half-integer may get a neighbouring quant. Blocks of either are valid q8_0.
 *
 * Non-finite inputs (defined so that all backends agree): where x·id is ±Inf or NaN, a q8_0 quant is −128
 * (what `vcvtps2dq` + saturating packs give) and a q4_0 quant is 0 for NaN/−Inf and 15 for +Inf. NaN in a
 * block makes its q8_0 scale unspecified (NaN payloads do not survive JavaScript), so the consistency
 * tests use finite values; any such block is still in range and readable.
 *
 * Matmul with a quantized weight: each 32-block of the activation row is itself quantized to q8_0; for an
 * output (m, n) the reference accumulates, block by block in order and in f32 without fused multiply-add,
 *   acc = fl(acc + fl(fl(dx_b · dw_b) · isum_b)),  isum_b = Σ_j qx_j · qw_j  (exact int32),
 * where qw_j is the signed weight quant (q − 8 for q4_0). That order is SIMD friendly (vector lanes run
 * over outputs, never over blocks of one output), which is why it is the contract. It is ours, not
 * llama.cpp's: ggml keeps 8 per-lane partial sums per output (fused multiply-add) and reduces them at the
 * end, so our outputs match ggml's to rounding while quantized block bytes match exactly.
 *
 * Not here: tensors, kernels, file formats (GGUF lives in io/).
 */
import { QK, QUANT_BLOCK_BYTES, type QuantDType } from './dtype.js';
import { f16BitsToF32, f16DecodeTable, f32ToF16Bits } from './half.js';

const fround = Math.fround;

/** Round half to even, the rounding of `_mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT)`. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x); // half up
  if (r - x === 0.5 && r % 2 !== 0) return r - 1;
  return r;
}

/** Quantize `n` values of src (from srcOff) as q8_0 into dst bytes at dstOff. n % 32 == 0. */
export function quantizeRowQ8_0(src: ArrayLike<number>, srcOff: number, n: number, dst: Uint8Array, dstOff: number): void {
  const nb = n / QK;
  for (let b = 0; b < nb; b++) {
    const base = srcOff + b * QK;
    let amax = 0;
    for (let j = 0; j < QK; j++) amax = Math.max(amax, Math.abs(fround(src[base + j]!)));
    const d = fround(amax / 127);
    const id = amax !== 0 ? fround(127 / amax) : 0;
    const o = dstOff + b * QUANT_BLOCK_BYTES.q8_0;
    const h = f32ToF16Bits(d);
    dst[o] = h & 0xff;
    dst[o + 1] = h >>> 8;
    for (let j = 0; j < QK; j++) {
      const v = fround(fround(src[base + j]!) * id);
      // |v| ≤ 127 (rounding cannot push it past 127.5); non-finite v becomes −128 as on x86.
      const q = Number.isFinite(v) ? roundHalfEven(v) : -128;
      dst[o + 2 + j] = q & 0xff; // two's complement int8
    }
  }
}

/**
 * min(15, (int8_t)v) of ggml for v = x·id + 8.5: finite v lies in [0.5 − ε, 16.5], where truncation toward
 * zero and the clamp below agree; the clamp also pins NaN/−Inf to 0 and +Inf to 15 (see the header).
 */
function nibble(v: number): number {
  return v > 0 ? Math.min(15, Math.trunc(v)) : 0;
}

/** Quantize `n` values of src as q4_0 into dst bytes at dstOff. n % 32 == 0. */
export function quantizeRowQ4_0(src: ArrayLike<number>, srcOff: number, n: number, dst: Uint8Array, dstOff: number): void {
  const nb = n / QK;
  for (let b = 0; b < nb; b++) {
    const base = srcOff + b * QK;
    let amax = 0;
    let max = 0;
    for (let j = 0; j < QK; j++) {
      const v = fround(src[base + j]!);
      if (amax < Math.abs(v)) { amax = Math.abs(v); max = v; }
    }
    const d = fround(max / -8);
    const id = d !== 0 ? fround(1 / d) : 0;
    const o = dstOff + b * QUANT_BLOCK_BYTES.q4_0;
    const h = f32ToF16Bits(d);
    dst[o] = h & 0xff;
    dst[o + 1] = h >>> 8;
    for (let j = 0; j < QK / 2; j++) {
      const q0 = nibble(fround(fround(fround(src[base + j]!) * id) + 8.5));
      const q1 = nibble(fround(fround(fround(src[base + j + QK / 2]!) * id) + 8.5));
      dst[o + 2 + j] = q0 | (q1 << 4);
    }
  }
}

export function quantizeRow(dtype: QuantDType, src: ArrayLike<number>, srcOff: number, n: number, dst: Uint8Array, dstOff: number): void {
  if (dtype === 'q8_0') quantizeRowQ8_0(src, srcOff, n, dst, dstOff);
  else quantizeRowQ4_0(src, srcOff, n, dst, dstOff);
}

/** Decode n values (n % 32 == 0) starting at byte dstOff of a quantized row into dst (f32 values). */
export function dequantizeRow(dtype: QuantDType, src: Uint8Array, srcOff: number, n: number, dst: { [i: number]: number }, dstOff: number): void {
  const table = f16DecodeTable();
  const bb = QUANT_BLOCK_BYTES[dtype];
  for (let b = 0; b < n / QK; b++) {
    const o = srcOff + b * bb;
    const d = table[src[o]! | (src[o + 1]! << 8)]!;
    const out = dstOff + b * QK;
    if (dtype === 'q8_0') {
      for (let j = 0; j < QK; j++) dst[out + j] = fround(((src[o + 2 + j]! << 24) >> 24) * d);
    } else {
      for (let j = 0; j < QK / 2; j++) {
        const byte = src[o + 2 + j]!;
        dst[out + j] = fround(((byte & 0xf) - 8) * d);
        dst[out + j + QK / 2] = fround(((byte >>> 4) - 8) * d);
      }
    }
  }
}

/** Scale of block b of a quantized row (f16 decoded). */
export function blockScale(dtype: QuantDType, src: Uint8Array, rowOff: number, b: number): number {
  const o = rowOff + b * QUANT_BLOCK_BYTES[dtype];
  return f16BitsToF32(src[o]! | (src[o + 1]! << 8));
}

/**
 * Reference dot product of one q8_0-quantized activation row with one weight row (q8_0 or q4_0), in the
 * accumulation order stated at the top of this file. `x` and `w` are block bytes; nb blocks each.
 */
export function dotQ8_0Row(xq: Uint8Array, xOff: number, wDtype: QuantDType, w: Uint8Array, wOff: number, nb: number): number {
  const table = f16DecodeTable();
  const wb = QUANT_BLOCK_BYTES[wDtype];
  let acc = 0;
  for (let b = 0; b < nb; b++) {
    const xo = xOff + b * QUANT_BLOCK_BYTES.q8_0;
    const wo = wOff + b * wb;
    const dx = table[xq[xo]! | (xq[xo + 1]! << 8)]!;
    const dw = table[w[wo]! | (w[wo + 1]! << 8)]!;
    let isum = 0;
    if (wDtype === 'q8_0') {
      for (let j = 0; j < QK; j++) isum += ((xq[xo + 2 + j]! << 24) >> 24) * ((w[wo + 2 + j]! << 24) >> 24);
    } else {
      for (let j = 0; j < QK / 2; j++) {
        const byte = w[wo + 2 + j]!;
        isum += ((xq[xo + 2 + j]! << 24) >> 24) * ((byte & 0xf) - 8);
        isum += ((xq[xo + 2 + j + QK / 2]! << 24) >> 24) * ((byte >>> 4) - 8);
      }
    }
    acc = fround(acc + fround(fround(dx * dw) * isum));
  }
  return acc;
}
