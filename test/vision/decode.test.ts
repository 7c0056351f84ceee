/**
 * Decoding against Pillow's `Image.open(f).convert("RGB")` (references from make_extra.py): palette, tRNS,
 * LA, RGBA, 1/4/16-bit, ICC + gAMA, JPEG variants, CMYK, EXIF orientation, WebP, GIF, TIFF. Plus the error
 * paths: missing, corrupt and truncated files, and the pixel limit.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { decodeImage } from '../../src/vision/index.js';
import { diffStats, extra, readExpectedRgb, readJson } from './fixtures.js';

interface DecodeCase { input: string; expected: string; pil_mode: string; size_wh: [number, number]; lossy: boolean; auto_orient: boolean; note: string }

const dir = path.join(extra, 'decode');
const cases = readJson<DecodeCase[]>(path.join(dir, 'cases.json'));

test('decode cases cover every format and mode listed in the generator', () => {
  const modes = new Set(cases.map((c) => c.pil_mode));
  for (const m of ['P', 'LA', 'RGBA', 'L', '1', 'I', 'I;16', 'RGB', 'CMYK']) assert.ok(modes.has(m), m);
  const exts = new Set(cases.map((c) => path.extname(c.input)));
  for (const e of ['.png', '.jpg', '.webp', '.gif', '.tif']) assert.ok(exts.has(e), e);
  assert.ok(cases.filter((c) => c.lossy).length >= 8, 'JPEG/WebP cases, where two decoders could disagree');
});

for (const c of cases) {
  test(`decode ${c.input} (${c.pil_mode}${c.auto_orient ? ', auto-orient' : ''}) as Pillow's convert("RGB"): ${c.note}`, async (t) => {
    const got = await decodeImage(path.join(dir, c.input), { autoOrient: c.auto_orient });
    const want = await readExpectedRgb(path.join(dir, c.expected));
    assert.deepEqual([got.width, got.height], c.size_wh, 'size');
    const d = diffStats(got.data, want.data);
    t.diagnostic(`max |diff| ${d.max}, ${d.count} of ${want.data.length} samples differ`);
    // Every case is bit-exact with the sharp/libvips build in use, JPEG and lossy WebP included (measured: the
    // IDCT, upsampling and YUV→RGB paths of both decoders agree); a decoder change would show up here first.
    assert.equal(d.max, 0, `${c.input}: ${d.count} samples differ, by up to ${d.max}`);
  });
}

test('the ICC case is sensitive: decoding with the embedded linear profile applied would differ', async () => {
  const file = path.join(dir, 'icc_gamma.png');
  const managed = await sharp(file).raw().toBuffer();
  const want = await readExpectedRgb(file + '.rgb.png');
  assert.ok(diffStats(new Uint8Array(managed), want.data).max > 20);
  const got = await decodeImage(file);
  assert.equal(diffStats(got.data, want.data).max, 0);
});

test('buffer input decodes like the file', async () => {
  const file = path.join(dir, 'palette_trns.png');
  const a = await decodeImage(file);
  const b = await decodeImage(readFileSync(file), { name: 'palette_trns.png' });
  assert.deepEqual(b, a);
});

test('a missing file is an error naming it', async () => {
  await assert.rejects(decodeImage(path.join(dir, 'nope.png')), /cannot read image .*nope\.png: no such file/);
});

test('bytes that are not an image are an error naming the file', async () => {
  const junk = new TextEncoder().encode('this is not an image, just some text of moderate length');
  await assert.rejects(decodeImage(junk, { name: 'junk.bin' }), /image junk\.bin cannot be decoded/);
});

test('truncated PNG and JPEG files are errors, not half-grey images', async () => {
  for (const f of ['grey16.png', 'q90_420.jpg', 'lossy.webp']) {
    const bytes = readFileSync(path.join(dir, f));
    const cut = bytes.subarray(0, Math.floor(bytes.length * 0.6));
    await assert.rejects(decodeImage(cut, { name: `cut-${f}` }), new RegExp(`image cut-${f.replace('.', '\\.')} cannot be decoded`));
  }
});

test('the pixel limit refuses larger images and names the size; 0 lifts it', async () => {
  const file = path.join(dir, 'q90_420.jpg'); // 256×192 = 49152 pixels
  await assert.rejects(decodeImage(file, { maxPixels: 49151 }), /q90_420\.jpg is 256×192 = 49152 pixels, more than the limit of 49151/);
  assert.equal((await decodeImage(file, { maxPixels: 49152 })).width, 256);
  assert.equal((await decodeImage(file, { maxPixels: 0 })).width, 256);
});
