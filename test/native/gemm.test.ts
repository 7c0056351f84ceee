/**
 * The native packed GEMM (gemm_f32) at every ISA level against a plain JS reference written here (f64
 * sums of the stored operand values), and the naive twin against the same reference; then the matmul /
 * linear wrappers of the native backend on tensor views, and malformed calls.
 *
 * Tolerance: |got − want| ≤ 2⁻²⁰·K·max|a|·max|b| (+ the bias scale) for the packed variants, whose f32
 * sums run in blocks; 1e-6 relative for the naive twin, which sums in f64 and rounds once. A wrong index,
 * a missed term or a stale tile gives errors of order max|a|·max|b|, far above both.
 *
 * Cases cover: odd sizes and each of M, N, K = 1; K not a multiple of the unroll, the packing block or
 * the K slice; both B layouts ([K, N] and a weight [N, K] read as Bᵀ) and general strides; transposed and
 * padded A; f16 and bf16 B; bias (strided) and accumulation; batch dims with stride-0 broadcasting;
 * 1 and 2 threads through every threading path (one thread, row halves, shared packed A with column
 * chunks, row blocks of A, whole matrices per thread).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fastNativeIsas, hasKernel, loadAddon, runKernel, runKernelAt, type IsaLevel } from '../../src/backends/native/addon.js';
import { linalgKernels } from '../../src/backends/native/linalg.js';
import { Tensor, bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../../src/index.js';
import { withPool } from '../helpers/native-pool.js';

const addon = loadAddon();
const skip = !addon ? 'native addon not loaded' : !hasKernel('gemm_f32') ? 'gemm_f32 not built' : false;

type BType = 'f32' | 'f16' | 'bf16';
const BCODE: Record<BType, number> = { f32: 0, f16: 1, bf16: 2 };

/** Deterministic values in [−1, 1). */
function rand(n: number, seed: number): Float32Array {
  let s = seed * 2654435761 % 2 ** 32;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

interface Batch {
  size: number;
  sc: number;
  sa: number;
  sb: number;
}

/** A complete gemm_f32 call: arrays, layout and its expected result. */
interface Gemm {
  M: number;
  N: number;
  K: number;
  bt: BType;
  C: Float32Array;
  A: Float32Array;
  B: Float32Array | Uint16Array;
  bias: Float32Array | null;
  offC: number; rsC: number; csC: number;
  offA: number; rsA: number; csA: number;
  offB: number; rsB: number; csB: number;
  offBias: number; sBias: number;
  accumulate: boolean;
  batch: Batch[];
}

function params(g: Gemm, threads: number): number[] {
  return [
    BCODE[g.bt], g.M, g.N, g.K, g.offC, g.rsC, g.csC, g.offA, g.rsA, g.csA, g.offB, g.rsB, g.csB,
    g.bias ? 1 : 0, g.offBias, g.sBias, g.accumulate ? 1 : 0, threads, g.batch.length,
    ...g.batch.flatMap((d) => [d.size, d.sc, d.sa, d.sb]),
  ];
}

function bValue(g: Gemm, e: number): number {
  const v = g.B[e]!;
  return g.bt === 'f32' ? v : g.bt === 'f16' ? f16BitsToF32(v) : bf16BitsToF32(v);
}

function batchOffsets(batch: Batch[], b: number): [number, number, number] {
  let oc = 0, oa = 0, ob = 0;
  for (let d = batch.length - 1; d >= 0; d--) {
    const i = b % batch[d]!.size;
    b = Math.floor(b / batch[d]!.size);
    oc += i * batch[d]!.sc;
    oa += i * batch[d]!.sa;
    ob += i * batch[d]!.sb;
  }
  return [oc, oa, ob];
}

/** The reference: C as the call must leave it, from the stored values, f64 sums. */
function reference(g: Gemm): Float64Array {
  const C = Float64Array.from(g.C);
  const nb = g.batch.reduce((p, d) => p * d.size, 1);
  for (let b = 0; b < nb; b++) {
    const [oc, oa, ob] = batchOffsets(g.batch, b);
    for (let i = 0; i < g.M; i++) {
      for (let j = 0; j < g.N; j++) {
        let s = 0;
        for (let k = 0; k < g.K; k++) s += g.A[g.offA + oa + i * g.rsA + k * g.csA]! * bValue(g, g.offB + ob + k * g.rsB + j * g.csB);
        if (g.bias) s += g.bias[g.offBias + j * g.sBias]!;
        const e = g.offC + oc + i * g.rsC + j * g.csC;
        C[e] = g.accumulate ? g.C[e]! + s : s;
      }
    }
  }
  return C;
}

interface Layout {
  bt?: BType;
  /** B as a weight [N, K] (Bᵀ, k contiguous) instead of [K, N]. */
  weight?: boolean;
  /** A stored transposed ([K, M], m contiguous). */
  aT?: boolean;
  /** Padding added to row strides and a leading offset, to catch stride/offset mix-ups. */
  pad?: number;
  /** Every operand strided in both dims (step 2). */
  sparse?: boolean;
  bias?: boolean;
  accumulate?: boolean;
  batch?: { size: number; bcastA?: boolean; bcastB?: boolean }[];
}

let seed = 1;

function makeGemm(M: number, N: number, K: number, l: Layout = {}): Gemm {
  const bt = l.bt ?? 'f32';
  const pad = l.pad ?? 0;
  const step = l.sparse ? 2 : 1;
  // Per-matrix layouts (element strides), then batch strides on top.
  const aRows = l.aT ? K : M, aCols = l.aT ? M : K;
  const aLd = aCols * step + pad;
  const [rsA, csA] = l.aT ? [step, aLd] : [aLd, step];
  const bRows = l.weight ? N : K, bCols = l.weight ? K : N;
  const bLd = bCols * step + pad;
  const [rsB, csB] = l.weight ? [step, bLd] : [bLd, step];
  const rsC = N + pad;
  const matA = aRows * aLd, matB = bRows * bLd, matC = M * rsC;
  const batch: Batch[] = [];
  let sa = matA, sb = matB, sc = matC;
  const dims = l.batch ?? [];
  const strides: { sa: number; sb: number; sc: number }[] = [];
  for (let d = dims.length - 1; d >= 0; d--) {
    strides[d] = { sa: dims[d]!.bcastA ? 0 : sa, sb: dims[d]!.bcastB ? 0 : sb, sc };
    if (!dims[d]!.bcastA) sa *= dims[d]!.size;
    if (!dims[d]!.bcastB) sb *= dims[d]!.size;
    sc *= dims[d]!.size;
  }
  dims.forEach((d, i) => batch.push({ size: d.size, sc: strides[i]!.sc, sa: strides[i]!.sa, sb: strides[i]!.sb }));
  const offA = pad, offB = pad, offC = pad;
  const A = rand(offA + sa, seed++);
  const bf = rand(offB + sb, seed++);
  const B = bt === 'f32' ? bf : Uint16Array.from(bf, bt === 'f16' ? f32ToF16Bits : f32ToBf16Bits);
  const C = rand(offC + sc, seed++); // garbage unless accumulating: must be overwritten
  const bias = l.bias ? rand(3 + 2 * N, seed++) : null;
  return {
    M, N, K, bt, C, A, B, bias, offC, rsC, csC: 1, offA, rsA, csA, offB, rsB, csB,
    offBias: 3, sBias: 2, accumulate: l.accumulate ?? false, batch,
  };
}

function maxAbs(x: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]!));
  return m;
}

