/**
 * Native weight-format kernels against the ts reference, at every ISA level (avx2 where the CPU has it,
 * scalar, and the naive twins): quantized linear, quantization and embedding bit for bit; few-row float
 * linear within a rigorous f32 summation bound; malformed calls throw before touching memory.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { availableBackends, QK, QUANT_BLOCK_BYTES, randn, Rng, tensor, Tensor, type DType, type QuantDType } from '../../src/index.js';
import { tsKernels } from '../../src/backends/ts/index.js';
import { quantKernels, quantLinear, SMALL_M_MAX, smallMLinear } from '../../src/backends/native/quant.js';
import { fastNativeIsas, runKernel, setNativeIsa, type IsaLevel } from '../../src/backends/native/addon.js';

const hasNative = availableBackends().includes('native');
const LEVELS: IsaLevel[] = [...(hasNative ? fastNativeIsas() : []), 'scalar', 'naive'];

function atLevels(fn: (level: IsaLevel) => void): void {
  for (const level of LEVELS) {
    setNativeIsa(level);
    try {
      fn(level);
    } finally {
      setNativeIsa();
    }
  }
}

function bits(t: Tensor): number[] {
  const d = t.data;
  return [...new Uint32Array(d.buffer, d.byteOffset, d.length)];
}

/** Activation values: rows of different scales, a zero block, a block of exact ties (k + 0.5 at scale 1). */
function activations(M: number, K: number, seed: number): number[] {
  const rng = new Rng(seed);
  const v: number[] = [];
  for (let m = 0; m < M; m++) {
    const s = 10 ** ((m % 5) - 2);
    for (let k = 0; k < K; k++) v.push(rng.normal() * s);
    if (K >= 64) {
      for (let k = 0; k < 32; k++) v[m * K + k] = 0;
      v[m * K + 32] = 127;
      for (let k = 33; k < 64; k++) v[m * K + k] = (k % 9) - 4 + 0.5;
    }
  }
  return v;
}

/** x [M, K] as a strided view: rows `pad` apart, starting at element 3. */
function stridedX(M: number, K: number, seed: number, pad = 0): Tensor {
  const v = activations(M, K, seed);
  const data = new Float32Array(3 + M * (K + pad));
  for (let m = 0; m < M; m++) for (let k = 0; k < K; k++) data[3 + m * (K + pad) + k] = v[m * K + k]!;
  return new Tensor(data, 'f32', [M, K], [K + pad, 1], 3);
}

/** w [N, K] in `dtype`, stored after two unused rows (a non-zero offset). */
function weights(N: number, K: number, dtype: DType, seed: number): Tensor {
  const all = tensor(randn([N + 2, K], { seed }).data, { dtype, shape: [N + 2, K] });
  return new Tensor(all.data, dtype, [N, K], [K, 1], 2 * K);
}

function run(kernel: (out: Tensor) => unknown, out: Tensor): Tensor {
  const r = kernel(out);
  assert.equal(r, undefined, `native kernel declined: ${String(r)}`);
  return out;
}

