/**
 * Elementwise ops with NumPy broadcasting: arithmetic, unary math and activations (gelu erf/tanh,
 * quickGelu, silu), comparisons and `where`. Inputs of a binary op share one float dtype; a JS number
 * operand takes the other operand's dtype. Backward formulas are written with these same ops.
 */
import { defineOp, type OpDef } from '../autograd.js';
import { dispatch } from '../backend.js';
import { isFloat, type DType } from '../dtype.js';
import type { BinaryOp, CompareOp, UnaryOp } from '../kernels.js';
import { broadcastShapes, fmtShape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { empty, tensor } from './factory.js';
import { sumTo } from './reduce.js';
import { expandView } from './view.js';

export type Operand = Tensor | number;

/** A 0-d tensor holding `v` in the dtype of `like`. */
export function scalarLike(v: number, like: Tensor): Tensor {
  return tensor(v, { dtype: like.dtype });
}

function lift(op: string, a: Operand, b: Operand): [Tensor, Tensor] {
  if (a instanceof Tensor && b instanceof Tensor) return [a, b];
  if (a instanceof Tensor) return [a, scalarLike(b as number, a)];
  if (b instanceof Tensor) return [scalarLike(a as number, b), b];
  throw new Error(`${op}: at least one operand must be a tensor`);
}

function checkFloatPair(op: string, a: Tensor, b: Tensor): void {
  if (!isFloat(a.dtype) || !isFloat(b.dtype)) {
    throw new Error(`${op}: expected float tensors (f32/f64), got ${a.dtype} ${fmtShape(a.shape)} and ${b.dtype} ${fmtShape(b.shape)}`);
  }
  if (a.dtype !== b.dtype) {
    throw new Error(`${op}: dtypes differ: ${a.dtype} ${fmtShape(a.shape)} and ${b.dtype} ${fmtShape(b.shape)}`);
  }
}

function binaryForward(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  checkFloatPair(op, a, b);
  const shape = broadcastShapes(op, a.shape, b.shape);
  const out = empty(shape, a.dtype);
  dispatch('binary', op, out, expandView(a, shape), expandView(b, shape));
  return out;
}

type BinaryGrad = (g: Tensor, a: Tensor, b: Tensor, out: Tensor, needs: readonly boolean[]) => [Tensor | null, Tensor | null];

function binary(op: BinaryOp, grad: BinaryGrad): (a: Operand, b: Operand) => Tensor {
  const def = defineOp({
    name: op,
    dtypes: ['f32', 'f64'],
    forward(ctx, a: Tensor, b: Tensor): Tensor {
      const out = binaryForward(op, a, b);
      ctx.save(a, b, out);
      return out;
    },
    backward(ctx, g) {
      const [a, b, out] = ctx.saved as [Tensor, Tensor, Tensor];
      const [ga, gb] = grad(g, a, b, out, ctx.needsGrad);
      return [ga && sumTo(ga, a.shape), gb && sumTo(gb, b.shape)];
    },
  });
  return (a, b) => {
    const [x, y] = lift(op, a, b);
    return def(x, y);
  };
}

export const add = binary('add', (g) => [g, g]);
export const sub = binary('sub', (g) => [g, neg(g)]);
export const mul = binary('mul', (g, a, b, _o, n) => [n[0] ? mul(g, b) : null, n[1] ? mul(g, a) : null]);
export const div = binary('div', (g, a, b, out, n) => [n[0] ? div(g, b) : null, n[1] ? neg(div(mul(g, out), b)) : null]);
/** As torch: no gradient through a zero exponent, and none to the exponent at a zero base (b ≥ 0). */
export const pow = binary('pow', (g, a, b, out, n) => {
  const zero = scalarLike(0, g);
  return [
    n[0] ? mul(g, where(eq(b, zero), zero, mul(b, pow(a, sub(b, 1))))) : null,
    n[1] ? mul(g, where(eq(a, zero), where(ge(b, zero), zero, mul(out, log(a))), mul(out, log(a)))) : null,
  ];
});
/** Ties send half of the gradient to each side (as PyTorch does). */
export const maximum = binary('maximum', (g, a, b) => {
  const wa = add(toFloat(gt(a, b), g.dtype), mul(toFloat(eq(a, b), g.dtype), 0.5));
  return [mul(g, wa), mul(g, sub(1, wa))];
});
export const minimum = binary('minimum', (g, a, b) => {
  const wa = add(toFloat(lt(a, b), g.dtype), mul(toFloat(eq(a, b), g.dtype), 0.5));
  return [mul(g, wa), mul(g, sub(1, wa))];
});

function toFloat(t: Tensor, dtype: DType): Tensor {
  const out = empty(t.shape, dtype);
  dispatch('copy', out, t);
  return out;
}

type UnaryGrad = (g: Tensor, x: Tensor, out: Tensor) => Tensor;

function unary(op: UnaryOp, grad: UnaryGrad): (x: Tensor) => Tensor {
  return defineOp({
    name: op,
    dtypes: ['f32', 'f64'],
    forward(ctx, x: Tensor): Tensor {
      if (!isFloat(x.dtype)) throw new Error(`${op}: expected a float tensor (f32/f64), got ${x.dtype} ${fmtShape(x.shape)}`);
      const out = empty(x.shape, x.dtype);
      dispatch('unary', op, out, x);
      ctx.save(x, out);
      return out;
    },
    backward(ctx, g) {
      const [x, out] = ctx.saved as [Tensor, Tensor];
      return [grad(g, x, out)];
    },
  });
}

const SQRT_2_PI = Math.sqrt(2 / Math.PI);
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

export const neg = unary('neg', (g) => neg(g));
export const abs = unary('abs', (g, x) => mul(g, sign(x)));
export const sign = unary('sign', (g) => mul(g, 0));
export const exp = unary('exp', (g, _x, out) => mul(g, out));
export const log = unary('log', (g, x) => div(g, x));
export const sqrt = unary('sqrt', (g, _x, out) => div(mul(g, 0.5), out));
export const rsqrt = unary('rsqrt', (g, _x, out) => mul(g, mul(pow(out, 3), -0.5)));
export const square = unary('square', (g, x) => mul(g, mul(x, 2)));
export const reciprocal = unary('reciprocal', (g, _x, out) => neg(mul(g, square(out))));
export const sin = unary('sin', (g, x) => mul(g, cos(x)));
export const cos = unary('cos', (g, x) => neg(mul(g, sin(x))));
export const tanh = unary('tanh', (g, _x, out) => mul(g, sub(1, square(out))));
export const sigmoid = unary('sigmoid', (g, _x, out) => mul(g, mul(out, sub(1, out))));
export const relu = unary('relu', (g, x) => mul(g, toFloat(gt(x, 0), g.dtype)));
export const erf = unary('erf', (g, x) => mul(g, mul(exp(neg(square(x))), 2 / Math.sqrt(Math.PI))));
/** Exact GELU: x·Φ(x) with Φ the normal CDF via erf (torch.nn.GELU(), HF "gelu"). */
export const gelu = unary('gelu', (g, x) => {
  const cdf = mul(add(erf(mul(x, Math.SQRT1_2)), 1), 0.5);
  const pdf = mul(exp(mul(square(x), -0.5)), INV_SQRT_2PI);
  return mul(g, add(cdf, mul(x, pdf)));
});
/** GELU, tanh approximation (HF "gelu_new" / "gelu_pytorch_tanh"). */
export const geluTanh = unary('geluTanh', (g, x) => {
  const x2 = square(x);
  const t = tanh(mul(mul(x, add(mul(x2, 0.044715), 1)), SQRT_2_PI));
  const dudx = mul(add(mul(x2, 3 * 0.044715), 1), SQRT_2_PI);
  const dy = add(mul(add(t, 1), 0.5), mul(mul(mul(x, 0.5), sub(1, square(t))), dudx));
  return mul(g, dy);
});
/** x·sigmoid(1.702·x), the activation of OpenAI's CLIP. */
export const quickGelu = unary('quickGelu', (g, x) => {
  const s = sigmoid(mul(x, 1.702));
  return mul(g, add(s, mul(mul(x, 1.702), mul(s, sub(1, s)))));
});
/** x·sigmoid(x) (SiLU / swish), LLaMA's MLP activation. */
export const silu = unary('silu', (g, x) => {
  const s = sigmoid(x);
  return mul(g, mul(s, add(mul(x, sub(1, s)), 1)));
});

function compare(op: CompareOp): (a: Operand, b: Operand) => Tensor {
  const def = defineOp({
    name: op,
    dtypes: ['f32', 'f64', 'i32', 'u8', 'bool'],
    differentiable: false,
    forward(_ctx, a: Tensor, b: Tensor): Tensor {
      if (a.dtype !== b.dtype) throw new Error(`${op}: dtypes differ: ${a.dtype} ${fmtShape(a.shape)} and ${b.dtype} ${fmtShape(b.shape)}`);
      const shape = broadcastShapes(op, a.shape, b.shape);
      const out = empty(shape, 'bool');
      dispatch('compare', op, out, expandView(a, shape), expandView(b, shape));
      return out;
    },
  } as OpDef<[Tensor, Tensor]>);
  return (a, b) => {
    const [x, y] = lift(op, a, b);
    return def(x, y);
  };
}

export const eq = compare('eq');
export const ne = compare('ne');
export const lt = compare('lt');
export const le = compare('le');
export const gt = compare('gt');
export const ge = compare('ge');

const whereOp = defineOp({
  name: 'where',
  dtypes: ['f32', 'f64'],
  forward(ctx, cond: Tensor, a: Tensor, b: Tensor): Tensor {
    if (cond.dtype !== 'bool') throw new Error(`where: condition must be bool, got ${cond.dtype} ${fmtShape(cond.shape)}`);
    checkFloatPair('where', a, b);
    const shape = broadcastShapes('where', cond.shape, a.shape, b.shape);
    const out = empty(shape, a.dtype);
    dispatch('where', out, expandView(cond, shape), expandView(a, shape), expandView(b, shape));
    ctx.save(cond, a, b);
    return out;
  },
  backward(ctx, g) {
    const [cond, a, b] = ctx.saved as [Tensor, Tensor, Tensor];
    const zero = scalarLike(0, g);
    return [null, sumTo(where(cond, g, zero), a.shape), sumTo(where(cond, zero, g), b.shape)];
  },
});

/** cond ? a : b elementwise, broadcasting all three (two numbers give an f32 result, as torch). */
export function where(cond: Tensor, a: Operand, b: Operand): Tensor {
  if (typeof a === 'number' && typeof b === 'number') a = tensor(a);
  const [x, y] = lift('where', a, b);
  return whereOp(cond, x, y);
}
