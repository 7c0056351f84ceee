/**
 * Attention ops: rotary position embedding (`rope`, rotate_half layout, with `ropeTables` computing the
 * cos/sin tables exactly as HF LLaMA does in f32) and `scaledDotProductAttention` (GQA, causal with the
 * queries at the last Tq positions so a KV-cache prefix works, key padding mask).
 *
 * Forward runs the fused kernels; the attention backward recomputes the probabilities with ops (masked
 * softmax of QKᵀ) and applies the standard formulas, summing over the query heads that share a kv head.
 * Keys and values may be stored in f16/bf16 (an f16 KV cache read in place): like half weights in
 * `linear` they are frozen — the kernels decode them exactly, no gradient goes to them, and the gradient
 * still flows to q.
 * Not here: KV caches, projections, head splitting (model code does those).
 */
import { defineOp } from '../autograd.js';
import { dispatch } from '../backend.js';
import { isFloat, isHalf } from '../dtype.js';
import { fmtShape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { add, gt, le, mul, neg, sub, where } from './elementwise.js';
import { arange, empty } from './factory.js';
import { matmul } from './linalg.js';
import { softmax } from './nn.js';
import { sum, sumTo } from './reduce.js';
import { expand, expandView, narrow, reshape, to, transpose } from './view.js';

function describe(t: Tensor): string {
  return `${t.dtype} ${fmtShape(t.shape)}`;
}

/** cos/sin [T, D/2] or [B, T, D/2] as the [B, T, D/2] view the kernel takes. */
function ropeTable(name: string, x: Tensor, t: Tensor): Tensor {
  const [B, , T, D] = x.shape as [number, number, number, number];
  const ok = t.dtype === x.dtype &&
    ((t.ndim === 2 && t.shape[0] === T && t.shape[1] === D / 2) ||
      (t.ndim === 3 && (t.shape[0] === B || t.shape[0] === 1) && t.shape[1] === T && t.shape[2] === D / 2));
  if (!ok) {
    throw new Error(`rope: ${name} must be ${x.dtype} [${T}, ${D / 2}] or [${B}, ${T}, ${D / 2}] for x ${describe(x)}, got ${describe(t)}`);
  }
  return expandView(t, [B, T, D / 2]);
}

const ropeOp = defineOp({
  name: 'rope',
  dtypes: ['f32', 'f64'],
  forward(ctx, x: Tensor, cos: Tensor, sin: Tensor): Tensor {
    if (!isFloat(x.dtype) || x.ndim !== 4 || x.shape[3]! % 2 !== 0) {
      throw new Error(`rope: x must be f32/f64 [B, H, T, D] with D even, got ${describe(x)}`);
    }
    const out = empty(x.shape, x.dtype);
    dispatch('rope', out, x, ropeTable('cos', x, cos), ropeTable('sin', x, sin));
    ctx.save(x, cos, sin);
    return out;
  },
  backward(ctx, g) {
    const [x, cos, sin] = ctx.saved as [Tensor, Tensor, Tensor];
    const [needX, needCos, needSin] = ctx.needsGrad;
    // The rotation by θ is orthogonal: its adjoint is the rotation by −θ.
    const gx = needX ? rope(g, cos, neg(sin)) : null;
    if (!needCos && !needSin) return [gx, null, null];
    const h = x.shape[3]! / 2;
    const [x1, x2, g1, g2] = [narrow(x, 3, 0, h), narrow(x, 3, h, h), narrow(g, 3, 0, h), narrow(g, 3, h, h)];
    // Tables are shared by all heads (dim 1): sum over it, then over a broadcast batch dim.
    const gcos = needCos ? sumTo(sum(add(mul(g1, x1), mul(g2, x2)), 1), cos.shape) : null;
    const gsin = needSin ? sumTo(sum(sub(mul(g2, x1), mul(g1, x2)), 1), sin.shape) : null;
    return [gx, gcos, gsin];
  },
});

/**
 * Rotary embedding in the rotate_half layout: x [B, H, T, D] (any strides), cos/sin [T, D/2] or
 * [B, T, D/2] (from `ropeTables`, same dtype as x): out = x·cos + rotate_half(x)·sin.
 */
export function rope(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  return ropeOp(x, cos, sin);
}

/**
 * cos/sin tables for `rope` at integer positions (i32 [T] or [B, T]) as HF LLaMA computes them in f32:
 * inv_freq[i] = fl(1 / fl(theta ** fl(2i / headDim))), angle = fl(pos · inv_freq[i]), cos/sin of that f32
 * angle rounded to f32. Returns f32 tensors [T, headDim/2] (or [B, T, headDim/2]). Not an op: no gradient.
 */
export function ropeTables(positions: Tensor, headDim: number, theta = 10000): { cos: Tensor; sin: Tensor } {
  if (positions.dtype !== 'i32' || (positions.ndim !== 1 && positions.ndim !== 2)) {
    throw new Error(`ropeTables: positions must be i32 [T] or [B, T], got ${describe(positions)}`);
  }
  if (!Number.isInteger(headDim) || headDim <= 0 || headDim % 2 !== 0) {
    throw new Error(`ropeTables: headDim must be a positive even integer, got ${headDim}`);
  }
  const f = Math.fround;
  const half = headDim / 2;
  const invFreq = new Float64Array(half);
  for (let i = 0; i < half; i++) invFreq[i] = f(1 / f(Math.pow(f(theta), f((2 * i) / headDim))));
  const pos = positions.toArray();
  const shape = [...positions.shape, half];
  const cos = empty(shape, 'f32');
  const sin = empty(shape, 'f32');
  for (let p = 0; p < pos.length; p++) {
    for (let i = 0; i < half; i++) {
      const angle = f(f(pos[p]!) * invFreq[i]!);
      cos.data[p * half + i] = Math.cos(angle);
      sin.data[p * half + i] = Math.sin(angle);
    }
  }
  return { cos, sin };
}

export interface SdpaOptions {
  /** Query i (of Tq) sits at position Tk − Tq + i and sees keys at positions ≤ that. Default false. */
  causal?: boolean;
  /** bool [B, Tk] (or [1, Tk]), 1 = the key may be attended. */
  keyMask?: Tensor | null;
  /** Multiplies QKᵀ; default 1/sqrt(D). */
  scale?: number;
}

interface SdpaAttrs {
  causal: boolean;
  keyMask: Tensor | null;
  scale: number;
}

/** Copies of each kv head for the query heads that share it: [B, Hkv, T, D] → [B, Hq, T, D]. */
function repeatKv(t: Tensor, groups: number): Tensor {
  if (groups === 1) return t;
  const [B, H, T, D] = t.shape as [number, number, number, number];
  return reshape(expand(reshape(t, [B, H, 1, T, D]), [B, H, groups, T, D]), [B, H * groups, T, D]);
}

/** The adjoint of repeatKv: sum the gradients of query heads sharing a kv head. */
function sumGroups(t: Tensor, groups: number): Tensor {
  if (groups === 1) return t;
  const [B, Hq, T, D] = t.shape as [number, number, number, number];
  return sum(reshape(t, [B, Hq / groups, groups, T, D]), 2);
}

/** Visible (query, key) pairs as bool [B|1, 1, Tq|1, Tk], or null when every key is visible. */
function visibility(B: number, Tq: number, Tk: number, causal: boolean, keyMask: Tensor | null, dtype: 'f32' | 'f64'): Tensor | null {
  let m: Tensor | null = null;
  if (causal) {
    const qpos = reshape(arange(Tk - Tq, Tk), [Tq, 1]);
    m = to(le(reshape(arange(Tk), [1, Tk]), qpos), dtype);
  }
  if (keyMask) {
    const km = reshape(to(expandView(keyMask, [B, Tk]), dtype), [B, 1, 1, Tk]);
    m = m ? mul(m, km) : km;
  }
  return m && gt(m, 0);
}

const sdpaOp = defineOp({
  name: 'scaledDotProductAttention',
  // The dtype axis of this op is k's and v's: q (and the output) is always f32/f64.
  dtypes: ['f32', 'f64', 'f16', 'bf16'],
  forward(ctx, q: Tensor, k: Tensor, v: Tensor, attrs: SdpaAttrs): Tensor {
    const fail = (why: string) => new Error(`scaledDotProductAttention: ${why}: q ${describe(q)}, k ${describe(k)}, v ${describe(v)}`);
    if (!isFloat(q.dtype)) throw fail('q must be f32 or f64');
    if (k.dtype !== v.dtype || (k.dtype !== q.dtype && !isHalf(k.dtype))) {
      throw fail("k and v must share q's dtype or one half dtype (f16/bf16)");
    }
    if (q.ndim !== 4 || k.ndim !== 4 || v.ndim !== 4) throw fail('q, k, v must be [B, H, T, D]');
    const [B, Hq, Tq, D] = q.shape as [number, number, number, number];
    const [Bk, Hkv, Tk, Dk] = k.shape as [number, number, number, number];
    const [Bv, Hv, Tv] = v.shape as [number, number, number, number];
    if (Bk !== B || Bv !== B) throw fail('batch sizes differ');
    if (Hv !== Hkv || Tv !== Tk) throw fail('k and v must have the same heads and length');
    if (Dk !== D) throw fail('q and k head dims differ');
    if (Hkv === 0 || Hq % Hkv !== 0) throw fail(`query heads (${Hq}) must be a multiple of kv heads (${Hkv})`);
    if (attrs.causal && Tk < Tq) throw fail(`causal attention needs at least as many keys (${Tk}) as queries (${Tq})`);
    const km = attrs.keyMask;
    if (km && (km.dtype !== 'bool' || km.ndim !== 2 || (km.shape[0] !== B && km.shape[0] !== 1) || km.shape[1] !== Tk)) {
      throw fail(`keyMask must be bool [${B}, ${Tk}], got ${describe(km)}`);
    }
    const out = empty([B, Hq, Tq, v.shape[3]!], q.dtype);
    dispatch('attention', out, q, k, v, { causal: attrs.causal, keyMask: km && expandView(km, [B, Tk]), scale: attrs.scale });
    ctx.save(q, k, v);
    ctx.attrs.a = attrs;
    return out;
  },
  backward(ctx, g) {
    const [q, k, v] = ctx.saved as [Tensor, Tensor, Tensor];
    const { causal, keyMask, scale } = ctx.attrs.a as SdpaAttrs;
    const [B, Hq, Tq] = q.shape as [number, number, number, number];
    const groups = Hq / k.shape[1]!;
    const Tk = k.shape[2]!;
    const kx = repeatKv(k, groups);
    const vx = repeatKv(v, groups);
    const s = mul(matmul(q, transpose(kx, -1, -2)), scale);
    const vis = visibility(B, Tq, Tk, causal, keyMask, q.dtype as 'f32' | 'f64');
    let p: Tensor;
    if (vis) {
      // Rows with no visible key have zero probabilities (and so zero gradients), as in the forward.
      const any = gt(sum(to(vis, q.dtype), -1, true), 0);
      p = mul(softmax(where(any, where(vis, s, -Infinity), 0)), to(any, q.dtype));
    } else {
      p = softmax(s);
    }
    const dp = matmul(g, transpose(vx, -1, -2));
    const ds = mul(mul(p, sub(dp, sum(mul(dp, p), -1, true))), scale);
    // Half keys and values are frozen (matmul decodes them for q's gradient).
    const frozen = isHalf(k.dtype);
    const [needQ, needK, needV] = ctx.needsGrad;
    return [
      needQ ? matmul(ds, kx) : null,
      needK && !frozen ? sumGroups(matmul(transpose(ds, -1, -2), q), groups) : null,
      needV && !frozen ? sumGroups(matmul(transpose(p, -1, -2), g), groups) : null,
    ];
  },
});

/**
 * softmax(scale · Q·Kᵀ + mask)·V: q [B, Hq, Tq, D], k [B, Hkv, Tk, D], v [B, Hkv, Tk, Dv] → [B, Hq, Tq, Dv].
 * Query head h uses kv head floor(h·Hkv/Hq) (GQA); with `causal` the queries are the last Tq positions
 * (Tk ≥ Tq); a query row that sees no key yields zeros. q is f32/f64; k and v share q's dtype or are
 * f16/bf16 (frozen: decoded exactly, so the result equals attention over k, v converted to q's dtype, and
 * they receive no gradient). The output has q's dtype.
 */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, opts: SdpaOptions = {}): Tensor {
  const D = q.shape[q.ndim - 1] ?? 1;
  return sdpaOp(q, k, v, { causal: opts.causal ?? false, keyMask: opts.keyMask ?? null, scale: opts.scale ?? 1 / Math.sqrt(D) });
}
