/**
 * Views and layout ops: reshape, permute/transpose, narrow/slice, expand, squeeze/unsqueeze, flatten share
 * storage (no copy); contiguous/clone/to/cat/stack copy through the `copy` kernel. All are differentiable.
 * Also installs the view methods on Tensor (`x.reshape(...)`) so model code reads like PyTorch.
 */
import { defineOp } from '../autograd.js';
import { ALL_DTYPES, isFloat, isQuant, type DType } from '../dtype.js';
import { dispatch } from '../backend.js';
import { contiguousStrides, fmtShape, inferShape, normAxis, numel, shapesEqual, type Shape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { sumTo } from './reduce.js';
import { empty, zeros } from './factory.js';

const VIEW_DTYPES = ALL_DTYPES;

/** Strides for viewing `t` as `shape` without copying, or null when the layout does not allow it. */
function viewStrides(t: Tensor, shape: readonly number[]): number[] | null {
  if (t.isContiguous()) return contiguousStrides(shape);
  // General case (PyTorch's computeStride): split/merge runs of dims that are contiguous among themselves.
  const oldShape = t.shape.filter((d) => d !== 1);
  const oldStrides = t.strides.filter((_, i) => t.shape[i] !== 1);
  const newStrides = new Array<number>(shape.length).fill(0);
  let oi = 0;
  let ni = 0;
  while (ni < shape.length) {
    if (shape[ni] === 1) { newStrides[ni] = 1; ni++; continue; }
    if (oi >= oldShape.length) return null;
    // Take old dims [oi, oj) forming one contiguous chunk with the same numel as new dims [ni, nj).
    let oldN = oldShape[oi]!;
    let newN = shape[ni]!;
    let oj = oi + 1;
    let nj = ni + 1;
    while (oldN !== newN) {
      if (oldN < newN) {
        if (oj >= oldShape.length) return null;
        if (oldStrides[oj - 1] !== oldStrides[oj]! * oldShape[oj]!) return null;
        oldN *= oldShape[oj++]!;
      } else {
        if (nj >= shape.length) return null;
        newN *= shape[nj++]!;
      }
    }
    for (let k = oi + 1; k < oj; k++) if (oldStrides[k - 1] !== oldStrides[k]! * oldShape[k]!) return null;
    let stride = oldStrides[oj - 1]!;
    for (let k = nj - 1; k >= ni; k--) {
      newStrides[k] = stride;
      stride *= shape[k]!;
    }
    oi = oj;
    ni = nj;
  }
  return oi === oldShape.length ? newStrides : null;
}

export const contiguous = defineOp({
  name: 'contiguous',
  dtypes: VIEW_DTYPES,
  forward(_ctx, x: Tensor): Tensor {
    if (x.isContiguous()) return x._view(x.shape, x.strides, x.offset);
    if (isQuant(x.dtype)) throw new Error(`contiguous: ${x.dtype} tensors are always contiguous`);
    const out = empty(x.shape, x.dtype);
    dispatch('copy', out, x);
    return out;
  },
  backward: (_ctx, g) => [g],
});

/** Always a fresh copy (own storage). */
export const clone = defineOp({
  name: 'clone',
  dtypes: VIEW_DTYPES,
  forward(_ctx, x: Tensor): Tensor {
    if (isQuant(x.dtype)) return new Tensor(x.data.slice(), x.dtype, x.shape, x.strides, x.offset);
    const out = empty(x.shape, x.dtype);
    dispatch('copy', out, x);
    return out;
  },
  backward: (_ctx, g) => [g],
});

/** Convert to another dtype (f32 ↔ f64 ↔ f16/bf16 ↔ i32/u8/bool; quantized → f32/f64). */
export const to: (x: Tensor, dtype: DType) => Tensor = defineOp({
  name: 'to',
  dtypes: VIEW_DTYPES,
  forward(ctx, x: Tensor, dtype: DType): Tensor {
    ctx.attrs.from = x.dtype;
    if (x.dtype === dtype) return x._view(x.shape, x.strides, x.offset);
    if (isQuant(dtype)) throw new Error(`to: use quantize() to make ${dtype} tensors from ${fmtShape(x.shape)} ${x.dtype}`);
    const out = empty(x.shape, dtype);
    dispatch('copy', out, x);
    return out;
  },
  backward(ctx, g) {
    const from = ctx.attrs.from as DType;
    return [isFloat(from) ? to(g, from) : null];
  },
});

export const reshape: (x: Tensor, shape: readonly number[]) => Tensor = defineOp({
  name: 'reshape',
  dtypes: VIEW_DTYPES,
  forward(ctx, x: Tensor, shape: readonly number[]): Tensor {
    const target = inferShape('reshape', x.shape, shape);
    ctx.attrs.shape = x.shape;
    const strides = viewStrides(x, target);
    if (strides) return x._view(target, strides, x.offset);
    if (isQuant(x.dtype)) throw new Error(`reshape: cannot reshape ${x.dtype} ${fmtShape(x.shape)} to ${fmtShape(target)}`);
    const c = empty(x.shape, x.dtype);
    dispatch('copy', c, x);
    return c._view(target, contiguousStrides(target), 0);
  },
  backward: (ctx, g) => [reshape(g, ctx.attrs.shape as number[])],
});

export const permute: (x: Tensor, dims: readonly number[]) => Tensor = defineOp({
  name: 'permute',
  dtypes: VIEW_DTYPES,
  forward(ctx, x: Tensor, dims: readonly number[]): Tensor {
    if (dims.length !== x.ndim) throw new Error(`permute: ${dims.length} dims [${dims}] for a tensor of shape ${fmtShape(x.shape)}`);
    const d = dims.map((a) => normAxis('permute', a, x.ndim));
    if (new Set(d).size !== d.length) throw new Error(`permute: repeated dims in [${dims}]`);
    if (isQuant(x.dtype) && d.some((a, i) => a !== i)) throw new Error(`permute: ${x.dtype} tensors cannot be permuted`);
    ctx.attrs.dims = d;
    return x._view(d.map((a) => x.shape[a]!), d.map((a) => x.strides[a]!), x.offset);
  },
  backward(ctx, g) {
    const d = ctx.attrs.dims as number[];
    const inv = new Array<number>(d.length);
    d.forEach((a, i) => { inv[a] = i; });
    return [permute(g, inv)];
  },
});

export function transpose(x: Tensor, d0: number, d1: number): Tensor {
  const a = normAxis('transpose', d0, x.ndim);
  const b = normAxis('transpose', d1, x.ndim);
  const dims = [...Array(x.ndim).keys()];
  dims[a] = b;
  dims[b] = a;
  return permute(x, dims);
}

/** Elements [start, start + length) along `dim` (a view). */
export const narrow = defineOp({
  name: 'narrow',
  dtypes: VIEW_DTYPES,
  forward(ctx, x: Tensor, dim: number, start: number, length: number): Tensor {
    const d = normAxis('narrow', dim, x.ndim);
    const size = x.shape[d]!;
    if (start < 0) start += size;
    if (!Number.isInteger(start) || !Number.isInteger(length) || start < 0 || length < 0 || start + length > size) {
      throw new Error(`narrow: range [${start}, ${start + length}) outside dim ${dim} of size ${size} in ${fmtShape(x.shape)}`);
    }
    if (isQuant(x.dtype) && d !== 0) throw new Error(`narrow: ${x.dtype} tensors can only be narrowed along rows (dim 0)`);
    ctx.attrs.d = d;
    ctx.attrs.start = start;
    ctx.attrs.shape = x.shape;
    ctx.attrs.dtype = x.dtype;
    const shape = [...x.shape];
    shape[d] = length;
    return x._view(shape, x.strides, x.offset + start * x.strides[d]!);
  },
  backward(ctx, g) {
    const gx = zeros(ctx.attrs.shape as number[], g.dtype);
    const d = ctx.attrs.d as number;
    const region = gx._view(g.shape, gx.strides, (ctx.attrs.start as number) * gx.strides[d]!);
    dispatch('copy', region, g);
    return [gx];
  },
});

/** Python-style slice along one dim: [start, end) with negative indices counted from the end. */
export function slice(x: Tensor, dim: number, start = 0, end?: number): Tensor {
  const d = normAxis('slice', dim, x.ndim);
  const size = x.shape[d]!;
  const norm = (i: number) => Math.min(size, Math.max(0, i < 0 ? i + size : i));
  const s = norm(start);
  const e = end === undefined ? size : norm(end);
  return narrow(x, d, s, Math.max(0, e - s));
}

/** Broadcast view of x to `shape` (stride 0 on expanded dims); -1 keeps a dim. */
export const expand = defineOp({
  name: 'expand',
  dtypes: VIEW_DTYPES,
  forward(ctx, x: Tensor, shape: readonly number[]): Tensor {
    ctx.attrs.shape = x.shape;
    return expandView(x, shape);
  },
  backward: (ctx, g) => [sumTo(g, ctx.attrs.shape as number[])],
});

/** The raw (unrecorded) broadcast view used by ops before calling kernels. */
export function expandView(x: Tensor, shape: Shape): Tensor {
  const nd = shape.length;
  if (nd < x.ndim) throw new Error(`expand: cannot expand ${fmtShape(x.shape)} to fewer dims ${fmtShape(shape)}`);
  const strides = new Array<number>(nd);
  const out = new Array<number>(nd);
  for (let i = 0; i < nd; i++) {
    const j = i - (nd - x.ndim);
    const want = shape[i]!;
    if (j < 0) {
      if (want < 0) throw new Error(`expand: -1 is not allowed for new leading dims (${fmtShape(shape)})`);
      out[i] = want;
      strides[i] = 0;
      continue;
    }
    const have = x.shape[j]!;
    if (want === -1 || want === have) {
      out[i] = have;
      strides[i] = x.strides[j]!;
    } else if (have === 1) {
      out[i] = want;
      strides[i] = 0;
    } else {
      throw new Error(`expand: cannot expand ${fmtShape(x.shape)} to ${fmtShape(shape)}`);
    }
  }
  if (isQuant(x.dtype) && !shapesEqual(out, x.shape)) throw new Error(`expand: ${x.dtype} tensors cannot be broadcast`);
  return shapesEqual(out, x.shape) && x.ndim === nd ? x._view(x.shape, x.strides, x.offset) : x._view(out, strides, x.offset);
}

export function unsqueeze(x: Tensor, dim: number): Tensor {
  const d = normAxis('unsqueeze', dim, x.ndim + 1);
  const shape = [...x.shape];
  shape.splice(d, 0, 1);
  return reshape(x, shape);
}

/** Remove size-1 dims (all, or the given one; a dim of size ≠ 1 is an error). */
export function squeeze(x: Tensor, dim?: number): Tensor {
  if (dim === undefined) return reshape(x, x.shape.filter((s) => s !== 1));
  const d = normAxis('squeeze', dim, x.ndim);
  if (x.shape[d] !== 1) throw new Error(`squeeze: dim ${dim} of ${fmtShape(x.shape)} has size ${x.shape[d]}, not 1`);
  const shape = [...x.shape];
  shape.splice(d, 1);
  return reshape(x, shape);
}

export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  if (x.ndim === 0) return reshape(x, [1]);
  const s = normAxis('flatten', startDim, x.ndim);
  const e = normAxis('flatten', endDim, x.ndim);
  if (e < s) throw new Error(`flatten: end dim ${endDim} before start dim ${startDim}`);
  const shape = [...x.shape.slice(0, s), numel(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)];
  return reshape(x, shape);
}

