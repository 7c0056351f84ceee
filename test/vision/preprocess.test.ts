/**
 * CLIP/LLaVA preprocessing against Pillow-made references: the shared cases and the extra pipeline cases
 * (make_extra.py) — uint8 image after pad/resize/crop bit-exact, its sha256, the resize size, the float32
 * pixel_values' sum and samples — plus the spec's synthetic test vector and hand-derived geometry.
 */
import assert from 'node:assert/strict';
import { readdirSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { centerCrop, expandToSquare, padColor, preprocessImage, preprocessOptionsFromModel, preprocessRgb, shortestEdgeSize } from '../../src/vision/index.js';
import { assertClose } from '../helpers/assert.js';
import { extra, fixtures, readExpectedRgb, readJson, sha256, type PipelineCase } from './fixtures.js';

function caseDirs(dir: string): string[] {
  return readdirSync(dir).map((d) => path.join(dir, d)).filter((d) => existsSync(path.join(d, 'case.json'))).sort();
}

const cases = [...caseDirs(fixtures), ...caseDirs(path.join(extra, 'pipeline'))];

test('there are pipeline cases to check (8 shared + 8 extra)', () => {
  assert.equal(cases.length, 16);
});

for (const dir of cases) {
  test(`pipeline case ${path.relative(fixtures, dir)}`, async () => {
    const c = readJson<PipelineCase>(path.join(dir, 'case.json'));
    const r = await preprocessImage(path.join(dir, c.input), {
      size: c.size, crop: c.crop_hw, mode: c.pad ? 'pad' : 'crop', mean: c.mean, std: c.std,
    });
    assert.deepEqual([r.original.width, r.original.height], c.input_size_wh);
    assert.deepEqual([r.resized.height, r.resized.width], c.resized_hw, 'size after resize');
    const expected = await readExpectedRgb(path.join(dir, 'expected_crop.png'));
    assert.deepEqual([r.imageU8.height, r.imageU8.width], [expected.height, expected.width]);
    let firstDiff = -1;
    for (let i = 0; i < expected.data.length && firstDiff < 0; i++) if (r.imageU8.data[i] !== expected.data[i]) firstDiff = i;
    assert.equal(firstDiff, -1, `uint8 image differs first at sample ${firstDiff} (pixel ${Math.floor(firstDiff / 3)})`);
    assert.equal(sha256(r.imageU8.data), c.expected_crop_hwc_u8_sha256);
    assert.deepEqual([...r.pixelValues.shape], [1, ...c.pixel_values_shape]);
    assert.equal(r.pixelValues.dtype, 'f32');
    const v = r.pixelValues.toArray();
    let sum = 0;
    for (const x of v) sum += x;
    assert.ok(Math.abs(sum - c.pixel_values_sum_f64) <= 1e-4, `pixel sum ${sum} vs ${c.pixel_values_sum_f64}`);
    const [, h, w] = c.pixel_values_shape;
    for (const [ch, y, x, value] of c.pixel_values_samples_c_y_x_value) {
      // float32 arithmetic in the same order as the reference: equal, not merely close.
      assert.equal(v[(ch * h + y) * w + x], value, `pixel_values[0, ${ch}, ${y}, ${x}]`);
    }
  });
}

/** Spec §4.5 synthetic image: R = (7x + 3y) mod 256, G = (2x + 5y) mod 256, B = (x + y) mod 256, 640×480. */
function specImage() {
  const width = 640;
  const height = 480;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * 3;
      data[p] = (7 * x + 3 * y) % 256;
      data[p + 1] = (2 * x + 5 * y) % 256;
      data[p + 2] = (x + y) % 256;
    }
  }
  return { width, height, data };
}

test('spec test vector: 640×480 synthetic image, pad and crop paths', () => {
  const vectors = [
    { mode: 'pad' as const, u8sum: 42_103_523, px: [187, 38, 236], t00: [-0.0112545, -0.011196, -0.0013329], t: [0.9376432, -1.1818019, 1.875716], sum: 47_933.3087 },
    { mode: 'crop' as const, u8sum: 43_095_725, px: [174, 167, 255], t00: [-1.0477428, 0.6641536, -0.3426145], t: [0.7478637, 0.7542002, 2.1458969], sum: 62_332.7985 },
  ];
  for (const e of vectors) {
    const r = preprocessRgb(specImage(), { size: 336, mode: e.mode });
    assert.deepEqual([r.imageU8.width, r.imageU8.height], [336, 336]);
    assert.deepEqual([r.resized.width, r.resized.height], e.mode === 'pad' ? [336, 336] : [448, 336]);
    let u8sum = 0;
    for (const b of r.imageU8.data) u8sum += b;
    assert.equal(u8sum, e.u8sum, `${e.mode} uint8 sum`);
    assert.deepEqual([...r.imageU8.data.subarray((100 * 336 + 200) * 3, (100 * 336 + 200) * 3 + 3)], e.px);
    const v = r.pixelValues.toArray();
    const at = (c: number, y: number, x: number) => v[(c * 336 + y) * 336 + x]!;
    assertClose([0, 1, 2].map((c) => at(c, 0, 0)), e.t00, { atol: 1e-7, rtol: 0 }, `${e.mode} [:,0,0]`);
    assertClose([0, 1, 2].map((c) => at(c, 100, 200)), e.t, { atol: 1e-7, rtol: 0 }, `${e.mode} [:,100,200]`);
    let sum = 0;
    for (const x of v) sum += x;
    assert.ok(Math.abs(sum - e.sum) < 1e-4, `${e.mode} sum ${sum}`);
  }
});

