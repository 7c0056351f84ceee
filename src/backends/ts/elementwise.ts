/**
 * Reference kernels: fill, copy (with dtype conversion), unary, binary, compare, where. Obvious loops over
 * strided views: the specification the native kernels are tested against. f32 results are rounded once, on
 * store (JS computes in f64).
 */
import type { BinaryOp, CompareOp, KernelResult, UnaryOp } from '../../engine/kernels.js';
import { erf } from '../../engine/mathfn.js';
import { bf16BitsToF32, f16DecodeTable, f32ToBf16Bits, f32ToF16Bits } from '../../engine/half.js';
import { isQuant, QK, storageLength } from '../../engine/dtype.js';
import { dequantizeRow } from '../../engine/quant.js';
import type { Tensor } from '../../engine/tensor.js';

/** Reader of logical element values by storage offset, decoding f16/bf16. */
export function reader(t: Tensor): (off: number) => number {
  const d = t.data;
  if (t.dtype === 'f16') {
    const table = f16DecodeTable();
    return (o) => table[d[o]!]!;
  }
  if (t.dtype === 'bf16') return (o) => bf16BitsToF32(d[o]!);
  return (o) => d[o]!;
}

/** Writer by storage offset, encoding for the target dtype. */
export function writer(t: Tensor): (off: number, v: number) => void {
  const d = t.data;
  switch (t.dtype) {
    case 'f16': return (o, v) => { d[o] = f32ToF16Bits(v); };
    case 'bf16': return (o, v) => { d[o] = f32ToBf16Bits(v); };
    // Nonzero is true, NaN included (as C and torch convert).
    case 'bool': return (o, v) => { d[o] = v !== 0 ? 1 : 0; };
    case 'i32': return (o, v) => { d[o] = Math.trunc(v); };
    case 'u8': return (o, v) => { d[o] = Math.trunc(v) & 0xff; };
    default: return (o, v) => { d[o] = v; };
  }
}

export function fill(out: Tensor, value: number): KernelResult {
  const w = writer(out);
  for (const o of out.elementOffsets()) w(o, value);
}

export function copy(out: Tensor, src: Tensor): KernelResult {
  if (isQuant(out.dtype)) return 'quantized targets are written by quantize';
  if (isQuant(src.dtype)) {
    if (!src.isContiguous() || !out.isContiguous()) return 'dequantize needs contiguous tensors';
    const k = src.shape[src.ndim - 1]!;
    const rowBytes = storageLength(src.dtype, k);
    const base = storageLength(src.dtype, src.offset - (src.offset % QK)) ;
    const tmp = new Float64Array(k);
    const w = writer(out);
    for (let r = 0; r < src.numel / k; r++) {
      dequantizeRow(src.dtype, src.data as Uint8Array, base + r * rowBytes, k, tmp, 0);
      for (let j = 0; j < k; j++) w(out.offset + r * k + j, tmp[j]!);
    }
    return;
  }
  const r = reader(src);
  const w = writer(out);
  const so = src.elementOffsets();
  const oo = out.elementOffsets();
  for (let i = 0; i < so.length; i++) w(oo[i]!, r(so[i]!));
}

const sigmoidF = (x: number) => 1 / (1 + Math.exp(-x));
const SQRT_2_PI = Math.sqrt(2 / Math.PI);

export const UNARY: Record<UnaryOp, (x: number) => number> = {
  neg: (x) => -x,
  abs: Math.abs,
  sign: (x) => (x > 0 ? 1 : x < 0 ? -1 : 0),
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  rsqrt: (x) => 1 / Math.sqrt(x),
  square: (x) => x * x,
  reciprocal: (x) => 1 / x,
  sin: Math.sin,
  cos: Math.cos,
  tanh: Math.tanh,
  sigmoid: sigmoidF,
  relu: (x) => (x > 0 ? x : 0),
  erf,
  gelu: (x) => 0.5 * x * (1 + erf(x * Math.SQRT1_2)),
  geluTanh: (x) => 0.5 * x * (1 + Math.tanh(SQRT_2_PI * (x + 0.044715 * x * x * x))),
  quickGelu: (x) => x * sigmoidF(1.702 * x),
  silu: (x) => x * sigmoidF(x),
};

export function unary(op: UnaryOp, out: Tensor, x: Tensor): KernelResult {
  const f = UNARY[op];
  const r = reader(x);
  const xo = x.elementOffsets();
  const oo = out.elementOffsets();
  const d = out.data;
  for (let i = 0; i < xo.length; i++) d[oo[i]!] = f(r(xo[i]!));
}

export const BINARY: Record<BinaryOp, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: Math.pow,
  maximum: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b)),
  minimum: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b)),
};

export function binary(op: BinaryOp, out: Tensor, a: Tensor, b: Tensor): KernelResult {
  const f = BINARY[op];
  const ao = a.elementOffsets();
  const bo = b.elementOffsets();
  const oo = out.elementOffsets();
  const ad = a.data;
  const bd = b.data;
  const d = out.data;
  for (let i = 0; i < oo.length; i++) d[oo[i]!] = f(ad[ao[i]!]!, bd[bo[i]!]!);
}

const COMPARE: Record<CompareOp, (a: number, b: number) => boolean> = {
  eq: (a, b) => a === b,
  ne: (a, b) => a !== b,
  lt: (a, b) => a < b,
  le: (a, b) => a <= b,
  gt: (a, b) => a > b,
  ge: (a, b) => a >= b,
};

export function compare(op: CompareOp, out: Tensor, a: Tensor, b: Tensor): KernelResult {
  const f = COMPARE[op];
  const ra = reader(a);
  const rb = reader(b);
  const ao = a.elementOffsets();
  const bo = b.elementOffsets();
  const oo = out.elementOffsets();
  const d = out.data;
  for (let i = 0; i < oo.length; i++) d[oo[i]!] = f(ra(ao[i]!), rb(bo[i]!)) ? 1 : 0;
}

export function where(out: Tensor, cond: Tensor, a: Tensor, b: Tensor): KernelResult {
  const co = cond.elementOffsets();
  const ao = a.elementOffsets();
  const bo = b.elementOffsets();
  const oo = out.elementOffsets();
  const c = cond.data;
  const d = out.data;
  for (let i = 0; i < oo.length; i++) d[oo[i]!] = c[co[i]!] ? a.data[ao[i]!]! : b.data[bo[i]!]!;
}
