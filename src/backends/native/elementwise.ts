/**
 * Native wrappers for fill/copy/unary/binary/compare/where/reduce/indexSelect. Each kernel call is first
 * described as a `KernelCall` (kernel name, typed arrays, numeric parameters) by a `…Call` function, which
 * returns a reason string instead for dtypes or layouts the native kernel does not take (dispatch then
 * falls back to `ts` visibly); tests run the same calls at each ISA level through `runKernelAt`.
 *
 * Parameter encoding (native/src/strided.h): a shared shape `nd, shape…`, then per operand
 * `offset, strides…` in elements. Op and dtype codes must match native/src/kernels/elementwise.h and
 * native/src/convert.h. Not here: the nn kernels (nn.ts), matmul/linear (linalg.ts, quant.ts).
 */
import type { BinaryOp, CompareOp, KernelResult, Kernels, ReduceOp, UnaryOp } from '../../engine/kernels.js';
import type { DType, TypedArray } from '../../engine/dtype.js';
import type { Tensor } from '../../engine/tensor.js';
import { runKernel } from './addon.js';

export interface KernelCall {
  name: string;
  arrays: TypedArray[];
  params: number[];
}

/** Largest rank the native layouts take (native/src/strided.h kMaxDims). */
export const MAX_DIMS = 16;

export const DTYPE_CODE: Partial<Record<DType, number>> = { f32: 0, f64: 1, f16: 2, bf16: 3, i32: 4, u8: 5, bool: 6 };

export const UNARY_CODE: Record<UnaryOp, number> = {
  neg: 0, abs: 1, sign: 2, exp: 3, log: 4, sqrt: 5, rsqrt: 6, square: 7, reciprocal: 8, sin: 9, cos: 10,
  tanh: 11, sigmoid: 12, relu: 13, gelu: 14, geluTanh: 15, quickGelu: 16, silu: 17, erf: 18,
};
export const BINARY_CODE: Record<BinaryOp, number> = { add: 0, sub: 1, mul: 2, div: 3, pow: 4, maximum: 5, minimum: 6 };
export const COMPARE_CODE: Record<CompareOp, number> = { eq: 0, ne: 1, lt: 2, le: 3, gt: 4, ge: 5 };
export const REDUCE_CODE: Record<ReduceOp, number> = { sum: 0, max: 1, min: 2, argmax: 3, argmin: 4 };

/** Reason a tensor's layout cannot be passed to native, or null. */
export function layoutProblem(t: Tensor): string | null {
  if (t.ndim > MAX_DIMS) return `rank ${t.ndim} > ${MAX_DIMS}`;
  for (const s of t.strides) if (s < 0) return 'negative strides';
  return null;
}

/** Appends `nd, shape…` to p. */
export function pushShape(p: number[], shape: readonly number[]): void {
  p.push(shape.length);
  for (const s of shape) p.push(s);
}

/** Appends `offset, strides…` of t to p. */
export function pushView(p: number[], t: Tensor): void {
  p.push(t.offset);
  for (const s of t.strides) p.push(s);
}

/** Shape + one view per operand (all operands share `ts[0]`'s shape), or a reason. */
function sharedLayout(head: number[], ts: Tensor[]): number[] | string {
  for (const t of ts) {
    const bad = layoutProblem(t);
    if (bad) return bad;
  }
  const p = head;
  pushShape(p, ts[0]!.shape);
  for (const t of ts) pushView(p, t);
  return p;
}

function call(name: string, arrays: TypedArray[], params: number[] | string): KernelCall | string {
  return typeof params === 'string' ? params : { name, arrays, params };
}

/** Runs a described call, or returns its decline reason (the shape every native kernel wrapper has). */
export function runCall(c: KernelCall | string): KernelResult {
  if (typeof c === 'string') return c;
  runKernel(c.name, c.arrays, c.params);
}

export function fillCall(out: Tensor, value: number): KernelCall | string {
  const code = DTYPE_CODE[out.dtype];
  if (code === undefined) return `fill: ${out.dtype} is not supported natively`;
  if (out.dtype === 'f32' && out.isContiguous()) return { name: 'fill_f32', arrays: [out.data], params: [out.offset, out.numel, value] };
  return call('fill', [out.data], sharedLayout([code, value], [out]));
}

export function copyCall(out: Tensor, src: Tensor): KernelCall | string {
  const d = DTYPE_CODE[out.dtype];
  const s = DTYPE_CODE[src.dtype];
  if (d === undefined || s === undefined) return `copy: ${src.dtype} → ${out.dtype} is not supported natively`;
  return call('copy', [out.data, src.data], sharedLayout([s, d], [out, src]));
}

