/**
 * Normalisation and softmax ops: layerNorm (biased variance, optional affine), rmsNorm (HF LLaMA order),
 * softmax and logSoftmax along any dim (non-last dims through a permuted view). Forward dispatches the
 * fused kernel; backward recomputes the statistics with ops (nothing but the inputs is saved).
 *
 * Also `alignGrads`, the helper every op with optional tensor arguments uses to return one gradient per
 * tensor actually passed. Not here: activations (elementwise.ts), attention and rope (attention.ts).
 */
import { defineOp, type OpContext } from '../autograd.js';
import { dispatch } from '../backend.js';
import { isFloat } from '../dtype.js';
import { fmtShape, normAxis } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { add, exp, mul, rsqrt, square, sub } from './elementwise.js';
import { empty } from './factory.js';
import { mean, sum, sumTo } from './reduce.js';
import { transpose } from './view.js';

/**
 * Optional tensor arguments that are null are not inputs of the autograd node; given per-argument
 * gradients (aligned with `args`), keep those of the tensors that were passed.
 */
export function alignGrads(args: readonly (Tensor | null)[], grads: readonly (Tensor | null)[]): (Tensor | null)[] {
  return grads.filter((_, i) => args[i] !== null);
}

/** ctx.needsGrad re-aligned with `args`, where null arguments are not inputs (false for them). */
export function alignedNeeds(ctx: OpContext, args: readonly (Tensor | null)[]): boolean[] {
  let k = 0;
  return args.map((a) => (a === null ? false : ctx.needsGrad[k++]!));
}

function checkAffine(op: string, x: Tensor, name: string, p: Tensor | null): void {
  if (!p) return;
  const D = x.shape[x.ndim - 1];
  if (p.ndim !== 1 || p.shape[0] !== D || p.dtype !== x.dtype) {
    throw new Error(`${op}: ${name} must be ${x.dtype} [${D}] for x ${x.dtype} ${fmtShape(x.shape)}, got ${p.dtype} ${fmtShape(p.shape)}`);
  }
}

function checkInput(op: string, x: Tensor): void {
  if (!isFloat(x.dtype)) throw new Error(`${op}: expected a float tensor (f32/f64), got ${x.dtype} ${fmtShape(x.shape)}`);
  if (x.ndim < 1) throw new Error(`${op}: x must have at least 1 dim, got ${fmtShape(x.shape)}`);
}

const layerNormOp = defineOp({
  name: 'layerNorm',
  dtypes: ['f32', 'f64'],
  forward(ctx, x: Tensor, w: Tensor | null, b: Tensor | null, eps: number): Tensor {
    checkInput('layerNorm', x);
    checkAffine('layerNorm', x, 'weight', w);
    checkAffine('layerNorm', x, 'bias', b);
    const out = empty(x.shape, x.dtype);
    dispatch('layerNorm', out, x, w, b, eps);
    ctx.attrs.args = [x, w, b];
    ctx.attrs.eps = eps;
    return out;
  },
  backward(ctx, g) {
    const args = ctx.attrs.args as [Tensor, Tensor | null, Tensor | null];
    const [x, w, b] = args;
    const [, needW, needB] = alignedNeeds(ctx, args);
    const xc = sub(x, mean(x, -1, true));
    const rstd = rsqrt(add(mean(square(xc), -1, true), ctx.attrs.eps as number));
    const xhat = mul(xc, rstd);
    const gxhat = w ? mul(g, w) : g;
    const gx = mul(rstd, sub(sub(gxhat, mean(gxhat, -1, true)), mul(xhat, mean(mul(gxhat, xhat), -1, true))));
    const gw = w && needW ? sumTo(mul(g, xhat), w.shape) : null;
    const gb = b && needB ? sumTo(g, b.shape) : null;
    ctx.attrs.args = null;
    return alignGrads(args, [gx, gw, gb]);
  },
});

/** Layer normalisation over the last dim: (x − mean)/sqrt(var + eps)·weight + bias (biased variance). */
export function layerNorm(x: Tensor, weight: Tensor | null = null, bias: Tensor | null = null, eps = 1e-5): Tensor {
  return layerNormOp(x, weight, bias, eps);
}

const rmsNormOp = defineOp({
  name: 'rmsNorm',
  dtypes: ['f32', 'f64'],
  forward(ctx, x: Tensor, w: Tensor | null, eps: number): Tensor {
    checkInput('rmsNorm', x);
    checkAffine('rmsNorm', x, 'weight', w);
    const out = empty(x.shape, x.dtype);
    dispatch('rmsNorm', out, x, w, eps);
    ctx.attrs.args = [x, w];
    ctx.attrs.eps = eps;
    return out;
  },
  backward(ctx, g) {
    const args = ctx.attrs.args as [Tensor, Tensor | null];
    const [x, w] = args;
    const [, needW] = alignedNeeds(ctx, args);
    const r = rsqrt(add(mean(square(x), -1, true), ctx.attrs.eps as number));
    const xhat = mul(x, r);
    const gxhat = w ? mul(g, w) : g;
    const gx = mul(r, sub(gxhat, mul(xhat, mean(mul(gxhat, xhat), -1, true))));
    const gw = w && needW ? sumTo(mul(g, xhat), w.shape) : null;
    ctx.attrs.args = null;
    return alignGrads(args, [gx, gw]);
  },
});

/** RMS normalisation over the last dim in HF LLaMA order: x̂ = x·rsqrt(mean(x²) + eps), then x̂·weight. */
export function rmsNorm(x: Tensor, weight: Tensor | null = null, eps = 1e-6): Tensor {
  return rmsNormOp(x, weight, eps);
}

function softmaxOp(name: 'softmax' | 'logSoftmax') {
  const log = name === 'logSoftmax';
  return defineOp({
    name,
    dtypes: ['f32', 'f64'],
    forward(ctx, x: Tensor, dim: number): Tensor {
      checkInput(name, x);
      const d = normAxis(name, dim, x.ndim);
      const last = x.ndim - 1;
      // The kernel works over the last dim: move `d` there (a view) and the result back (a view).
      const xp = d === last ? x : transpose(x, d, last);
      const outp = empty(xp.shape, x.dtype);
      dispatch('softmax', outp, xp, log);
      const out = d === last ? outp : transpose(outp, d, last);
      ctx.attrs.d = d;
      ctx.save(out);
      return out;
    },
    backward(ctx, g) {
      const [y] = ctx.saved as [Tensor];
      const d = ctx.attrs.d as number;
      if (log) return [sub(g, mul(exp(y), sum(g, d, true)))];
      return [mul(y, sub(g, sum(mul(g, y), d, true)))];
    },
  });
}
const softmaxDef = softmaxOp('softmax');
const logSoftmaxDef = softmaxOp('logSoftmax');

/** exp(x − max) / Σ exp(x − max) along `dim`. */
export function softmax(x: Tensor, dim = -1): Tensor {
  return softmaxDef(x, dim);
}

/** x − logsumexp(x) along `dim`. */
export function logSoftmax(x: Tensor, dim = -1): Tensor {
  return logSoftmaxDef(x, dim);
}