test('pad colour is the truncated mean: (122, 116, 104) for CLIP, (127, 127, 127) for 0.5', () => {
  assert.deepEqual(padColor([0.48145466, 0.4578275, 0.40821073]), [122, 116, 104]);
  assert.deepEqual(padColor([0.5, 0.5, 0.5]), [127, 127, 127]);
});

test('expand to square: paste offset (side − short) // 2, the odd row/column of padding at the bottom/right', () => {
  const px = (n: number, v: number) => new Uint8Array(n * 3).fill(v);
  const wide = expandToSquare({ width: 4, height: 1, data: px(4, 9) }, [1, 2, 3]);
  assert.equal(wide.width, 4);
  const rowOf = (img: { width: number; data: Uint8Array }, y: number) => [...img.data.subarray(y * img.width * 3, (y + 1) * img.width * 3)];
  // 3 rows of padding: 1 above, 2 below.
  assert.deepEqual(rowOf(wide, 0), [1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3]);
  assert.deepEqual(rowOf(wide, 1), Array(12).fill(9));
  assert.deepEqual(rowOf(wide, 2), [1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3]);
  const tall = expandToSquare({ width: 1, height: 2, data: px(2, 9) }, [1, 2, 3]);
  // 1 column of padding, on the right.
  assert.deepEqual([...tall.data], [9, 9, 9, 1, 2, 3, 9, 9, 9, 1, 2, 3]);
  const square = { width: 2, height: 2, data: px(4, 5) };
  assert.equal(expandToSquare(square, [0, 0, 0]), square);
});

test('shortest-edge size truncates the long side: int(size · long / short)', () => {
  assert.deepEqual(shortestEdgeSize(480, 640, 336), [336, 448]);
  assert.deepEqual(shortestEdgeSize(399, 401, 336), [336, 337]);
  assert.deepEqual(shortestEdgeSize(333, 1000, 224), [224, 672]); // 672.67 → 672
  assert.deepEqual(shortestEdgeSize(91, 17, 336), [1798, 336]); // 1798.59 → 1798
  assert.deepEqual(shortestEdgeSize(3, 7, 224), [224, 522]); // 522.67 → 522
  assert.deepEqual(shortestEdgeSize(5, 5, 224), [224, 224]);
});

test('center crop: floor offsets; a smaller image is zero-padded at ceil offsets', () => {
  // 3×1 image, values 10, 20, 30 (grey): crop to height 4 × width 2.
  const img = { width: 3, height: 1, data: new Uint8Array([10, 10, 10, 20, 20, 20, 30, 30, 30]) };
  const c = centerCrop(img, 4, 2);
  // columns: (3 − 2) // 2 = 0 → 10, 20; rows: the image lands at ceil(3 / 2) = 2.
  const grey = [...c.data].filter((_, i) => i % 3 === 0);
  assert.deepEqual(grey, [0, 0, 0, 0, 10, 20, 0, 0]);
  const odd = centerCrop({ width: 5, height: 1, data: new Uint8Array([1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5]) }, 1, 2);
  assert.deepEqual([...odd.data].filter((_, i) => i % 3 === 0), [2, 3]); // (5 − 2) // 2 = 1
});

test('rescale/normalize switches: no normalize keeps value/255; no rescale keeps 0..255', () => {
  const img = { width: 1, height: 1, data: new Uint8Array([255, 0, 51]) };
  const a = preprocessRgb(img, { size: null, crop: null, mode: 'crop', normalize: false });
  assert.deepEqual(a.pixelValues.toArray(), [1, 0, Math.fround(51 / 255)]);
  const b = preprocessRgb(img, { size: null, crop: null, mode: 'crop', rescaleFactor: null, normalize: false });
  assert.deepEqual(b.pixelValues.toArray(), [255, 0, 51]);
});

test('bad options are refused with the option named', () => {
  const img = { width: 2, height: 2, data: new Uint8Array(12) };
  assert.throws(() => preprocessRgb(img, { size: 0, mode: 'crop' }), /size must be a positive integer/);
  assert.throws(() => preprocessRgb(img, { size: 4, mode: 'square' as never }), /mode must be 'pad' or 'crop'/);
  assert.throws(() => preprocessRgb(img, { size: 4, mode: 'crop', mean: [0.5, 0.5] }), /mean must be three/);
  assert.throws(() => preprocessRgb(img, { size: 4, mode: 'crop', std: [1, 0, 1] }), /std must not contain 0/);
  assert.throws(() => preprocessRgb(img, { size: 4, mode: 'crop', crop: [0, 4] }), /crop must be two positive integers/);
});

test('tiny-llava-hf fixture: options from its folder, pixel_values equal the reference within 1e-6', async () => {
  const dir = path.join(extra, 'tiny-llava-hf');
  const { options } = preprocessOptionsFromModel(dir);
  const r = await preprocessImage(path.join(dir, 'image.png'), options);
  assert.deepEqual([r.resized.width, r.resized.height], [24, 16]);
  const resized = await readExpectedRgb(path.join(dir, 'expected_resized.png'));
  // The 16×16 crop of the reference's resized image starts at column (24 − 16) // 2 = 4.
  for (let y = 0; y < 16; y++) {
    const want = resized.data.subarray((y * 24 + 4) * 3, (y * 24 + 20) * 3);
    assert.deepEqual([...r.imageU8.data.subarray(y * 48, (y + 1) * 48)], [...want], `row ${y}`);
  }
  const bytes = readFileSync(path.join(dir, 'pixel_values.f32'));
  const want = new Float32Array(new Uint8Array(bytes).buffer); // a copy: pooled Buffers may be unaligned
  assert.deepEqual([...r.pixelValues.shape], [1, 3, 16, 16]);
  assertClose(r.pixelValues.toArray(), want, { atol: 1e-6, rtol: 0 }, 'pixel_values');
});