describe('native weight-format kernels', { skip: !hasNative && 'native addon not loaded' }, () => {
  for (const dtype of ['q8_0', 'q4_0'] as QuantDType[]) {
    test(`quantLinear ${dtype} equals ts bit for bit (M 1..17, K 32..16480, odd N, bias, strided x, offset w)`, () => {
      // K = 16480 is 515 blocks: more than one 512-block chunk of the AVX2 and AVX-512 kernels, plus a
      // ragged group; K = 32, 64, 96 end in a group of 1, 2, 3 blocks (the AVX-512 kernel takes 4 at a time).
      // N = 13 and 37 leave ragged 8- and 16-row tiles.
      for (const K of [32, 64, 96, 4096 + 32, 16384 + 96]) {
        for (const M of K > 8192 ? [1, 5] : [1, 2, 3, 4, 5, 7, 17]) {
          const N = M % 2 ? 13 : 37;
          const x = stridedX(M, K, M * 7 + K, M === 3 ? 40 : 0);
          const w = weights(N, K, dtype, M + K);
          const bias = M % 2 ? randn([N], { seed: M }) : null;
          const expect = new Tensor(new Float32Array(M * N), 'f32', [M, N]);
          assert.equal(tsKernels.linear(expect, x, w, bias), undefined);
          atLevels((level) => {
            const got = run((o) => quantLinear(o, x, w, bias), Tensor.empty([M, N]));
            assert.deepEqual(bits(got), bits(expect), `${dtype} ${level} M ${M} N ${N} K ${K}`);
            const viaSmall = run((o) => smallMLinear(o, x, w, bias), Tensor.empty([M, N]));
            assert.deepEqual(bits(viaSmall), bits(expect), `smallMLinear ${dtype} ${level} M ${M}`);
            // Every row count through the few-row kernel (its activation rows go 8 at a time at avx512).
            const fewRows = run((o) => quantLinear(o, x, w, bias, 1 << 30), Tensor.empty([M, N]));
            assert.deepEqual(bits(fewRows), bits(expect), `few-row ${dtype} ${level} M ${M} N ${N} K ${K}`);
          });
        }
      }
    });
  }

  for (const dtype of ['q8_0', 'q4_0'] as QuantDType[]) {
    // The blocked GEMM (many rows) in all its edges: every row count left over after full row tiles (both
    // GEMMs take 4 rows at a time), M just at the default threshold, N ragged against groups of 8 and 16 and
    // against the AVX-512 micro-tile of 3 groups (1, 2 or 3 groups left), several weight tiles (N 61 at
    // K 4128, N 300 at K 64), one-block K, strided x, bias.
    test(`quantLinear ${dtype} through the blocked GEMM equals ts bit for bit (M 1..24, ragged N, tiles, strided x, bias)`, () => {
      const cases: [number, number, number, number][] = [
        // [M, N, K, gemmMinRows]
        [8, 37, 64, -1], [9, 16, 32, -1], [15, 61, 4096 + 32, -1], [24, 300, 64, -1], [23, 17, 96, -1],
        [1, 21, 32, 1], [2, 5, 64, 1], [3, 33, 64, 1], [4, 16, 32, 1], [5, 47, 128, 1], [6, 3, 64, 1], [7, 48, 32, 1],
      ];
      for (const [M, N, K, gemmMin] of cases) {
        const x = stridedX(M, K, M * 11 + K, M % 3 === 0 ? 24 : 0);
        const w = weights(N, K, dtype, N + K);
        const bias = M % 2 ? randn([N], { seed: N }) : null;
        const expect = new Tensor(new Float32Array(M * N), 'f32', [M, N]);
        assert.equal(tsKernels.linear(expect, x, w, bias), undefined);
        atLevels((level) => {
          const got = run((o) => quantLinear(o, x, w, bias, gemmMin), Tensor.empty([M, N]));
          assert.deepEqual(bits(got), bits(expect), `${dtype} ${level} M ${M} N ${N} K ${K} gemmMinRows ${gemmMin}`);
        });
      }
    });
  }

  for (const dtype of ['f32', 'f16', 'bf16'] as DType[]) {
    test(`smallMLinear ${dtype} is within (K + 16)·2⁻²⁴·Σ|x·w| of ts (f64 sums), M 1..${SMALL_M_MAX}`, () => {
      for (const K of [32, 67, 4096 + 32]) {
        for (const M of [1, 2, 3, 4, 5, SMALL_M_MAX]) {
          const N = M % 2 ? 13 : 37;
          const x = stridedX(M, K, M + K, M === 2 ? 5 : 0);
          const w = weights(N, K, dtype, 2 * M + K);
          const bias = M % 2 ? null : randn([N], { seed: M });
          const expect = new Tensor(new Float64Array(M * N), 'f64', [M, N]);
          assert.equal(tsKernels.linear(expect, x, w, bias), undefined);
          const xv = x.toArray();
          const wv = w.toArray();
          const bv = bias ? bias.toArray() : null;
          const tol = new Float64Array(M * N);
          for (let m = 0; m < M; m++) {
            for (let n = 0; n < N; n++) {
              let mag = bv ? Math.abs(bv[n]!) : 0;
              for (let k = 0; k < K; k++) mag += Math.abs(xv[m * K + k]! * wv[n * K + k]!);
              tol[m * N + n] = (K + 16) * 2 ** -24 * mag + Math.abs(expect.data[m * N + n]!) * 2 ** -24;
            }
          }
          atLevels((level) => {
            const got = run((o) => smallMLinear(o, x, w, bias), Tensor.empty([M, N])).toArray();
            for (let i = 0; i < M * N; i++) {
              const e = expect.data[i]!;
              assert.ok(Math.abs(got[i]! - e) <= tol[i]!, `${dtype} ${level} M ${M} K ${K} out[${i}] = ${got[i]}, expected ${e} (tol ${tol[i]})`);
            }
          });
        }
      }
    });
  }

  test('smallMLinear declines many rows, f64 and non-unit-stride weights with a reason', () => {
    const K = 32;
    const x = randn([SMALL_M_MAX + 1, K]);
    const w = randn([5, K]);
    assert.match(String(smallMLinear(Tensor.empty([SMALL_M_MAX + 1, 5]), x, w, null)), new RegExp(`at most ${SMALL_M_MAX} rows \\(M = ${SMALL_M_MAX + 1}\\)`));
    const x64 = randn([1, K], { dtype: 'f64' });
    assert.match(String(smallMLinear(Tensor.empty([1, 5], 'f64'), x64, randn([5, K], { dtype: 'f64' }), null)), /f32\/f16\/bf16 weights, not f64/);
    const wt = new Tensor(randn([K, 5]).data, 'f32', [5, K], [1, 5]);
    assert.match(String(smallMLinear(Tensor.empty([1, 5]), randn([1, K]), wt, null)), /unit-stride weight rows/);
  });

  test('quantize equals ts byte for byte: zero, tie, infinite and equal-magnitude blocks, strided rows', () => {
    const K = 4 * 32 + 96;
    const N = 7;
    const v = activations(N, K, 5);
    v[64 + 3] = Infinity;            // row 0, block 2: d = Inf, that quant −128
    v[K + 96] = -6; v[K + 97] = 6;   // row 1, block 3: the first of equal magnitudes sets the q4_0 scale
    v[2 * K + 128] = -Infinity;      // row 2, block 4
    const data = new Float32Array(1 + N * (K + 8));
    for (let r = 0; r < N; r++) for (let k = 0; k < K; k++) data[1 + r * (K + 8) + k] = v[r * K + k]!;
    const x = new Tensor(data, 'f32', [N, K], [K + 8, 1], 1);
    for (const dtype of ['q8_0', 'q4_0'] as QuantDType[]) {
      const expect = Tensor.empty([N, K], dtype);
      assert.equal(tsKernels.quantize(expect, x), undefined);
      atLevels((level) => {
        const got = run((o) => quantKernels.quantize!(o, x), Tensor.empty([N, K], dtype));
        assert.deepEqual([...got.data], [...expect.data], `${dtype} ${level}`);
      });
    }
  });

  for (const dtype of ['f32', 'f16', 'bf16', 'q8_0', 'q4_0'] as DType[]) {
    test(`embedding from ${dtype} equals ts bit for bit (repeats, strided ids, offset weight)`, () => {
      const D = dtype === 'q8_0' || dtype === 'q4_0' ? 96 : 67;
      const V = 9;
      const weight = weights(V, D, dtype, 11);
      const idData = new Int32Array([8, -1, 0, -1, 8, -1, 3, -1, 3]);
      const ids = new Tensor(idData, 'i32', [5], [2], 0);
      const expect = Tensor.empty([5, D]);
      assert.equal(tsKernels.embedding(expect, weight, ids), undefined);
      atLevels((level) => {
        const got = run((o) => quantKernels.embedding!(o, weight, ids), Tensor.empty([5, D]));
        assert.deepEqual(bits(got), bits(expect), `${dtype} ${level}`);
      });
    });
  }

  test('wrappers decline f64 and non-unit-stride outputs with a reason', () => {
    const w = tensor(randn([4, 32]).data, { dtype: 'q8_0', shape: [4, 32] });
    assert.match(String(quantLinear(Tensor.empty([1, 4], 'f64'), randn([1, 32], { dtype: 'f64' }), w, null)), /f32 activations/);
    assert.match(String(quantKernels.embedding!(Tensor.empty([1, 32], 'f64'), w, tensor([0], { dtype: 'i32' }))), /writes f32/);
    const out = new Tensor(new Float32Array(8), 'f32', [1, 4], [4, 2]);
    assert.match(String(quantLinear(out, randn([1, 32]), w, null)), /unit-stride rows/);
  });

  test('malformed calls throw naming the kernel, before writing anything', () => {
    const K = 64;
    const nb = K / QK;
    const x = new Float32Array(2 * K);
    const w8 = new Uint8Array(3 * nb * QUANT_BLOCK_BYTES.q8_0);
    const scratch = new Uint8Array(4096);
    atLevels((level) => {
      const out = new Float32Array(6);
      const ql = (wbuf: Uint8Array, prm: number[]) => runKernel('quant_linear', [out, x, wbuf, new Float32Array(0), scratch], prm);
      // wtype, M, N, K, xOff, xRowStride, wByteOff, outOff, outRowStride, hasBias, biasOff, biasStride
      assert.throws(() => ql(w8, [3, 2, 4, 64, 0, 64, 0, 0, 4, 0, 0, 0]), /quant_linear: access outside buffer 2/, level);
      assert.throws(() => ql(w8, [3, 2, 3, 64, 0, 64, 1, 0, 3, 0, 0, 0]), /quant_linear: access outside buffer 2/, level);
      assert.throws(() => ql(w8, [3, 2, 3, 33, 0, 64, 0, 0, 3, 0, 0, 0]), /quant_linear: K = 33 is not a multiple of 32/, level);
      assert.throws(() => ql(w8, [7, 2, 3, 64, 0, 64, 0, 0, 3, 0, 0, 0]), /quant_linear: weight type 7/, level);
      assert.throws(() => ql(w8, [3, 2, 3, 64, 1, 64, 0, 0, 3, 0, 0, 0]), /quant_linear: access outside buffer 1/, level);
      assert.throws(() => ql(w8, [3, 2, 3, 64, 0, 64, 0, 0, 3, 1, 0, 1]), /quant_linear: access outside buffer 3/, level);
      assert.throws(() => runKernel('quant_linear', [out, x, w8, new Float32Array(0), new Uint8Array(10)], [3, 2, 3, 64, 0, 64, 0, 0, 3, 0, 0, 0]),
        /quant_linear: access outside buffer 4/, level);
      assert.deepEqual([...out], [0, 0, 0, 0, 0, 0]);

      const emb = new Float32Array(2 * 32);
      const table = new Float32Array(7 * 32);
      // wtype, n, D, V, outOff, outRowStride, wOff, wRowStride, idsOff, idsStride
      assert.throws(() => runKernel('embedding_rows', [emb, table, new Int32Array([1, 7])], [0, 2, 32, 7, 0, 32, 0, 32, 0, 1]),
        /embedding_rows: id 7 at position 1 is outside \[0, 7\)/, level);
      assert.throws(() => runKernel('embedding_rows', [emb, table, new Int32Array([-2, 1])], [0, 2, 32, 7, 0, 32, 0, 32, 0, 1]),
        /embedding_rows: id -2 at position 0/, level);
      assert.throws(() => runKernel('embedding_rows', [emb, table, new Int32Array([1, 1])], [0, 2, 32, 8, 0, 32, 0, 32, 0, 1]),
        /embedding_rows: access outside buffer 1/, level);
      assert.throws(() => runKernel('embedding_rows', [new Float32Array(66), new Uint8Array(7 * 34), new Int32Array([1, 1])], [3, 2, 33, 7, 0, 33, 0, 0, 0, 1]),
        /embedding_rows: quantized rows of 33 values/, level);
      assert.deepEqual([...emb], new Array(64).fill(0));

      // wtype, M, N, K, xOff, xRowStride, wOff, wRowStride, outOff, outRowStride, hasBias, biasOff, biasStride
      assert.throws(() => runKernel('small_m_linear', [out, x, new Uint16Array(3 * K - 1), new Float32Array(0)], [1, 2, 3, K, 0, K, 0, K, 0, 3, 0, 0, 0]),
        /small_m_linear: access outside buffer 2/, level);
      assert.throws(() => runKernel('small_m_linear', [out, x, new Uint16Array(3 * K), new Float32Array(0)], [4, 2, 3, K, 0, K, 0, K, 0, 3, 0, 0, 0]),
        /small_m_linear: weight type 4 is not f32/, level);
      assert.throws(() => runKernel('small_m_linear', [out, x, new Float32Array(3 * K), new Float32Array(0)], [0, 2, 3, K, 0, K, 0, K, 0, 4, 0, 0, 0]),
        /small_m_linear: access outside buffer 0/, level);

      // wtype, N, K, xOff, xRowStride, outByteOff
      assert.throws(() => runKernel('quantize_rows', [new Uint8Array(2 * nb * 18 - 1), x], [4, 2, K, 0, K, 0]), /quantize_rows: access outside buffer 0/, level);
      assert.throws(() => runKernel('quantize_rows', [new Uint8Array(2 * nb * 34), x], [3, 2, K, 1, K, 0]), /quantize_rows: access outside buffer 1/, level);
      assert.throws(() => runKernel('quantize_rows', [new Uint8Array(2 * nb * 34), x], [1, 2, K, 0, K, 0]), /quantize_rows: weight type 1 is not q8_0/, level);
    });
  });
});