/** Runs `g` at `level` on a copy of C and checks every element of the array (untouched ones included). */
function check(g: Gemm, level: IsaLevel, threads: number, want: Float64Array, what: string): void {
  const C = Float32Array.from(g.C);
  runKernelAt(level, 'gemm_f32', [C, g.A, g.B, g.bias ?? new Float32Array(1)], params(g, threads));
  const bmax = g.bt === 'f32' ? maxAbs(g.B as Float32Array) : 1;
  const scale = g.K * maxAbs(g.A) * bmax + (g.bias ? 1 : 0) + (g.accumulate ? 1 : 0);
  for (let i = 0; i < C.length; i++) {
    const tol = level === 'naive' ? 1e-6 * Math.abs(want[i]!) + 1e-30 : 2 ** -20 * scale;
    if (!(Math.abs(C[i]! - want[i]!) <= tol)) {
      assert.fail(`${what} [${level}, ${threads} thread(s)]: C[${i}] = ${C[i]}, want ${want[i]} (tol ${tol.toExponential(2)})`);
    }
  }
}

const LEVELS: IsaLevel[] = [...fastNativeIsas(), 'scalar', 'naive'];

function checkAll(g: Gemm, what: string, threads = [1, 2]): void {
  const want = reference(g);
  for (const level of LEVELS) {
    for (const t of level === 'naive' ? [1] : threads) check(g, level, t, want, what);
  }
}

