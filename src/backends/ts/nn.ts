/**
 * Reference neural-network kernels: layerNorm, rmsNorm (HF LLaMA order), softmax/log-softmax, rope
 * (rotate_half layout), fused attention forward (f16/bf16 keys and values decoded exactly), per-row cross entropy, indexSelect. Obvious loops over
 * strided views, computed in f64 and rounded once on store; they are the specification native kernels are
 * tested against (contracts in src/engine/kernels.ts).
 *
 * Not here: validation of shapes, dtypes and index ranges (the ops do it before dispatch), backward
 * formulas (the ops write them with ops), anything fast.
 */
import type { AttentionOptions, KernelResult } from '../../engine/kernels.js';
import type { Tensor } from '../../engine/tensor.js';
import { isQuant } from '../../engine/dtype.js';
import { reader } from './elementwise.js';
import { batchOffsets } from './linalg.js';

/** Per-row view helpers over the last dim: storage offset of each row and the stride within a row. */
function rows(t: Tensor): { offs: Int32Array | Float64Array; stride: number; len: number } {
  return { offs: batchOffsets(t, 1), stride: t.strides[t.ndim - 1] ?? 1, len: t.shape[t.ndim - 1] ?? 1 };
}

export function layerNorm(out: Tensor, x: Tensor, w: Tensor | null, b: Tensor | null, eps: number): KernelResult {
  const X = rows(x);
  const O = rows(out);
  const D = X.len;
  const rw = w && reader(w);
  const rbias = b && reader(b);
  const xd = x.data;
  const od = out.data;
  const v = new Float64Array(D);
  for (let r = 0; r < X.offs.length; r++) {
    let mean = 0;
    for (let i = 0; i < D; i++) mean += v[i] = xd[X.offs[r]! + i * X.stride]!;
    mean /= D;
    let variance = 0;
    for (let i = 0; i < D; i++) variance += (v[i]! - mean) ** 2;
    variance /= D;
    const rstd = 1 / Math.sqrt(variance + eps);
    for (let i = 0; i < D; i++) {
      let y = (v[i]! - mean) * rstd;
      if (rw) y *= rw(w.offset + i * w.strides[0]!);
      if (rbias) y += rbias(b.offset + i * b.strides[0]!);
      od[O.offs[r]! + i * O.stride] = y;
    }
  }
}

export function rmsNorm(out: Tensor, x: Tensor, w: Tensor | null, eps: number): KernelResult {
  const X = rows(x);
  const O = rows(out);
  const D = X.len;
  const rw = w && reader(w);
  const xd = x.data;
  const od = out.data;
  for (let r = 0; r < X.offs.length; r++) {
    let ss = 0;
    for (let i = 0; i < D; i++) ss += xd[X.offs[r]! + i * X.stride]! ** 2;
    const scale = 1 / Math.sqrt(ss / D + eps);
    for (let i = 0; i < D; i++) {
      const xhat = xd[X.offs[r]! + i * X.stride]! * scale;
      od[O.offs[r]! + i * O.stride] = rw ? xhat * rw(w.offset + i * w.strides[0]!) : xhat;
    }
  }
}

export function softmax(out: Tensor, x: Tensor, log: boolean): KernelResult {
  const X = rows(x);
  const O = rows(out);
  const D = X.len;
  const xd = x.data;
  const od = out.data;
  for (let r = 0; r < X.offs.length; r++) {
    let max = -Infinity;
    for (let i = 0; i < D; i++) max = Math.max(max, xd[X.offs[r]! + i * X.stride]!);
    let s = 0;
    for (let i = 0; i < D; i++) s += Math.exp(xd[X.offs[r]! + i * X.stride]! - max);
    const logS = Math.log(s);
    for (let i = 0; i < D; i++) {
      const z = xd[X.offs[r]! + i * X.stride]! - max;
      od[O.offs[r]! + i * O.stride] = log ? z - logS : Math.exp(z) / s;
    }
  }
}

export function rope(out: Tensor, x: Tensor, cos: Tensor, sin: Tensor): KernelResult {
  const [B, H, T, D] = x.shape as [number, number, number, number];
  const half = D / 2;
  const xd = x.data;
  const od = out.data;
  const cd = cos.data;
  const sd = sin.data;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let t = 0; t < T; t++) {
        const xo = x.offset + b * x.strides[0]! + h * x.strides[1]! + t * x.strides[2]!;
        const oo = out.offset + b * out.strides[0]! + h * out.strides[1]! + t * out.strides[2]!;
        const co = cos.offset + b * cos.strides[0]! + t * cos.strides[1]!;
        const so = sin.offset + b * sin.strides[0]! + t * sin.strides[1]!;
        for (let i = 0; i < half; i++) {
          const x1 = xd[xo + i * x.strides[3]!]!;
          const x2 = xd[xo + (i + half) * x.strides[3]!]!;
          const c = cd[co + i * cos.strides[2]!]!;
          const s = sd[so + i * sin.strides[2]!]!;
          od[oo + i * out.strides[3]!] = x1 * c - x2 * s;
          od[oo + (i + half) * out.strides[3]!] = x2 * c + x1 * s;
        }
      }
    }
  }
}