const catOp = defineOp({
  name: 'cat',
  dtypes: ['f32', 'f64', 'f16', 'bf16', 'i32', 'u8', 'bool'],
  forward(ctx, xs: readonly Tensor[], dim: number): Tensor {
    if (xs.length === 0) throw new Error('cat: no tensors given');
    const first = xs[0]!;
    const d = normAxis('cat', dim, first.ndim);
    let total = 0;
    for (const [i, x] of xs.entries()) {
      if (x.dtype !== first.dtype) throw new Error(`cat: tensor ${i} has dtype ${x.dtype}, tensor 0 has ${first.dtype}`);
      if (isQuant(x.dtype)) throw new Error(`cat: ${x.dtype} tensors cannot be concatenated`);
      const ok = x.ndim === first.ndim && x.shape.every((s, k) => k === d || s === first.shape[k]);
      if (!ok) throw new Error(`cat: shapes ${fmtShape(first.shape)} and ${fmtShape(x.shape)} (tensor ${i}) differ outside dim ${dim}`);
      total += x.shape[d]!;
    }
    const shape = [...first.shape];
    shape[d] = total;
    const out = empty(shape, first.dtype);
    let at = 0;
    const sizes: number[] = [];
    for (const x of xs) {
      const n = x.shape[d]!;
      if (n > 0) dispatch('copy', out._view(x.shape, out.strides, at * out.strides[d]!), x);
      sizes.push(n);
      at += n;
    }
    ctx.attrs.d = d;
    ctx.attrs.sizes = sizes;
    return out;
  },
  backward(ctx, g) {
    const d = ctx.attrs.d as number;
    let at = 0;
    return (ctx.attrs.sizes as number[]).map((n) => {
      const part = narrow(g, d, at, n);
      at += n;
      return part;
    });
  },
});

