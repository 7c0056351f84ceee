/**
 * Reference reduction kernel: sum/max/min/argmax/argmin over a set of axes, in index order. Sums are
 * accumulated in f64 (then rounded on store for f32), so native results differ only by summation order.
 */
import type { KernelResult, ReduceOp } from '../../engine/kernels.js';
import type { Tensor } from '../../engine/tensor.js';

export function reduce(op: ReduceOp, out: Tensor, x: Tensor, axes: readonly number[]): KernelResult {
  // Iterate x in row-major order; map each element to its output slot (reduced dims collapse to 0).
  const nd = x.ndim;
  const outStrides = out.strides.map((s, i) => (axes.includes(i) ? 0 : s));
  const axis = axes[0] ?? 0;
  const n = out.numel;
  const acc = new Float64Array(n);
  const arg = new Int32Array(n);
  const seen = new Uint8Array(n);
  const idx = new Array<number>(nd).fill(0);
  const total = x.numel;
  let xo = x.offset;
  let oo = 0;
  const xd = x.data;
  for (let i = 0; i < total; i++) {
    const v = xd[xo]!;
    const slot = oo;
    if (op === 'sum') acc[slot]! += v;
    else if (!seen[slot]) { acc[slot] = v; arg[slot] = idx[axis]!; seen[slot] = 1; }
    else {
      const cur = acc[slot]!;
      const better = op === 'max' || op === 'argmax' ? v > cur || (Number.isNaN(v) && !Number.isNaN(cur)) : v < cur || (Number.isNaN(v) && !Number.isNaN(cur));
      if (better) { acc[slot] = v; arg[slot] = idx[axis]!; }
    }
    for (let d = nd - 1; d >= 0; d--) {
      idx[d]!++;
      xo += x.strides[d]!;
      oo += outStrides[d]!;
      if (idx[d]! < x.shape[d]!) break;
      xo -= x.strides[d]! * x.shape[d]!;
      oo -= outStrides[d]! * x.shape[d]!;
      idx[d] = 0;
    }
  }
  const od = out.data;
  // `out` is contiguous with reduced dims of size 1, so slot = element index.
  for (let i = 0; i < n; i++) od[out.offset + i] = op === 'argmax' || op === 'argmin' ? arg[i]! : acc[i]!;
}
