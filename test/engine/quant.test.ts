/**
 * The q8_0/q4_0 specification (src/engine/quant.ts) checked against values derived by hand from the
 * format definition: exact block bytes for chosen blocks (scale 1, ties, the q4_0 −8/+8 asymmetry and clamp,
 * zero blocks, little-endian f16 scales), round-trip error bounds on random rows, and the accumulation order
 * of `dotQ8_0Row` against the stated formula, including a case where f32 order changes the result.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  dequantizeRow, dotQ8_0Row, f16BitsToF32, quantize, quantizeRowQ4_0, quantizeRowQ8_0, Rng, tensor, to,
  type QuantDType,
} from '../../src/index.js';

const fround = Math.fround;

function q8(values: number[]): number[] {
  const out = new Uint8Array(34);
  quantizeRowQ8_0(values, 0, 32, out, 0);
  return [...out];
}
function q4(values: number[]): number[] {
  const out = new Uint8Array(18);
  quantizeRowQ4_0(values, 0, 32, out, 0);
  return [...out];
}
const i8 = (v: number) => v & 0xff;

describe('q8_0 blocks', () => {
  test('amax 127 gives d = 1 (f16 0x3c00, stored 00 3c) and q = x, ties to even', () => {
    // Integers stay, k + 0.5 rounds to the even neighbour (vroundps), negatives too.
    const x = [127, -127, 0, 1, -1, 2.5, 3.5, -2.5, -3.5, 0.5, -0.5, 126.5, -126.5, 100.4, -100.6];
    while (x.length < 32) x.push(x.length - 20);
    const q = [127, -127, 0, 1, -1, 2, 4, -2, -4, 0, 0, 126, -126, 100, -101];
    for (let j = q.length; j < 32; j++) q.push(j - 20);
    assert.deepEqual(q8(x), [0x00, 0x3c, ...q.map(i8)]);
  });

  test('amax 254 gives d = 2 (0x4000) and id = 0.5 exactly: 5 → 2.5 → 2, 7 → 3.5 → 4', () => {
    const x = new Array(32).fill(0);
    x[0] = 254; x[1] = 5; x[2] = 7; x[3] = -5; x[4] = -7; x[5] = -254; x[6] = 1;
    const q = new Array(32).fill(0);
    q[0] = 127; q[1] = 2; q[2] = 4; q[3] = -2; q[4] = -4; q[5] = -127; q[6] = 0;
    assert.deepEqual(q8(x), [0x00, 0x40, ...q.map(i8)]);
  });

  test('the f16 scale is little-endian: amax 1 → d = 1/127 → 0x2008 → bytes 08 20', () => {
    // 1/127 = 2^−7 · 1.00787…; the 10-bit mantissa 0.00787·1024 = 8.06 rounds to 8.
    const x = new Array(32).fill(0.25);
    x[9] = -1;
    const b = q8(x);
    assert.deepEqual(b.slice(0, 2), [0x08, 0x20]);
    assert.equal(b[2 + 9], i8(-127));
    assert.equal(b[2], 32); // 0.25 · 127 = 31.75 → 32
  });

  test('an all-zero block is all zero bytes (d = 0, id = 0)', () => {
    assert.deepEqual(q8(new Array(32).fill(0)), new Array(34).fill(0));
  });

  test('an infinite value: d = +Inf (0x7c00), id = 0, the infinity itself quantizes to −128', () => {
    const x = new Array(32).fill(3);
    x[4] = Infinity;
    const b = q8(x);
    assert.deepEqual(b.slice(0, 2), [0x00, 0x7c]);
    assert.equal(b[2 + 4], 0x80);
    assert.equal(b[2], 0);
  });
});

describe('q4_0 blocks', () => {
  test('max +8 gives d = −1 (0xbc00): +8 → q 0, −8 → 16.5 → clamped to 15 (decodes to −7), halves round up', () => {
    // q = min(15, trunc(x·(−1) + 8.5)); packed qs[j] = q[j] | q[j + 16] << 4.
    const x = new Array(32).fill(0);
    x[0] = 8; x[1] = -8; x[2] = 3; x[3] = 2.5; x[4] = -2.5; x[16] = 1; x[17] = -1;
    const q = x.map((v) => Math.min(15, Math.trunc(-v + 8.5)));
    assert.deepEqual(q.slice(0, 5), [0, 15, 5, 6, 11]);
    assert.deepEqual(q.slice(16, 18), [7, 9]);
    const qs = Array.from({ length: 16 }, (_, j) => q[j]! | (q[j + 16]! << 4));
    assert.deepEqual(q4(x), [0x00, 0xbc, ...qs]);
    const back = new Float32Array(32);
    dequantizeRow('q4_0', new Uint8Array(q4(x)), 0, 32, back, 0);
    assert.deepEqual([...back.slice(0, 5)], [8, -7, 3, 2, -3]);
  });

  test('max −8 gives d = 1 (0x3c00); a later +8 of equal magnitude does not take over and clamps to 15', () => {
    const x = new Array(32).fill(0);
    x[0] = -8; x[1] = 8; x[2] = 7.5; x[16] = -0.5;
    // q = min(15, trunc(x + 8.5)): −8 → 0, 8 → 16 → 15, 7.5 → 16 → 15, 0 → 8, −0.5 → 8.
    const q = new Array(32).fill(8);
    q[0] = 0; q[1] = 15; q[2] = 15; q[16] = 8;
    const qs = Array.from({ length: 16 }, (_, j) => q[j]! | (q[j + 16]! << 4));
    assert.deepEqual(q4(x), [0x00, 0x3c, ...qs]);
  });

  test('an all-zero block: d = 0/−8 = −0 (stored 00 80), every nibble 8 (0x88)', () => {
    assert.deepEqual(q4(new Array(32).fill(0)), [0x00, 0x80, ...new Array(16).fill(0x88)]);
  });
});

describe('round trips', () => {
  // |x − x̂| ≤ d/2 (q8_0) or d (q4_0, the clamped end), plus what rounding d to f16 adds: |q|·|d − d16|.
  for (const dtype of ['q8_0', 'q4_0'] as QuantDType[]) {
    test(`${dtype}: random rows of several scales decode within the stated bound`, () => {
      const rng = new Rng(7);
      const K = 256;
      for (const scale of [1e-3, 1, 37, 6e4]) {
        const x = Array.from({ length: K }, () => fround(rng.normal() * scale));
        const bytes = new Uint8Array((K / 32) * (dtype === 'q8_0' ? 34 : 18));
        (dtype === 'q8_0' ? quantizeRowQ8_0 : quantizeRowQ4_0)(x, 0, K, bytes, 0);
        const back = new Float32Array(K);
        dequantizeRow(dtype, bytes, 0, K, back, 0);
        for (let b = 0; b < K / 32; b++) {
          const blk = x.slice(b * 32, b * 32 + 32);
          const amax = Math.max(...blk.map(Math.abs));
          const max = blk.find((v) => Math.abs(v) === amax)!;
          const d = dtype === 'q8_0' ? fround(amax / 127) : Math.abs(fround(max / -8));
          const o = b * (dtype === 'q8_0' ? 34 : 18);
          const d16 = Math.abs(f16BitsToF32(bytes[o]! | (bytes[o + 1]! << 8)));
          const bound = (dtype === 'q8_0' ? d / 2 + 127 * Math.abs(d - d16) : d + 8 * Math.abs(d - d16)) * (1 + 1e-4);
          for (let j = 0; j < 32; j++) {
            const err = Math.abs(back[b * 32 + j]! - blk[j]!);
            assert.ok(err <= bound, `${dtype} scale ${scale} block ${b} elem ${j}: |${back[b * 32 + j]} − ${blk[j]}| = ${err} > ${bound}`);
          }
        }
      }
    });
  }

  test('the quantize op writes the same bytes as quantizeRow and keeps the shape; bad input is refused', () => {
    const rng = new Rng(3);
    const vals = Array.from({ length: 2 * 3 * 64 }, () => rng.normal());
    const q = quantize(tensor(vals, { shape: [2, 3, 64] }), 'q4_0');
    assert.equal(q.dtype, 'q4_0');
    assert.deepEqual([...q.shape], [2, 3, 64]);
    const expect = new Uint8Array(6 * 2 * 18);
    for (let r = 0; r < 6; r++) quantizeRowQ4_0(vals, r * 64, 64, expect, r * 36);
    assert.deepEqual([...(q.data as Uint8Array)], [...expect]);
    assert.deepEqual(to(q, 'f32').shape, [2, 3, 64]);
    assert.throws(() => quantize(tensor([[1, 2, 3]]), 'q8_0'), /quantize: the last dim must be a multiple of 32: x f32 \[1, 3\]/);
    assert.throws(() => quantize(tensor([1, 2], { dtype: 'i32' }), 'q8_0'), /quantize: x must be f32 or f64/);
    assert.throws(() => quantize(tensor(new Array(32).fill(1)), 'f16' as QuantDType), /target must be q8_0 or q4_0/);
  });
});

describe('dotQ8_0Row', () => {
  // Blocks built by hand: f16 scale bits, then quants.
  function block(scaleBits: number, quants: number[], dtype: QuantDType): number[] {
    const head = [scaleBits & 0xff, scaleBits >>> 8];
    if (dtype === 'q8_0') return [...head, ...quants.map(i8)];
    return [...head, ...Array.from({ length: 16 }, (_, j) => (quants[j]! + 8) | ((quants[j + 16]! + 8) << 4))];
  }
  const ONE = 0x3c00, HALF = 0x3800, P10 = 0x6400; // 1, 0.5, 2^10

  for (const dtype of ['q8_0', 'q4_0'] as QuantDType[]) {
    test(`${dtype}: two blocks equal Σ_b fl(fl(dx·dw)·Σ qx·qw) by direct evaluation`, () => {
      const qx = Array.from({ length: 64 }, (_, j) => ((j * 37) % 255) - 127);
      const qw = Array.from({ length: 64 }, (_, j) => ((j * 11) % 16) - 8); // valid for both formats
      const xb = new Uint8Array([...block(HALF, qx.slice(0, 32), 'q8_0'), ...block(0x4100, qx.slice(32), 'q8_0')]); // 0.5, 2.5
      const wb = new Uint8Array([...block(ONE, qw.slice(0, 32), dtype), ...block(0x2e66, qw.slice(32), dtype)]); // 1, 0.0999…
      let expect = 0;
      const dx = [0.5, 2.5];
      const dw = [1, f16BitsToF32(0x2e66)];
      for (let b = 0; b < 2; b++) {
        let isum = 0;
        for (let j = 0; j < 32; j++) isum += qx[b * 32 + j]! * qw[b * 32 + j]!;
        expect = fround(expect + fround(fround(dx[b]! * dw[b]!) * isum));
      }
      assert.equal(dotQ8_0Row(xb, 0, dtype, wb, 0, 2), expect);
      assert.notEqual(expect, 0);
    });

    test(`${dtype}: the sum is f32, block by block: 2^24 + 1 − 2^24 gives 0, not 1`, () => {
      const z = new Array(32).fill(0);
      const x1 = [16, ...z.slice(1)];
      const w1 = [1, ...z.slice(1)];
      const wm = [-1, ...z.slice(1)];
      // Contributions 2^10·2^10·16 = 2^24, then 1·1·1, then −2^24: fl(2^24 + 1) = 2^24 (tie to even).
      const xb = new Uint8Array([...block(P10, x1, 'q8_0'), ...block(ONE, [1, ...z.slice(1)], 'q8_0'), ...block(P10, x1, 'q8_0')]);
      const wb = new Uint8Array([...block(P10, w1, dtype), ...block(ONE, w1, dtype), ...block(P10, wm, dtype)]);
      assert.equal(dotQ8_0Row(xb, 0, dtype, wb, 0, 3), 0);
      // Reversed block order changes it: −2^24 + 2^24 = 0, then + 1.
      const xr = new Uint8Array([...xb.slice(68), ...xb.slice(34, 68), ...xb.slice(0, 34)]);
      const bw = wb.length / 3;
      const wr = new Uint8Array([...wb.slice(2 * bw), ...wb.slice(bw, 2 * bw), ...wb.slice(0, bw)]);
      assert.equal(dotQ8_0Row(xr, 0, dtype, wr, 0, 3), 1);
    });
  }
});
