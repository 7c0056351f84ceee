/**
 * Native wrappers for matmul and linear on the packed fp32 GEMM (native/src/kernels/gemm*.cc): A is f32,
 * B f32/f16/bf16 (half weights are converted tile by tile while packing), any strides, batch dims passed
 * to the kernel (stride 0 broadcasts). linear runs as a GEMM with B = wᵀ, which is only a matter of
 * strides; few-row linear calls first go to the memory-bound matvec kernels of quant.ts, and quantized
 * weights always do.
 *
 * Not here: f64 (declined, the ts kernel runs), threading and blocking decisions (the kernel's).
 */
import type { Kernels, KernelResult } from '../../engine/kernels.js';
import type { Tensor } from '../../engine/tensor.js';
import { isQuant } from '../../engine/dtype.js';
import { runKernel } from './addon.js';
import { quantLinear, SMALL_M_MAX, smallMLinear } from './quant.js';

const B_TYPE: Partial<Record<string, number>> = { f32: 0, f16: 1, bf16: 2 };
/** Batch dims the kernel takes after size-1 dims are dropped and mergeable dims are merged. */
const MAX_BATCH_DIMS = 8;
const EMPTY = new Float32Array(1);

/** A strided 2-D operand of one batch element: pointer offset and strides along its two dims. */
interface Mat {
  t: Tensor;
  rs: number;
  cs: number;
}

/**
 * Batch dims as the kernel wants them: [size, strideC, strideA, strideB] per dim, with size-1 dims
 * dropped and neighbours merged when all three operands step through them as one. Null when more than
 * MAX_BATCH_DIMS remain.
 */
function batchParams(shape: readonly number[], sc: readonly number[], sa: readonly number[], sb: readonly number[]): number[] | null {
  const dims: [number, number, number, number][] = [];
  for (let d = 0; d < shape.length; d++) {
    const n = shape[d]!;
    if (n === 1) continue;
    const last = dims[dims.length - 1];
    if (last && last[1] === n * sc[d]! && last[2] === n * sa[d]! && last[3] === n * sb[d]!) {
      last[0] *= n;
      last[1] = sc[d]!;
      last[2] = sa[d]!;
      last[3] = sb[d]!;
    } else {
      dims.push([n, sc[d]!, sa[d]!, sb[d]!]);
    }
  }
  return dims.length > MAX_BATCH_DIMS ? null : dims.flat();
}

/** out (+ batch) = a · b (+ bias): one kernel call. Dtypes are checked by the callers. */
function gemm(out: Mat, a: Mat, b: Mat, M: number, N: number, K: number, bias: Tensor | null, batch: number[]): void {
  const prm = [
    B_TYPE[b.t.dtype]!, M, N, K,
    out.t.offset, out.rs, out.cs,
    a.t.offset, a.rs, a.cs,
    b.t.offset, b.rs, b.cs,
    bias ? 1 : 0, bias ? bias.offset : 0, bias ? bias.strides[0]! : 0,
    0, 0, batch.length / 4, ...batch,
  ];
  runKernel('gemm_f32', [out.t.data, a.t.data, b.t.data, bias ? bias.data : EMPTY], prm);
}

function hasNegativeStride(...ts: Tensor[]): boolean {
  return ts.some((t) => t.strides.some((s) => s < 0));
}

export function matmul(out: Tensor, a: Tensor, b: Tensor): KernelResult {
  if (a.dtype !== 'f32' || out.dtype !== 'f32') return `matmul: a ${a.dtype} (f32 only)`;
  if (B_TYPE[b.dtype] === undefined) return `matmul: b ${b.dtype} (f32/f16/bf16 only)`;
  const nd = out.ndim;
  if (nd < 2 || a.ndim !== nd || b.ndim !== nd) return 'matmul: operands not expanded to the output rank';
  if (hasNegativeStride(out, a, b)) return 'matmul: negative strides';
  const M = out.shape[nd - 2]!, N = out.shape[nd - 1]!, K = a.shape[nd - 1]!;
  const batch = batchParams(out.shape.slice(0, -2), out.strides, a.strides, b.strides);
  if (!batch) return `matmul: more than ${MAX_BATCH_DIMS} batch dims`;
  gemm(
    { t: out, rs: out.strides[nd - 2]!, cs: out.strides[nd - 1]! },
    { t: a, rs: a.strides[nd - 2]!, cs: a.strides[nd - 1]! },
    { t: b, rs: b.strides[nd - 2]!, cs: b.strides[nd - 1]! },
    M, N, K, null, batch,
  );
}

export function linear(out: Tensor, x: Tensor, w: Tensor, bias: Tensor | null): KernelResult {
  if (isQuant(w.dtype)) return quantLinear(out, x, w, bias);
  if (x.dtype !== 'f32' || out.dtype !== 'f32') return `linear: x ${x.dtype} (f32 only)`;
  if (B_TYPE[w.dtype] === undefined) return `linear: w ${w.dtype} (f32/f16/bf16 only)`;
  if (bias && bias.dtype !== 'f32') return `linear: bias ${bias.dtype} (f32 only)`;
  if (x.ndim !== 2 || w.ndim !== 2 || out.ndim !== 2) return 'linear: x, w, out must be 2-D';
  if (hasNegativeStride(out, x, w, ...(bias ? [bias] : []))) return 'linear: negative strides';
  const [M, K] = x.shape as [number, number];
  const N = w.shape[0]!;
  // Few rows: the matvec kernels (a GEMM does too few flops per weight element there to outrun memory,
  // and its packing pass reads and writes the whole weight); they decline what they do not take.
  if (M <= SMALL_M_MAX) {
    const r = smallMLinear(out, x, w, bias);
    if (r !== false && typeof r !== 'string') return;
  }
  // B[k, n] = w[n, k]: the weight's row stride steps along n, its column stride along k.
  gemm(
    { t: out, rs: out.strides[0]!, cs: out.strides[1]! },
    { t: x, rs: x.strides[0]!, cs: x.strides[1]! },
    { t: w, rs: w.strides[1]!, cs: w.strides[0]! },
    M, N, K, bias, [],
  );
}

export const linalgKernels: Partial<Kernels> = { matmul, linear };
