/**
 * Reductions over axes: sum, mean, max, min (differentiable), argmax/argmin (i32, not differentiable), and
 * `sumTo`, the broadcasting adjoint used by every backward that broadcast its inputs.
 */
import { defineOp } from '../autograd.js';
import { dispatch } from '../backend.js';
import type { ReduceOp } from '../kernels.js';
import { fmtShape, normAxis, numel, shapesEqual, type Shape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { isFloat } from '../dtype.js';
import { empty } from './factory.js';
import { expandView, reshape, to } from './view.js';
import { div, eq, mul, scalarLike } from './elementwise.js';

export type Axes = number | readonly number[] | undefined;

function normAxes(op: string, x: Tensor, axes: Axes): number[] {
  if (axes === undefined) return [...Array(x.ndim).keys()];
  const list = typeof axes === 'number' ? [axes] : [...axes];
  const out = [...new Set(list.map((a) => normAxis(op, a, x.ndim)))].sort((a, b) => a - b);
  return out;
}

function keptShape(x: Tensor, axes: readonly number[]): number[] {
  return x.shape.map((s, i) => (axes.includes(i) ? 1 : s));
}
function droppedShape(x: Tensor, axes: readonly number[]): number[] {
  return x.shape.filter((_, i) => !axes.includes(i));
}

function runReduce(op: ReduceOp, x: Tensor, axes: number[], keepDim: boolean): Tensor {
  if (op !== 'sum' && axes.some((a) => x.shape[a] === 0)) {
    throw new Error(`${op}: cannot reduce over an empty dim of ${fmtShape(x.shape)}`);
  }
  const kept = keptShape(x, axes);
  const out = empty(kept, op === 'argmax' || op === 'argmin' ? 'i32' : x.dtype);
  dispatch('reduce', op, out, x, axes);
  return keepDim ? out : out._view(droppedShape(x, axes), out.strides.filter((_, i) => !axes.includes(i)), 0);
}

function checkFloat(op: string, x: Tensor): void {
  if (!isFloat(x.dtype)) throw new Error(`${op}: expected a float tensor (f32/f64), got ${x.dtype} ${fmtShape(x.shape)}`);
}

const sumOp = defineOp({
  name: 'sum',
  dtypes: ['f32', 'f64'],
  forward(ctx, x: Tensor, axes: Axes, keepDim: boolean): Tensor {
    checkFloat('sum', x);
    const ax = normAxes('sum', x, axes);
    ctx.attrs.shape = x.shape;
    ctx.attrs.kept = keptShape(x, ax);
    return runReduce('sum', x, ax, keepDim);
  },
  backward(ctx, g) {
    // A broadcast (stride-0) view is a valid gradient; consumers copy it when they need their own storage.
    return [expandView(reshape(g, ctx.attrs.kept as number[]), ctx.attrs.shape as number[])];
  },
});

export function sum(x: Tensor, axes?: Axes, keepDim = false): Tensor {
  return sumOp(x, axes, keepDim);
}

export function mean(x: Tensor, axes?: Axes, keepDim = false): Tensor {
  const ax = normAxes('mean', x, axes);
  const n = ax.reduce((p, a) => p * x.shape[a]!, 1);
  return div(sum(x, ax, keepDim), scalarLike(n, x));
}

function extremum(name: 'max' | 'min') {
  return defineOp({
    name,
    dtypes: ['f32', 'f64'],
    forward(ctx, x: Tensor, axes: Axes, keepDim: boolean): Tensor {
      checkFloat(name, x);
      const ax = normAxes(name, x, axes);
      const kept = runReduce(name, x, ax, true);
      ctx.save(x, kept);
      return keepDim ? kept : kept._view(droppedShape(x, ax), kept.strides.filter((_, i) => !ax.includes(i)), 0);
    },
    backward(ctx, g) {
      // Gradient is shared equally among tied extremal elements (torch.amax semantics).
      const [x, kept] = ctx.saved as [Tensor, Tensor];
      const mask = to(eq(x, expandView(kept, x.shape)), x.dtype);
      const count = sum(mask, keptAxes(x, kept), true);
      const gk = g.reshape(...kept.shape);
      return [mul(mask, div(gk, count))];
    },
  });
}
function keptAxes(x: Tensor, kept: Tensor): number[] {
  return x.shape.map((s, i) => (kept.shape[i] === 1 && s !== 1 ? i : -1)).filter((i) => i >= 0);
}
const maxOp = extremum('max');
const minOp = extremum('min');
export function max(x: Tensor, axes?: Axes, keepDim = false): Tensor {
  return maxOp(x, axes, keepDim);
}
export function min(x: Tensor, axes?: Axes, keepDim = false): Tensor {
  return minOp(x, axes, keepDim);
}

function argExt(name: 'argmax' | 'argmin') {
  return defineOp({
    name,
    dtypes: ['f32', 'f64'],
    differentiable: false,
    forward(_ctx, x: Tensor, axis: number, keepDim: boolean): Tensor {
      checkFloat(name, x);
      return runReduce(name, x, [normAxis(name, axis, x.ndim)], keepDim);
    },
  });
}
const argmaxOp = argExt('argmax');
const argminOp = argExt('argmin');
/** Index of the largest element along `axis` (first one on ties), i32. */
export function argmax(x: Tensor, axis = -1, keepDim = false): Tensor {
  return argmaxOp(x, axis, keepDim);
}
export function argmin(x: Tensor, axis = -1, keepDim = false): Tensor {
  return argminOp(x, axis, keepDim);
}

/** Sum `g` down to `shape` (the inverse of broadcasting `shape` up to g's shape). */
export function sumTo(g: Tensor, shape: Shape): Tensor {
  if (shapesEqual(g.shape, shape)) return g;
  const lead = g.ndim - shape.length;
  if (lead < 0) throw new Error(`sumTo: cannot reduce ${fmtShape(g.shape)} to larger rank ${fmtShape(shape)}`);
  const axes: number[] = [];
  for (let i = 0; i < g.ndim; i++) {
    if (i < lead) axes.push(i);
    else if (shape[i - lead] === 1 && g.shape[i] !== 1) axes.push(i);
    else if (shape[i - lead] !== g.shape[i]) throw new Error(`sumTo: ${fmtShape(g.shape)} does not broadcast from ${fmtShape(shape)}`);
  }
  const s = axes.length ? sum(g, axes, true) : g;
  return numel(s.shape) === numel(shape) ? s.reshape(...shape) : s;
}