/** Concatenate along `dim` (all other dims equal, one dtype). */
export function cat(xs: readonly Tensor[], dim = 0): Tensor {
  return catOp(xs, dim);
}

export function stack(xs: readonly Tensor[], dim = 0): Tensor {
  if (xs.length === 0) throw new Error('stack: no tensors given');
  const d = normAxis('stack', dim, xs[0]!.ndim + 1);
  return cat(xs.map((x) => unsqueeze(x, d)), d);
}

declare module '../tensor.js' {
  interface Tensor {
    reshape(...shape: number[]): Tensor;
    view(...shape: number[]): Tensor;
    permute(...dims: number[]): Tensor;
    transpose(d0: number, d1: number): Tensor;
    narrow(dim: number, start: number, length: number): Tensor;
    slice(dim: number, start?: number, end?: number): Tensor;
    expand(...shape: number[]): Tensor;
    unsqueeze(dim: number): Tensor;
    squeeze(dim?: number): Tensor;
    flatten(startDim?: number, endDim?: number): Tensor;
    contiguous(): Tensor;
    clone(): Tensor;
    to(dtype: DType): Tensor;
  }
}
Tensor.prototype.reshape = function (...shape) { return reshape(this, shape); };
Tensor.prototype.view = function (...shape) { return reshape(this, shape); };
Tensor.prototype.permute = function (...dims) { return permute(this, dims); };
Tensor.prototype.transpose = function (d0, d1) { return transpose(this, d0, d1); };
Tensor.prototype.narrow = function (dim, start, length) { return narrow(this, dim, start, length); };
Tensor.prototype.slice = function (dim, start, end) { return slice(this, dim, start, end); };
Tensor.prototype.expand = function (...shape) { return expand(this, shape); };
Tensor.prototype.unsqueeze = function (dim) { return unsqueeze(this, dim); };
Tensor.prototype.squeeze = function (dim) { return squeeze(this, dim); };
Tensor.prototype.flatten = function (s, e) { return flatten(this, s, e); };
Tensor.prototype.contiguous = function () { return contiguous(this); };
Tensor.prototype.clone = function () { return clone(this); };
Tensor.prototype.to = function (dtype) { return to(this, dtype); };
