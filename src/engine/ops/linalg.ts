/**
 * Matrix products: `matmul` (torch.matmul semantics: batch dims broadcast, 1-D operands promoted and the
 * added dim removed) and `linear` (x · wᵀ + bias with w stored in any weight dtype, including q8_0/q4_0).
 * Forward and backward side by side; backward is written with these same ops.
 *
 * Half (f16/bf16) and quantized operands are frozen weights: they never receive a gradient, but gradients
 * flow through them to the activations. Not here: the kernels (src/backends/*), quantization (quantize
 * lives with the weight formats).
 */
import { defineOp } from '../autograd.js';
import { dispatch } from '../backend.js';
import { isFloat, isHalf, isQuant, isWeightDType, type DType } from '../dtype.js';
import { broadcastShapes, contiguousStrides, fmtShape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { empty } from './factory.js';
import { sum, sumTo } from './reduce.js';
import { expandView, reshape, to, transpose } from './view.js';

function describe(t: Tensor): string {
  return `${t.dtype} ${fmtShape(t.shape)}`;
}

/** The compute-dtype twin of a weight (f16/bf16/q8_0/q4_0 → f32, via the copy kernel) for `like`'s dtype. */
export function weightAsFloat(w: Tensor, dtype: DType): Tensor {
  if (w.dtype === dtype) return w;
  return isQuant(w.dtype) && dtype !== 'f32' ? to(to(w, 'f32'), dtype) : to(w, dtype);
}

const matmulOp = defineOp({
  name: 'matmul',
  // The dtype axis of this op is b's: a is always f32/f64.
  dtypes: ['f32', 'f64', 'f16', 'bf16'],
  forward(ctx, a: Tensor, b: Tensor): Tensor {
    const fail = (why: string) => new Error(`matmul: ${why}: a ${describe(a)}, b ${describe(b)}`);
    if (!isFloat(a.dtype)) throw fail('a must be f32 or f64');
    if (!isFloat(b.dtype) && !isHalf(b.dtype)) throw fail('b must be f32, f64, f16 or bf16');
    if (isFloat(b.dtype) && b.dtype !== a.dtype) throw fail('dtypes differ');
    if (a.ndim < 2 || b.ndim < 2) throw fail('operands must have at least 2 dims here');
    const [M, K] = a.shape.slice(-2) as [number, number];
    const [K2, N] = b.shape.slice(-2) as [number, number];
    if (K !== K2) throw fail(`inner dimensions differ (${K} vs ${K2})`);
    let batch: number[];
    try {
      batch = broadcastShapes('matmul', a.shape.slice(0, -2), b.shape.slice(0, -2));
    } catch {
      throw fail('batch dims do not broadcast');
    }
    const out = empty([...batch, M, N], a.dtype);
    dispatch('matmul', out, expandView(a, [...batch, M, K]), expandView(b, [...batch, K, N]));
    // Keep only what backward reads: b for a's gradient, a for b's (a frozen weight keeps no activation).
    const [needA, needB] = ctx.needsGrad;
    const wantB = needB === true && isFloat(b.dtype);
    if (ctx.recording) Object.assign(ctx.attrs, { a: wantB ? a : null, b: needA ? b : null, aShape: a.shape, bShape: b.shape });
    return out;
  },
  backward(ctx, g) {
    const { a, b, aShape, bShape } = ctx.attrs as { a: Tensor | null; b: Tensor | null; aShape: number[]; bShape: number[] };
    ctx.attrs = {};
    return [
      b ? sumTo(matmul(g, transpose(b, -1, -2)), aShape) : null,
      a ? sumTo(matmul(transpose(a, -1, -2), g), bShape) : null,
    ];
  },
});

/**
 * Matrix product with torch.matmul semantics: [..., M, K] · [..., K, N] → [...batch, M, N] with the batch
 * dims broadcast; a 1-D a is a row [1, K] and a 1-D b a column [K, 1], whose added dim is dropped from the
 * result. a is f32/f64; b f32/f64 (same as a) or f16/bf16 (frozen: no gradient for b).
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.ndim === 0 || b.ndim === 0) {
    throw new Error(`matmul: both operands need at least 1 dim: a ${describe(a)}, b ${describe(b)}`);
  }
  const a2 = a.ndim === 1 ? reshape(a, [1, a.shape[0]!]) : a;
  const b2 = b.ndim === 1 ? reshape(b, [b.shape[0]!, 1]) : b;
  if (a2.shape[a2.ndim - 1] !== b2.shape[b2.ndim - 2]) {
    throw new Error(`matmul: inner dimensions differ: a ${describe(a)}, b ${describe(b)}`);
  }
  let out = matmulOp(a2, b2);
  if (a.ndim === 1) out = reshape(out, [...out.shape.slice(0, -2), out.shape[out.ndim - 1]!]);
  if (b.ndim === 1) out = reshape(out, out.shape.slice(0, -1));
  return out;
}

const linearOp = defineOp({
  name: 'linear',
  // The dtype axis of this op is the weight's.
  dtypes: ['f32', 'f64', 'f16', 'bf16', 'q8_0', 'q4_0'],
  forward(ctx, x: Tensor, w: Tensor, bias: Tensor | null): Tensor {
    const shapes = `x ${describe(x)}, w ${describe(w)}${bias ? `, bias ${describe(bias)}` : ''}`;
    const fail = (why: string) => new Error(`linear: ${why}: ${shapes}`);
    if (!isFloat(x.dtype)) throw fail('x must be f32 or f64');
    if (!isWeightDType(w.dtype)) throw fail('w must be f32, f64, f16, bf16, q8_0 or q4_0');
    if (isFloat(w.dtype) && w.dtype !== x.dtype) throw fail('dtypes of x and w differ');
    if (isQuant(w.dtype) && x.dtype !== 'f32') throw fail(`${w.dtype} weights take f32 activations`);
    if (w.ndim !== 2) throw fail('w must be [out, in]');
    if (x.ndim < 1) throw fail('x must have at least 1 dim');
    const [N, K] = w.shape as [number, number];
    if (x.shape[x.ndim - 1] !== K) throw fail(`last dim of x must equal in-features ${K}`);
    if (bias && (bias.ndim !== 1 || bias.shape[0] !== N || bias.dtype !== x.dtype)) {
      throw fail(`bias must be ${x.dtype} [${N}]`);
    }
    const lead = x.shape.slice(0, -1);
    const x2 = reshape(x, [-1, K]);
    const out = empty([x2.shape[0]!, N], x.dtype);
    dispatch('linear', out, x2, w, bias);
    // Keep only what backward reads: w for x's gradient, x for w's (frozen weights keep no activation).
    const [needX, needW] = ctx.needsGrad;
    const wantW = needW === true && isFloat(w.dtype);
    if (ctx.recording) Object.assign(ctx.attrs, { x2: wantW ? x2 : null, w: needX ? w : null, xShape: x.shape, N });
    return out._view([...lead, N], contiguousStrides([...lead, N]), 0);
  },
  backward(ctx, g) {
    const { x2, w, xShape, N } = ctx.attrs as { x2: Tensor | null; w: Tensor | null; xShape: number[]; N: number };
    ctx.attrs = {};
    const needB = ctx.needsGrad[2];
    const g2 = reshape(g, [-1, N]);
    // Half weights go to matmul as they are (it decodes them); quantized ones are dequantized first.
    return [
      w ? reshape(matmul(g2, isQuant(w.dtype) ? weightAsFloat(w, g.dtype) : w), xShape) : null,
      x2 ? matmul(transpose(g2, 0, 1), x2) : null,
      needB ? sum(g2, 0) : null,
    ];
  },
});

/**
 * y = x · wᵀ + bias over the last dim: x [..., K] (f32/f64), w [N, K] (f32/f64 matching x, or frozen
 * f16/bf16/q8_0/q4_0; quantized weights take f32 x), bias [N] → [..., N].
 */
export function linear(x: Tensor, w: Tensor, bias: Tensor | null = null): Tensor {
  return linearOp(x, w, bias);
}
