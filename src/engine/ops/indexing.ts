/**
 * Integer-indexed ops: `indexSelect` (torch.index_select) and its adjoint `indexAdd` (torch.index_add, a
 * scatter-add done slice by slice with the binary/copy kernels so repeated indices accumulate), `gather`
 * (torch.gather, composed of indexSelect over the flattened input) and `embedding` (row lookup in a weight
 * matrix of any weight dtype; its gradient to f32/f64 weights is an indexAdd).
 *
 * Every index is validated on the host before a kernel sees it: an out-of-range index is an error naming
 * its value, position and the size it must stay below. Not here: masked/boolean indexing, scatter.
 */
import { defineOp } from '../autograd.js';
import { dispatch } from '../backend.js';
import { isFloat, isQuant, isWeightDType } from '../dtype.js';
import { contiguousStrides, fmtShape, normAxis, unravelIndex } from '../shape.js';
import { Tensor } from '../tensor.js';
import { empty, tensor, zeros } from './factory.js';
import { reshape } from './view.js';

function describe(t: Tensor): string {
  return `${t.dtype} ${fmtShape(t.shape)}`;
}

/** Index values as numbers, each checked to lie in [0, size). */
function checkedIndices(op: string, what: string, idx: Tensor, size: number, context: string): number[] {
  if (idx.dtype !== 'i32') throw new Error(`${op}: ${what} must be i32, got ${describe(idx)} (${context})`);
  const v = idx.toArray();
  v.forEach((i, p) => {
    if (i < 0 || i >= size) {
      throw new Error(`${op}: ${what} ${i} at position ${fmtShape(unravelIndex(p, idx.shape))} is out of range for size ${size} (${context})`);
    }
  });
  return v;
}

function vectorIndex(op: string, x: Tensor, d: number, idx: Tensor): Tensor {
  if (idx.ndim > 1) throw new Error(`${op}: index must be 1-D, got ${describe(idx)} for x ${describe(x)}`);
  checkedIndices(op, 'index', idx, x.shape[d]!, `x ${describe(x)}, dim ${d}`);
  return idx.ndim === 0 ? reshape(idx, [1]) : idx;
}

const indexSelectOp = defineOp({
  name: 'indexSelect',
  dtypes: ['f32', 'f64', 'f16', 'bf16', 'i32', 'u8', 'bool'],
  forward(ctx, x: Tensor, dim: number, idx: Tensor): Tensor {
    if (isQuant(x.dtype)) throw new Error(`indexSelect: ${describe(x)} rows are read with embedding()`);
    const d = normAxis('indexSelect', dim, x.ndim);
    const i1 = vectorIndex('indexSelect', x, d, idx);
    const shape = [...x.shape];
    shape[d] = i1.shape[0]!;
    const out = empty(shape, x.dtype);
    dispatch('indexSelect', out, x, d, i1);
    ctx.attrs.d = d;
    ctx.attrs.shape = x.shape;
    ctx.save(i1);
    return out;
  },
  backward(ctx, g) {
    const [i1] = ctx.saved as [Tensor];
    return [isFloat(g.dtype) ? indexAdd(zeros(ctx.attrs.shape as number[], g.dtype), ctx.attrs.d as number, i1, g) : null, null];
  },
});

/** Slices of x at positions idx (i32, 1-D) along dim: out.shape[dim] = idx.length. */
export function indexSelect(x: Tensor, dim: number, idx: Tensor): Tensor {
  return indexSelectOp(x, dim, idx);
}

const indexAddOp = defineOp({
  name: 'indexAdd',
  dtypes: ['f32', 'f64'],
  forward(ctx, x: Tensor, dim: number, idx: Tensor, src: Tensor): Tensor {
    const shapes = `x ${describe(x)}, index ${describe(idx)}, source ${describe(src)}`;
    if (!isFloat(x.dtype) || src.dtype !== x.dtype) throw new Error(`indexAdd: x and source must share a float dtype: ${shapes}`);
    const d = normAxis('indexAdd', dim, x.ndim);
    const i1 = vectorIndex('indexAdd', x, d, idx);
    const ok = src.ndim === x.ndim && src.shape.every((s, k) => (k === d ? s === i1.shape[0] : s === x.shape[k]));
    if (!ok) throw new Error(`indexAdd: source must have x's shape with dim ${d} of size ${i1.shape[0]}: ${shapes}`);
    const out = empty(x.shape, x.dtype);
    dispatch('copy', out, x);
    // Slice by slice, so that repeated indices accumulate (a vectorised scatter would race on them).
    const slice = x.shape.map((s, k) => (k === d ? 1 : s));
    const tmp = empty(slice, x.dtype);
    const at = i1.toArray();
    for (let i = 0; i < at.length; i++) {
      const dst = out._view(slice, out.strides, at[i]! * out.strides[d]!);
      const s = src._view(slice, src.strides, src.offset + i * src.strides[d]!);
      dispatch('binary', 'add', tmp, dst, s);
      dispatch('copy', dst, tmp);
    }
    ctx.attrs.d = d;
    ctx.save(i1);
    return out;
  },
  backward(ctx, g) {
    const [i1] = ctx.saved as [Tensor];
    const needSrc = ctx.needsGrad[2];
    return [g, null, needSrc ? indexSelect(g, ctx.attrs.d as number, i1) : null];
  },
});

