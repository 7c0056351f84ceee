/**
 * Reference weight-matrix kernels: linear (f32/f64/f16/bf16 weights, and q8_0/q4_0 through the exact
 * integer path of engine/quant.ts), embedding lookup from any weight dtype, and quantization.
 *
 * Float weights: each output is Σ_k x·w accumulated in f64 (the bias added last), rounded once on store, so
 * these are the most accurate values the native kernels are compared against with a tolerance. Quantized
 * weights: the activation rows are quantized to q8_0 and `dotQ8_0Row` gives the f32 result the native
 * kernels must reproduce bit for bit, then the bias is added in f32.
 *
 * Not here: shape/dtype validation beyond what keeps these loops in bounds (ops do it), autograd, speed.
 */
import { isQuant, QK, QUANT_BLOCK_BYTES, storageLength } from '../../engine/dtype.js';
import type { KernelResult } from '../../engine/kernels.js';
import { dequantizeRow, dotQ8_0Row, quantizeRow, quantizeRowQ8_0 } from '../../engine/quant.js';
import { fmtShape } from '../../engine/shape.js';
import type { Tensor } from '../../engine/tensor.js';
import { reader } from './elementwise.js';

const fround = Math.fround;

function fail(kernel: string, msg: string, ...ts: Tensor[]): never {
  throw new Error(`${kernel}: ${msg} (${ts.map((t) => `${t.dtype}${fmtShape(t.shape)}`).join(', ')})`);
}

/** Byte offset of row `r` of a quantized matrix (contiguous rows of `k` values; offset in elements). */
export function quantRowByte(t: Tensor, r: number): number {
  const k = t.shape[t.ndim - 1]!;
  return storageLength(t.dtype, t.offset) + r * storageLength(t.dtype, k);
}

/** One row of x (strided, any float dtype) as f32 values in `dst`. */
function readRowF32(x: Tensor, m: number, dst: Float32Array): void {
  const rd = reader(x);
  const base = x.offset + m * x.strides[0]!;
  const s = x.strides[1]!;
  for (let k = 0; k < dst.length; k++) dst[k] = rd(base + k * s);
}

export function linear(out: Tensor, x: Tensor, w: Tensor, bias: Tensor | null): KernelResult {
  if (x.ndim !== 2 || w.ndim !== 2 || out.ndim !== 2) fail('linear', 'expects out [M, N], x [M, K], w [N, K]', out, x, w);
  const [M, K] = x.shape as [number, number];
  const N = w.shape[0]!;
  if (w.shape[1] !== K || out.shape[0] !== M || out.shape[1] !== N || (bias && (bias.ndim !== 1 || bias.shape[0] !== N))) {
    fail('linear', 'shapes do not match out [M, N] = x [M, K] · w [N, K]ᵀ + bias [N]', out, x, w, ...(bias ? [bias] : []));
  }
  const rb = bias ? reader(bias) : null;
  const bo = bias ? bias.offset : 0;
  const bs = bias ? bias.strides[0]! : 0;
  const od = out.data;
  const os0 = out.strides[0]!;
  const os1 = out.strides[1]!;

  if (isQuant(w.dtype)) {
    if (K % QK !== 0) fail('linear', `a ${w.dtype} weight needs K to be a multiple of ${QK}`, x, w);
    const nb = K / QK;
    const row = new Float32Array(K);
    const xq = new Uint8Array(nb * QUANT_BLOCK_BYTES.q8_0);
    const wb = w.data as Uint8Array;
    for (let m = 0; m < M; m++) {
      readRowF32(x, m, row);
      quantizeRowQ8_0(row, 0, K, xq, 0);
      for (let n = 0; n < N; n++) {
        let v = dotQ8_0Row(xq, 0, w.dtype, wb, quantRowByte(w, n), nb);
        if (rb) v = fround(v + fround(rb(bo + n * bs)));
        od[out.offset + m * os0 + n * os1] = v;
      }
    }
    return;
  }

  const rx = reader(x);
  const rw = reader(w);
  const [xs0, xs1] = x.strides as [number, number];
  const [ws0, ws1] = w.strides as [number, number];
  for (let m = 0; m < M; m++) {
    const xb = x.offset + m * xs0;
    for (let n = 0; n < N; n++) {
      const wbase = w.offset + n * ws0;
      let acc = 0;
      for (let k = 0; k < K; k++) acc += rx(xb + k * xs1) * rw(wbase + k * ws1);
      if (rb) acc += rb(bo + n * bs);
      od[out.offset + m * os0 + n * os1] = acc;
    }
  }
}

export function embedding(out: Tensor, weight: Tensor, ids: Tensor): KernelResult {
  if (weight.ndim !== 2 || out.ndim !== 2 || ids.ndim !== 1 || ids.dtype !== 'i32') {
    fail('embedding', 'expects out [n, D], weight [V, D], ids [n] (i32)', out, weight, ids);
  }
  const [V, D] = weight.shape as [number, number];
  const n = ids.shape[0]!;
  if (out.shape[0] !== n || out.shape[1] !== D) fail('embedding', 'out must be [n, D]', out, weight, ids);
  const od = out.data;
  const [os0, os1] = out.strides as [number, number];
  const idd = ids.data;
  const tmp = isQuant(weight.dtype) ? new Float32Array(D) : null;
  const rw = reader(weight);
  for (let i = 0; i < n; i++) {
    const id = idd[ids.offset + i * ids.strides[0]!]!;
    if (!(id >= 0 && id < V)) fail('embedding', `id ${id} at position ${i} is outside [0, ${V})`, weight, ids);
    const ob = out.offset + i * os0;
    if (tmp) {
      dequantizeRow(weight.dtype as 'q8_0' | 'q4_0', weight.data as Uint8Array, quantRowByte(weight, id), D, tmp, 0);
      for (let d = 0; d < D; d++) od[ob + d * os1] = tmp[d]!;
    } else {
      const wb = weight.offset + id * weight.strides[0]!;
      const ws = weight.strides[1]!;
      for (let d = 0; d < D; d++) od[ob + d * os1] = rw(wb + d * ws);
    }
  }
}

export function quantize(out: Tensor, x: Tensor): KernelResult {
  if (!isQuant(out.dtype) || out.ndim !== 2 || x.ndim !== 2 || x.shape[0] !== out.shape[0] || x.shape[1] !== out.shape[1]) {
    fail('quantize', 'expects out (q8_0|q4_0) [N, K] and x [N, K]', out, x);
  }
  const [N, K] = x.shape as [number, number];
  if (K % QK !== 0) fail('quantize', `K must be a multiple of ${QK}`, out, x);
  const row = new Float32Array(K);
  for (let r = 0; r < N; r++) {
    readRowF32(x, r, row);
    quantizeRow(out.dtype, row, 0, K, out.data as Uint8Array, quantRowByte(out, r));
  }
}
