/**
 * Losses: `crossEntropy` over the last dim of logits with integer targets (torch.nn.functional.cross_entropy
 * semantics: ignore_index, mean over the non-ignored targets, NaN when every target is ignored). Forward
 * runs the per-row kernel; backward is (softmax − onehot) on the non-ignored rows, scaled by the reduction.
 *
 * Not here: label smoothing, class weights, probability targets (nothing in the model needs them).
 */
import { defineOp } from '../autograd.js';
import { dispatch } from '../backend.js';
import { isFloat } from '../dtype.js';
import { fmtShape, shapesEqual, unravelIndex } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { div, eq, mul, ne, sub } from './elementwise.js';
import { arange, empty } from './factory.js';
import { softmax } from './nn.js';
import { sum } from './reduce.js';
import { reshape, to } from './view.js';

export type Reduction = 'mean' | 'sum' | 'none';

export interface CrossEntropyOptions {
  /** Targets equal to this contribute no loss and no gradient (default −100, as torch). */
  ignoreIndex?: number;
  /** 'mean' (default) over non-ignored targets, 'sum', or 'none' (per-target losses, shape of targets). */
  reduction?: Reduction;
}

const crossEntropyOp = defineOp({
  name: 'crossEntropy',
  dtypes: ['f32', 'f64'],
  forward(ctx, logits: Tensor, targets: Tensor, ignoreIndex: number, reduction: Reduction): Tensor {
    const shapes = `logits ${logits.dtype} ${fmtShape(logits.shape)}, targets ${targets.dtype} ${fmtShape(targets.shape)}`;
    if (!isFloat(logits.dtype) || logits.ndim < 1) throw new Error(`crossEntropy: logits must be f32/f64 [..., V]: ${shapes}`);
    if (targets.dtype !== 'i32') throw new Error(`crossEntropy: targets must be i32: ${shapes}`);
    if (!shapesEqual(targets.shape, logits.shape.slice(0, -1))) {
      throw new Error(`crossEntropy: targets must have the shape of logits without its last dim: ${shapes}`);
    }
    if (!['mean', 'sum', 'none'].includes(reduction)) throw new Error(`crossEntropy: unknown reduction '${reduction}'`);
    const V = logits.shape[logits.ndim - 1]!;
    const t = targets.toArray();
    let count = 0;
    t.forEach((v, i) => {
      if (v === ignoreIndex) return;
      if (v < 0 || v >= V) {
        throw new Error(`crossEntropy: target ${v} at position ${fmtShape(unravelIndex(i, targets.shape))} is out of range for ${V} classes (${shapes})`);
      }
      count++;
    });
    const N = t.length;
    const l2 = reshape(logits, [N, V]);
    const t1 = reshape(targets, [N]);
    const rows = empty([N], logits.dtype);
    dispatch('crossEntropy', rows, l2, t1, ignoreIndex);
    ctx.save(l2, t1);
    Object.assign(ctx.attrs, { count, ignoreIndex, reduction, shape: logits.shape });
    if (reduction === 'none') return reshape(rows, targets.shape);
    const total = sum(rows);
    return reduction === 'sum' ? total : div(total, count);
  },
  backward(ctx, g) {
    const [l2, t1] = ctx.saved as [Tensor, Tensor];
    const { count, ignoreIndex, reduction, shape } = ctx.attrs as { count: number; ignoreIndex: number; reduction: Reduction; shape: number[] };
    const [N, V] = l2.shape as [number, number];
    const dtype = l2.dtype;
    const onehot = to(eq(reshape(arange(V), [1, V]), reshape(t1, [N, 1])), dtype);
    const valid = reshape(to(ne(t1, ignoreIndex), dtype), [N, 1]);
    const scale = reduction === 'none' ? reshape(g, [N, 1]) : reduction === 'sum' ? g : div(g, count);
    return [reshape(mul(mul(sub(softmax(l2), onehot), valid), scale), shape), null];
  },
});

/**
 * Cross entropy of logits [..., V] against class indices targets i32 [...]: mean (by default) of
 * logsumexp(logits) − logits[target] over targets ≠ ignoreIndex. A target outside [0, V) that is not
 * ignoreIndex is an error naming its value and position.
 */
export function crossEntropy(logits: Tensor, targets: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  return crossEntropyOp(logits, targets, opts.ignoreIndex ?? -100, opts.reduction ?? 'mean');
}