/** x with source slices added at positions idx along dim (repeated positions accumulate). */
export function indexAdd(x: Tensor, dim: number, idx: Tensor, source: Tensor): Tensor {
  return indexAddOp(x, dim, idx, source);
}

const gatherOp = defineOp({
  name: 'gather',
  dtypes: ['f32', 'f64'],
  composite: true,
  forward(_ctx, x: Tensor, dim: number, index: Tensor): Tensor {
    const shapes = `x ${describe(x)}, index ${describe(index)}`;
    if (isQuant(x.dtype)) throw new Error(`gather: quantized tensors cannot be gathered: ${shapes}`);
    const d = normAxis('gather', dim, x.ndim);
    if (index.ndim !== x.ndim || index.shape.some((s, k) => k !== d && s > x.shape[k]!)) {
      throw new Error(`gather: index must have x's rank and sizes no larger than x's outside dim ${d}: ${shapes}`);
    }
    const at = checkedIndices('gather', 'index', index, x.shape[d]!, shapes);
    // Flat positions in x's row-major layout, then one indexSelect over the flattened x (autograd flows).
    const cs = contiguousStrides(x.shape);
    const flat = new Int32Array(at.length);
    for (let p = 0; p < at.length; p++) {
      const c = unravelIndex(p, index.shape);
      let o = 0;
      for (let k = 0; k < c.length; k++) o += (k === d ? at[p]! : c[k]!) * cs[k]!;
      flat[p] = o;
    }
    return reshape(indexSelect(reshape(x, [-1]), 0, tensor(flat, { dtype: 'i32' })), index.shape);
  },
});

/** torch.gather: out[p] = x[p with coordinate `dim` replaced by index[p]]; out has index's shape. */
export function gather(x: Tensor, dim: number, index: Tensor): Tensor {
  return gatherOp(x, dim, index);
}

const embeddingOp = defineOp({
  name: 'embedding',
  // The dtype axis of this op is the weight's.
  dtypes: ['f32', 'f64', 'f16', 'bf16', 'q8_0', 'q4_0'],
  forward(ctx, weight: Tensor, ids: Tensor): Tensor {
    const shapes = `weight ${describe(weight)}, ids ${describe(ids)}`;
    if (!isWeightDType(weight.dtype) || weight.ndim !== 2) {
      throw new Error(`embedding: weight must be [V, D] in f32/f64/f16/bf16/q8_0/q4_0: ${shapes}`);
    }
    const [V, D] = weight.shape as [number, number];
    checkedIndices('embedding', 'id', ids, V, shapes);
    const flat = reshape(ids, [-1]);
    const out = empty([flat.shape[0]!, D], weight.dtype === 'f64' ? 'f64' : 'f32');
    dispatch('embedding', out, weight, flat);
    ctx.save(flat);
    ctx.attrs.weight = weight.shape;
    ctx.attrs.float = isFloat(weight.dtype);
    return reshape(out, [...ids.shape, D]);
  },
  backward(ctx, g) {
    if (!ctx.attrs.float) return [null, null];
    const [flat] = ctx.saved as [Tensor];
    const [V, D] = ctx.attrs.weight as [number, number];
    return [indexAdd(zeros([V, D], g.dtype), 0, flat, reshape(g, [-1, D])), null];
  },
});

/**
 * Rows of weight [V, D] (f32/f64/f16/bf16/q8_0/q4_0) at ids (i32, any shape) → [...ids.shape, D], f64 for
 * f64 weights and f32 otherwise. Only f32/f64 weights receive a gradient.
 */
export function embedding(weight: Tensor, ids: Tensor): Tensor {
  return embeddingOp(weight, ids);
}