describe('gemm_f32 against the JS reference', { skip }, () => {
  // [M, N, K]: sizes of 1; odd sizes; exact tiles; K past the slice with a tail; wide N (column chunks).
  const sizes: [number, number, number][] = [
    [1, 1, 1], [1, 257, 65], [257, 1, 65], [3, 17, 1], [7, 65, 129], [17, 3, 257], [65, 129, 7],
    [6, 16, 256], [12, 32, 512], [129, 257, 300], [13, 700, 520], [150, 300, 1100], [300, 40, 600],
  ];
  test('odd sizes, B as [K, N] and as a weight [N, K], 1 and 2 threads', () => {
    withPool(2, () => {
      for (const [M, N, K] of sizes) {
        checkAll(makeGemm(M, N, K), `${M}×${N}×${K} [K,N]`);
        checkAll(makeGemm(M, N, K, { weight: true, pad: 3 }), `${M}×${N}×${K} weight`);
      }
    });
  });

  test('transposed, padded and doubly strided A and B', () => {
    withPool(2, () => {
      for (const [M, N, K] of [[7, 33, 41], [65, 300, 129]] as [number, number, number][]) {
        checkAll(makeGemm(M, N, K, { aT: true }), `${M}×${N}×${K} Aᵀ`);
        checkAll(makeGemm(M, N, K, { aT: true, weight: true, pad: 5 }), `${M}×${N}×${K} Aᵀ, weight`);
        checkAll(makeGemm(M, N, K, { sparse: true, pad: 1 }), `${M}×${N}×${K} step-2 strides`);
        checkAll(makeGemm(M, N, K, { sparse: true, weight: true }), `${M}×${N}×${K} step-2 strides, weight`);
      }
    });
  });

  test('f16 and bf16 B in both layouts and with general strides', () => {
    withPool(2, () => {
      for (const bt of ['f16', 'bf16'] as BType[]) {
        for (const [M, N, K] of [[1, 19, 33], [9, 40, 77], [70, 290, 300]] as [number, number, number][]) {
          checkAll(makeGemm(M, N, K, { bt }), `${bt} ${M}×${N}×${K} [K,N]`);
          checkAll(makeGemm(M, N, K, { bt, weight: true, pad: 2 }), `${bt} ${M}×${N}×${K} weight`);
          checkAll(makeGemm(M, N, K, { bt, sparse: true }), `${bt} ${M}×${N}×${K} step-2`);
        }
      }
    });
  });

  test('bias (strided) and accumulation, K = 0 included', () => {
    withPool(2, () => {
      for (const [M, N, K] of [[5, 21, 0], [5, 21, 9], [40, 300, 270]] as [number, number, number][]) {
        checkAll(makeGemm(M, N, K, { bias: true, weight: true }), `${M}×${N}×${K} bias`);
        checkAll(makeGemm(M, N, K, { accumulate: true }), `${M}×${N}×${K} accumulate`);
        checkAll(makeGemm(M, N, K, { bias: true, accumulate: true, bt: 'f16', weight: true }), `${M}×${N}×${K} bias + accumulate`);
      }
    });
  });

  test('batch dims with broadcasting: few large and many small matrices', () => {
    withPool(2, () => {
      checkAll(makeGemm(7, 9, 5, { batch: [{ size: 2, bcastB: true }, { size: 3, bcastA: true }] }), 'small [2,3] batch');
      checkAll(makeGemm(20, 300, 400, { batch: [{ size: 2, bcastA: true }], weight: true }), 'two large, A broadcast');
      checkAll(makeGemm(64, 64, 64, { batch: [{ size: 3 }, { size: 3, bcastB: true }], bt: 'bf16' }), 'nine 64³');
      checkAll(makeGemm(3, 5, 7, { batch: [{ size: 0 }] }), 'empty batch');
    });
  });

  test('packed A in row blocks, last chunks in row pieces (thresholds shrunk), a pool of one thread', () => {
    const prev = new Float64Array(4);
    runKernel('gemm_config', [prev], [16 * 1024, 1e5, 0, 0]);
    try {
      withPool(2, () => {
        checkAll(makeGemm(100, 300, 100, { weight: true, bias: true }), 'A packed in row blocks');
        checkAll(makeGemm(311, 260, 90, { aT: true }), 'row blocks, Aᵀ');
      });
      runKernel('gemm_config', [new Float64Array(4)], [0, 1e5, 0, 0]);
      withPool(2, () => checkAll(makeGemm(300, 280, 120, { weight: true, bias: true, accumulate: true }), 'row pieces'));
    } finally {
      runKernel('gemm_config', [new Float64Array(4)], Array.from(prev));
    }
    withPool(1, () => checkAll(makeGemm(65, 300, 129), 'pool of 1', [2]));
  });

  test('rows owned per thread, units taken over and cut into row pieces (thresholds shrunk)', () => {
    const prev = new Float64Array(4);
    runKernel('gemm_config', [prev], [0, 0, 8, 1e5]);
    try {
      withPool(2, () => {
        checkAll(makeGemm(100, 300, 100, { weight: true, bias: true }), 'owned rows, weight, bias');
        checkAll(makeGemm(311, 260, 90, { aT: true, bt: 'f16' }), 'owned rows, Aᵀ, f16');
        checkAll(makeGemm(97, 700, 400, { bias: true, accumulate: true }), 'owned rows, K in two slices, accumulate');
        checkAll(makeGemm(40, 300, 200, { batch: [{ size: 2, bcastB: true }] }), 'owned rows, two matrices');
      });
      const got = new Float64Array(4);
      runKernel('gemm_config', [got], Array.from(prev));
      assert.deepEqual(Array.from(got), [prev[0], prev[1], 8, 1e5]);
    } finally {
      runKernel('gemm_config', [new Float64Array(4)], Array.from(prev));
    }
  });
});