export function unaryCall(op: UnaryOp, out: Tensor, x: Tensor): KernelCall | string {
  if (x.dtype !== 'f32' || out.dtype !== 'f32') return `unary: ${x.dtype} is computed by ts`;
  return call('unary_f32', [out.data, x.data], sharedLayout([UNARY_CODE[op]], [out, x]));
}

export function binaryCall(op: BinaryOp, out: Tensor, a: Tensor, b: Tensor): KernelCall | string {
  if (out.dtype !== 'f32' || a.dtype !== 'f32' || b.dtype !== 'f32') return `binary: ${a.dtype} is computed by ts`;
  return call('binary_f32', [out.data, a.data, b.data], sharedLayout([BINARY_CODE[op]], [out, a, b]));
}

export function compareCall(op: CompareOp, out: Tensor, a: Tensor, b: Tensor): KernelCall | string {
  if (a.dtype === 'f64' || a.dtype !== b.dtype || out.dtype !== 'bool') return `compare: ${a.dtype} is computed by ts`;
  const code = DTYPE_CODE[a.dtype];
  if (code === undefined || a.dtype === 'f16' || a.dtype === 'bf16') return `compare: ${a.dtype} is computed by ts`;
  return call('compare', [out.data, a.data, b.data], sharedLayout([COMPARE_CODE[op], code], [out, a, b]));
}

export function whereCall(out: Tensor, cond: Tensor, a: Tensor, b: Tensor): KernelCall | string {
  if (out.dtype !== 'f32' || a.dtype !== 'f32' || b.dtype !== 'f32' || cond.dtype !== 'bool') return `where: ${a.dtype} is computed by ts`;
  return call('where_f32', [out.data, cond.data, a.data, b.data], sharedLayout([], [out, cond, a, b]));
}

/**
 * reduce_f32: op, nd, x shape…, x offset, x strides…, out offset, axis mask (bit d set: dim d reduced);
 * buffers [out (f32, or i32 for argmax/argmin), x]. out is contiguous with x's rank.
 */
export function reduceCall(op: ReduceOp, out: Tensor, x: Tensor, axes: readonly number[]): KernelCall | string {
  if (x.dtype !== 'f32') return `reduce: ${x.dtype} is computed by ts`;
  const bad = layoutProblem(x);
  if (bad) return bad;
  if (!out.isContiguous()) return 'reduce: out must be contiguous';
  let mask = 0;
  for (const a of axes) mask |= 1 << a;
  const p = [REDUCE_CODE[op]];
  pushShape(p, x.shape);
  pushView(p, x);
  p.push(out.offset, mask);
  return { name: 'reduce_f32', arrays: [out.data, x.data], params: p };
}

/**
 * index_select: element size, axis, nd, x shape…, x offset, x strides…, out offset, idx offset, idx
 * stride, idx length; buffers [out, x, idx]. out is contiguous (x's shape with idx.length along axis).
 */
export function indexSelectCall(out: Tensor, x: Tensor, axis: number, idx: Tensor): KernelCall | string {
  const code = DTYPE_CODE[x.dtype];
  if (code === undefined) return `indexSelect: ${x.dtype} is not supported natively`;
  if (idx.dtype !== 'i32' || idx.ndim !== 1) return 'indexSelect: idx must be 1-d i32';
  const bad = layoutProblem(x) ?? layoutProblem(idx);
  if (bad) return bad;
  if (!out.isContiguous()) return 'indexSelect: out must be contiguous';
  const p = [x.data.BYTES_PER_ELEMENT, axis];
  pushShape(p, x.shape);
  pushView(p, x);
  p.push(out.offset, idx.offset, idx.strides[0]!, idx.shape[0]!);
  return { name: 'index_select', arrays: [out.data, x.data, idx.data], params: p };
}

export const elementwiseKernels: Partial<Kernels> = {
  fill: (out, value) => runCall(fillCall(out, value)),
  copy: (out, src) => runCall(copyCall(out, src)),
  unary: (op, out, x) => runCall(unaryCall(op, out, x)),
  binary: (op, out, a, b) => runCall(binaryCall(op, out, a, b)),
  compare: (op, out, a, b) => runCall(compareCall(op, out, a, b)),
  where: (out, cond, a, b) => runCall(whereCall(out, cond, a, b)),
  reduce: (op, out, x, axes) => runCall(reduceCall(op, out, x, axes)),
  indexSelect: (out, x, axis, idx) => runCall(indexSelectCall(out, x, axis, idx)),
};
