/**
 * Reference batched matmul: out [...batch, M, N] = a [...batch, M, K] · b [...batch, K, N], a f32/f64,
 * b f32/f64/f16/bf16 decoded per element, any strides (broadcast batch dims arrive as stride 0). Each dot
 * product is accumulated in f64 in k order and rounded once on store.
 *
 * Not here: `linear` (weight-matrix kernels live in linear.ts), batch broadcasting and 1-D promotion (the
 * matmul op does those), blocking or any other speed work.
 */
import type { KernelResult } from '../../engine/kernels.js';
import type { Tensor } from '../../engine/tensor.js';
import { reader } from './elementwise.js';

/** Storage offsets of every index over the leading `t.ndim − inner` dims, row-major. */
export function batchOffsets(t: Tensor, inner: number): Int32Array | Float64Array {
  const lead = t.ndim - inner;
  return t._view(t.shape.slice(0, lead), t.strides.slice(0, lead), t.offset).elementOffsets();
}

export function matmul(out: Tensor, a: Tensor, b: Tensor): KernelResult {
  const nd = out.ndim;
  const M = out.shape[nd - 2]!;
  const N = out.shape[nd - 1]!;
  const K = a.shape[nd - 1]!;
  const [asm, ask] = [a.strides[nd - 2]!, a.strides[nd - 1]!];
  const [bsk, bsn] = [b.strides[nd - 2]!, b.strides[nd - 1]!];
  const [osm, osn] = [out.strides[nd - 2]!, out.strides[nd - 1]!];
  const aOff = batchOffsets(a, 2);
  const bOff = batchOffsets(b, 2);
  const oOff = batchOffsets(out, 2);
  const ad = a.data;
  const od = out.data;
  const bd = b.data;
  const half = b.dtype === 'f16' || b.dtype === 'bf16';
  const rb = reader(b);
  for (let p = 0; p < oOff.length; p++) {
    for (let m = 0; m < M; m++) {
      const arow = aOff[p]! + m * asm;
      for (let n = 0; n < N; n++) {
        const bcol = bOff[p]! + n * bsn;
        let acc = 0;
        if (half) for (let k = 0; k < K; k++) acc += ad[arow + k * ask]! * rb(bcol + k * bsk);
        else for (let k = 0; k < K; k++) acc += ad[arow + k * ask]! * bd[bcol + k * bsk]!;
        od[oOff[p]! + m * osm + n * osn] = acc;
      }
    }
  }
}