describe('gemm_f32 rejects bad calls', { skip }, () => {
  const call = (g: Gemm, over: Partial<Record<'C' | 'A' | 'B' | 'bias', Float32Array | Uint16Array>> = {}, prm?: number[]) =>
    () => runKernel('gemm_f32', [over.C ?? g.C, over.A ?? g.A, over.B ?? g.B, over.bias ?? g.bias ?? new Float32Array(1)], prm ?? params(g, 0));
  const g = makeGemm(4, 5, 6, { bias: true });

  test('too-short arrays name the operand and the sizes', () => {
    assert.throws(call(g, { C: new Float32Array(19) }), /gemm_f32: C \[4,5\].*needs 20 elements, its array has 19/);
    assert.throws(call(g, { A: new Float32Array(23) }), /gemm_f32: A \[4,6\].*needs 24 elements/);
    assert.throws(call(g, { B: new Float32Array(29) }), /gemm_f32: B \(f32\) \[6,5\].*needs 30 elements/);
    assert.throws(call(g, { bias: new Float32Array(4) }), /gemm_f32: bias \[5\] strides \[2\] from offset 3 needs 12 elements/);
    const h = makeGemm(4, 5, 6, { bt: 'f16' });
    assert.throws(call(h, { B: new Uint16Array(29) }), /gemm_f32: B \(f16\) .*needs 30 elements/);
    const b = makeGemm(2, 3, 4, { batch: [{ size: 3 }] });
    assert.throws(call(b, { A: new Float32Array(23) }), /gemm_f32: A \[3,2,4\].*needs 24 elements/);
  });

  test('bad parameters', () => {
    const p = params(g, 0);
    assert.throws(call(g, {}, [9, ...p.slice(1)]), /B type 9/);
    assert.throws(call(g, {}, [...p.slice(0, 5), -5, ...p.slice(6)]), /negative strides/);
    assert.throws(call(g, {}, [...p.slice(0, 18), 9]), /9 batch dims/);
    assert.throws(call(g, {}, p.slice(0, 3)), /parameter 3 missing/);
  });
});