export function attention(out: Tensor, q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions): KernelResult {
  const [B, Hq, Tq, D] = q.shape as [number, number, number, number];
  const [, Hkv, Tk] = k.shape as [number, number, number, number];
  const Dv = v.shape[3]!;
  const { causal, keyMask, scale } = opts;
  const qs = q.strides;
  const ks = k.strides;
  const vs = v.strides;
  const os = out.strides;
  // Half keys/values decode exactly to their f32 values, so the arithmetic below is that of f32 k, v.
  const kd = reader(k);
  const vd = reader(v);
  const s = new Float64Array(Tk);
  const acc = new Float64Array(Dv);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < Hq; h++) {
      const kvh = Math.floor((h * Hkv) / Hq);
      const kBase = k.offset + b * ks[0]! + kvh * ks[1]!;
      const vBase = v.offset + b * vs[0]! + kvh * vs[1]!;
      for (let i = 0; i < Tq; i++) {
        const qBase = q.offset + b * qs[0]! + h * qs[1]! + i * qs[2]!;
        // Keys visible to query i: positions ≤ Tk − Tq + i when causal, and keyMask-allowed ones.
        const last = causal ? Math.min(Tk - 1, Tk - Tq + i) : Tk - 1;
        let max = -Infinity;
        for (let j = 0; j <= last; j++) {
          if (keyMask && !keyMask.data[keyMask.offset + b * keyMask.strides[0]! + j * keyMask.strides[1]!]) {
            s[j] = -Infinity;
            continue;
          }
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q.data[qBase + d * qs[3]!]! * kd(kBase + j * ks[2]! + d * ks[3]!);
          s[j] = dot * scale;
          max = Math.max(max, s[j]!);
        }
        acc.fill(0);
        let denom = 0;
        if (max !== -Infinity) {
          for (let j = 0; j <= last; j++) {
            if (s[j] === -Infinity) continue;
            const p = Math.exp(s[j]! - max);
            denom += p;
            for (let d = 0; d < Dv; d++) acc[d]! += p * vd(vBase + j * vs[2]! + d * vs[3]!);
          }
        }
        const oBase = out.offset + b * os[0]! + h * os[1]! + i * os[2]!;
        for (let d = 0; d < Dv; d++) out.data[oBase + d * os[3]!] = denom > 0 ? acc[d]! / denom : 0;
      }
    }
  }
}

export function crossEntropy(out: Tensor, logits: Tensor, targets: Tensor, ignoreIndex: number): KernelResult {
  const L = rows(logits);
  const V = L.len;
  const ld = logits.data;
  for (let n = 0; n < L.offs.length; n++) {
    const t = targets.data[targets.offset + n * targets.strides[0]!]!;
    const oo = out.offset + n * out.strides[0]!;
    if (t === ignoreIndex) {
      out.data[oo] = 0;
      continue;
    }
    let max = -Infinity;
    for (let i = 0; i < V; i++) max = Math.max(max, ld[L.offs[n]! + i * L.stride]!);
    let s = 0;
    for (let i = 0; i < V; i++) s += Math.exp(ld[L.offs[n]! + i * L.stride]! - max);
    out.data[oo] = max + Math.log(s) - ld[L.offs[n]! + t * L.stride]!;
  }
}

export function indexSelect(out: Tensor, x: Tensor, axis: number, idx: Tensor): KernelResult {
  if (isQuant(x.dtype)) return `${x.dtype} rows are read by embedding, not indexSelect`;
  // Same dtype in and out: storage values are copied as they are (f16/bf16 bits included).
  const sliceShape = x.shape.map((s, d) => (d === axis ? 1 : s));
  const od = out.data;
  const xd = x.data;
  for (let j = 0; j < idx.numel; j++) {
    const i = idx.data[idx.offset + j * idx.strides[0]!]!;
    const src = x._view(sliceShape, x.strides, x.offset + i * x.strides[axis]!).elementOffsets();
    const dst = out._view(sliceShape, out.strides, out.offset + j * out.strides[axis]!).elementOffsets();
    for (let e = 0; e < src.length; e++) od[dst[e]!] = xd[src[e]!]!;
  }
}
