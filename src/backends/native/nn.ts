/**
 * Native wrappers for the nn kernels (contracts in src/engine/kernels.ts): layerNorm, rmsNorm, softmax,
 * rope, attention, crossEntropy. f32 only (attention also reads f16/bf16 keys and values) — f64 (gradient
 * checks) and other dtypes decline and run on `ts`.
 * Like elementwise.ts, each call is described by a `…Call` function first (tests run those at each ISA
 * level); parameter layouts are documented beside each kernel in native/src/kernels/*.h.
 *
 * Not here: indexSelect (a gather, in elementwise.ts), matmul/linear (linalg.ts).
 */
import type { AttentionOptions, Kernels } from '../../engine/kernels.js';
import type { Tensor } from '../../engine/tensor.js';
import { layoutProblem, pushShape, pushView, runCall, type KernelCall } from './elementwise.js';

function f32Problem(kernel: string, ...ts: (Tensor | null)[]): string | null {
  for (const t of ts) {
    if (!t) continue;
    if (t.dtype !== 'f32') return `${kernel}: ${t.dtype} is computed by ts`;
    const bad = layoutProblem(t);
    if (bad) return `${kernel}: ${bad}`;
  }
  return null;
}

/** `has, offset, stride` of an optional [D] vector. */
function pushOptional(p: number[], t: Tensor | null): void {
  if (t) p.push(1, t.offset, t.strides[0]!);
  else p.push(0, 0, 0);
}

export function layerNormCall(out: Tensor, x: Tensor, w: Tensor | null, b: Tensor | null, eps: number): KernelCall | string {
  const bad = f32Problem('layerNorm', out, x, w, b);
  if (bad) return bad;
  const p = [eps];
  pushOptional(p, w);
  pushOptional(p, b);
  pushShape(p, x.shape);
  pushView(p, out);
  pushView(p, x);
  return { name: 'layer_norm_f32', arrays: [out.data, x.data, (w ?? x).data, (b ?? x).data], params: p };
}

export function rmsNormCall(out: Tensor, x: Tensor, w: Tensor | null, eps: number): KernelCall | string {
  const bad = f32Problem('rmsNorm', out, x, w);
  if (bad) return bad;
  const p = [eps];
  pushOptional(p, w);
  pushShape(p, x.shape);
  pushView(p, out);
  pushView(p, x);
  return { name: 'rms_norm_f32', arrays: [out.data, x.data, (w ?? x).data], params: p };
}

export function softmaxCall(out: Tensor, x: Tensor, log: boolean): KernelCall | string {
  const bad = f32Problem('softmax', out, x);
  if (bad) return bad;
  const p = [log ? 1 : 0];
  pushShape(p, x.shape);
  pushView(p, out);
  pushView(p, x);
  return { name: 'softmax_f32', arrays: [out.data, x.data], params: p };
}

export function ropeCall(out: Tensor, x: Tensor, cos: Tensor, sin: Tensor): KernelCall | string {
  const bad = f32Problem('rope', out, x, cos, sin);
  if (bad) return bad;
  if (x.ndim !== 4 || cos.ndim !== 3 || sin.ndim !== 3) return 'rope: expected x [B, H, T, D] and cos/sin [B, T, D/2]';
  const p: number[] = [];
  pushShape(p, x.shape);
  pushView(p, out);
  pushView(p, x);
  // cos/sin [B, T, D/2] seen as [B, H, T, D/2] with stride 0 over heads.
  for (const t of [cos, sin]) p.push(t.offset, t.strides[0]!, 0, t.strides[1]!, t.strides[2]!);
  return { name: 'rope_f32', arrays: [out.data, x.data, cos.data, sin.data], params: p };
}

/** Storage codes of the key/value dtypes attention_f32 reads (half ones are decoded block by block). */
const KV_TYPE: Partial<Record<string, number>> = { f32: 0, f16: 1, bf16: 2 };

export function attentionCall(out: Tensor, q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions): KernelCall | string {
  const kvType = KV_TYPE[k.dtype];
  if (kvType === undefined || v.dtype !== k.dtype) return `attention: k ${k.dtype}, v ${v.dtype} are computed by ts`;
  const bad = f32Problem('attention', out, q) ?? layoutProblem(k) ?? layoutProblem(v);
  if (bad) return bad;
  for (const t of [out, q, k, v]) {
    if (t.ndim !== 4) return 'attention: expected 4-d q, k, v';
    if (t.strides[3] !== 1 && t.shape[3]! > 1) return 'attention: the last dim must be contiguous';
  }
  const m = opts.keyMask;
  if (m && (m.dtype !== 'bool' || m.ndim !== 2 || layoutProblem(m))) return 'attention: key mask must be a 2-d bool view';
  const [B, Hq, Tq, D] = q.shape as [number, number, number, number];
  const p = [B, Hq, k.shape[1]!, Tq, k.shape[2]!, D, v.shape[3]!, opts.causal ? 1 : 0, opts.scale, m ? 1 : 0];
  for (const t of [q, k, v, out]) pushView(p, t);
  if (m) p.push(m.offset, m.strides[0]!, m.strides[1]!);
  else p.push(0, 0, 0);
  p.push(kvType);
  return { name: 'attention_f32', arrays: [out.data, q.data, k.data, v.data, (m ?? q).data], params: p };
}

export function crossEntropyCall(out: Tensor, logits: Tensor, targets: Tensor, ignoreIndex: number): KernelCall | string {
  const bad = f32Problem('crossEntropy', out, logits);
  if (bad) return bad;
  if (logits.ndim !== 2 || targets.ndim !== 1 || out.ndim !== 1 || targets.dtype !== 'i32' || layoutProblem(targets)) {
    return 'crossEntropy: expected logits [N, V], i32 targets [N], out [N]';
  }
  const [N, V] = logits.shape as [number, number];
  const p = [ignoreIndex, N, V, logits.offset, logits.strides[0]!, logits.strides[1]!, targets.offset, targets.strides[0]!, out.offset, out.strides[0]!];
  return { name: 'cross_entropy_f32', arrays: [out.data, logits.data, targets.data], params: p };
}

export const nnKernels: Partial<Kernels> = {
  layerNorm: (out, x, w, b, eps) => runCall(layerNormCall(out, x, w, b, eps)),
  rmsNorm: (out, x, w, eps) => runCall(rmsNormCall(out, x, w, eps)),
  softmax: (out, x, log) => runCall(softmaxCall(out, x, log)),
  rope: (out, x, cos, sin) => runCall(ropeCall(out, x, cos, sin)),
  attention: (out, q, k, v, opts) => runCall(attentionCall(out, q, k, v, opts)),
  crossEntropy: (out, logits, targets, ignoreIndex) => runCall(crossEntropyCall(out, logits, targets, ignoreIndex)),
};