describe('native matmul and linear wrappers', { skip }, () => {
  const tensorF32 = (shape: number[], s: number) => new Tensor(rand(shape.reduce((p, x) => p * x, 1), s), 'f32', shape);
  /** JS reference for 2-D views. */
  const ref2 = (a: Tensor, b: Tensor, bias: Tensor | null): number[] => {
    const [M, K] = a.shape as [number, number];
    const N = b.shape[1]!;
    const av = a.toArray(), bv = b.toArray(), cv = bias?.toArray();
    const out: number[] = [];
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = cv ? cv[j]! : 0;
        for (let k = 0; k < K; k++) s += av[i * K + k]! * bv[k * N + j]!;
        out.push(s);
      }
    }
    return out;
  };
  const close = (got: Tensor, want: number[], K: number, what: string) => {
    const g = got.toArray();
    assert.equal(g.length, want.length);
    g.forEach((v, i) => assert.ok(Math.abs(v - want[i]!) <= 2 ** -20 * K + 1e-6, `${what}: element ${i} is ${v}, want ${want[i]}`));
  };

  test('matmul: transposed a, f16 b, broadcast batch', () => {
    withPool(2, () => {
      const a = tensorF32([40, 30], 1).transpose(0, 1); // [30, 40] view
      const b16 = new Tensor(Uint16Array.from(rand(40 * 300, 2), f32ToF16Bits), 'f16', [40, 300]);
      const out = Tensor.empty([30, 300]);
      assert.equal(linalgKernels.matmul!(out, a, b16), undefined);
      close(out, ref2(a, b16, null), 40, 'matmul 2-D');
      // [2, 3, 30, 40] · [1→3 broadcast, 40, 300]: batch strides 0 on b, a broadcast over the first dim.
      const a4 = tensorF32([3, 30, 40], 3)._view([2, 3, 30, 40], [0, 1200, 40, 1], 0);
      const b4 = tensorF32([40, 20], 4)._view([2, 3, 40, 20], [0, 0, 20, 1], 0);
      const o4 = Tensor.empty([2, 3, 30, 20]);
      assert.equal(linalgKernels.matmul!(o4, a4, b4), undefined);
      const b2 = b4._view([40, 20], [20, 1], 0);
      for (let i = 0; i < 6; i++) {
        const ai = a4._view([30, 40], [40, 1], (i % 3) * 1200);
        close(o4._view([30, 20], [20, 1], i * 600), ref2(ai, b2, null), 40, `batch ${i}`);
      }
    });
  });

  test('linear: f32/bf16 weights, strided x, bias, few and many rows', () => {
    withPool(2, () => {
      for (const M of [1, 16, 17, 200]) {
        for (const dt of ['f32', 'bf16'] as const) {
          const x = tensorF32([M, 80], 10 + M).narrow(1, 8, 64);
          const w32 = tensorF32([300, 64], 20 + M);
          const w = dt === 'f32' ? w32 : new Tensor(Uint16Array.from(w32.data as Float32Array, f32ToBf16Bits), 'bf16', [300, 64]);
          const bias = tensorF32([300], 30 + M);
          const out = Tensor.empty([M, 300]);
          assert.equal(linalgKernels.linear!(out, x, w, bias), undefined);
          close(out, ref2(x, w.transpose(0, 1), bias), 64, `linear ${dt} M=${M}`);
        }
      }
    });
  });

  test('declines f64 and non-f32 bias with a reason', () => {
    const a = new Tensor(new Float64Array(6), 'f64', [2, 3]);
    const b = new Tensor(new Float64Array(12), 'f64', [3, 4]);
    assert.match(String(linalgKernels.matmul!(new Tensor(new Float64Array(8), 'f64', [2, 4]), a, b)), /f32 only/);
    assert.match(String(linalgKernels.linear!(new Tensor(new Float64Array(8), 'f64', [2, 4]), a, b.transpose(0, 1), null)), /f32 only/);
  });
});
