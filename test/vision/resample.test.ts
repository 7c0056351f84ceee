/**
 * The PIL-exact bicubic resize against Pillow 9.4's own output: the spec's hand-checked 4×2 example and the
 * make_extra.py resize cases (down, up, one axis unchanged, extreme ratios, unchanged size).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { axisWeights, resizeBicubic } from '../../src/vision/index.js';
import { diffStats, extra, readExpectedRgb, readJson } from './fixtures.js';

test('spec example: 4×2 → 6×3 and → 2×1 (one channel and the same values in RGB)', () => {
  const r = new Uint8Array([0, 255, 0, 0, 255, 10, 200, 7]);
  const up = [0, 135, 253, 24, 0, 0, 128, 132, 130, 110, 55, 0, 255, 129, 7, 195, 116, 0];
  assert.deepEqual([...resizeBicubic(r, 4, 2, 1, 6, 3)], up);
  assert.deepEqual([...resizeBicubic(r, 4, 2, 1, 2, 1)], [131, 59]);
  const rgb = new Uint8Array(24);
  for (let i = 0; i < 8; i++) rgb.set([r[i]!, r[i]!, r[i]!], i * 3);
  const out = resizeBicubic(rgb, 4, 2, 3, 6, 3);
  assert.deepEqual([...out].filter((_, i) => i % 3 === 1), up);
});

interface ResizeCase { input: string; expected: string; in_wh: [number, number]; out_wh: [number, number] }

const dir = path.join(extra, 'resize');
for (const c of readJson<ResizeCase[]>(path.join(dir, 'cases.json'))) {
  test(`resize ${c.in_wh.join('×')} → ${c.out_wh.join('×')} equals Pillow's BICUBIC`, async () => {
    const src = await readExpectedRgb(path.join(dir, c.input));
    const want = await readExpectedRgb(path.join(dir, c.expected));
    const got = resizeBicubic(src.data, src.width, src.height, 3, c.out_wh[0], c.out_wh[1]);
    const d = diffStats(got, want.data);
    assert.equal(d.max, 0, `${d.count} samples differ, by up to ${d.max}`);
  });
}

test('an unchanged size is a copy, not the same array', () => {
  const a = new Uint8Array([1, 2, 3, 4, 5, 6]);
  const b = resizeBicubic(a, 2, 1, 3, 2, 1);
  assert.deepEqual(b, a);
  assert.notEqual(b, a);
});

test('fixed-point weights: each output sums to 2^22 within rounding; scale 1 is the identity', () => {
  for (const [n, m] of [[100, 7], [7, 100], [336, 336], [1000, 333]] as const) {
    const w = axisWeights(n, m);
    for (let o = 0; o < m; o++) {
      let s = 0;
      for (let j = 0; j < w.count[o]!; j++) s += w.weight[o * w.taps + j]!;
      assert.ok(Math.abs(s - 4194304) <= w.count[o]!, `${n}→${m} output ${o}: ${s}`);
      assert.ok(w.first[o]! >= 0 && w.first[o]! + w.count[o]! <= n);
    }
  }
  const id = axisWeights(5, 5);
  for (let o = 0; o < 5; o++) {
    const taps = Array.from({ length: id.count[o]! }, (_, j) => id.weight[o * id.taps + j]!);
    assert.equal(taps[o - id.first[o]!], 4194304);
    assert.equal(taps.filter((x) => x !== 0).length, 1);
  }
});

test('bad sizes and buffers are refused with the function named', () => {
  assert.throws(() => resizeBicubic(new Uint8Array(6), 2, 1, 3, 0, 1), /resizeBicubic: outWidth must be a positive integer, got 0/);
  assert.throws(() => resizeBicubic(new Uint8Array(5), 2, 1, 3, 4, 4), /resizeBicubic: 5 bytes do not hold a 2×1×3 image/);
});
