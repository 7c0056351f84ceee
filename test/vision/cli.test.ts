/**
 * `llava preprocess` run for real (spawned): the PNG it writes is the reference uint8 image, the mode comes
 * from the model folder or the flags, and wrong invocations end with one sentence and exit code 1.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fixtures, readExpectedRgb, readJson, root, type PipelineCase } from './fixtures.js';

const bin = path.join(root, 'dist', 'src', 'cli', 'main.js');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'llava-preprocess-cli-'));

function llava(...args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, LLAVA_QUIET: '1' } });
}

async function samePng(file: string, expectedFile: string): Promise<void> {
  const a = await readExpectedRgb(file);
  const b = await readExpectedRgb(expectedFile);
  assert.deepEqual([a.width, a.height], [b.width, b.height]);
  assert.ok(Buffer.from(a.data).equals(Buffer.from(b.data)), `${file} differs from ${expectedFile}`);
}

test('--size --pad writes the reference uint8 image and a JSON summary', async () => {
  const dir = path.join(fixtures, 'grad_640x480_336_pad');
  const out = path.join(tmp, 'pad.png');
  const r = llava('preprocess', '--image', path.join(dir, 'input.png'), '--size', '336', '--pad', '--out', out, '--json');
  assert.equal(r.status, 0, r.stderr);
  const summary = JSON.parse(r.stdout.trim());
  assert.deepEqual(summary.original, { width: 640, height: 480 });
  assert.equal(summary.mode, 'pad');
  assert.deepEqual(summary.pixel_values, [1, 3, 336, 336]);
  await samePng(out, path.join(dir, 'expected_crop.png'));
});

test('--size alone is plain CLIP crop; --crop says the same', async () => {
  const dir = path.join(fixtures, 'noise_1000x333_224_crop');
  for (const extraFlags of [[], ['--crop']]) {
    const out = path.join(tmp, `crop${extraFlags.length}.png`);
    const r = llava('preprocess', '--image', path.join(dir, 'input.png'), '--size', '224', ...extraFlags, '--out', out);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /1000×333 → crop → 672×224 → 224×224/);
    await samePng(out, path.join(dir, 'expected_crop.png'));
  }
});

test('--model takes size and mode from the folder (original layout: image_aspect_ratio pad)', async () => {
  const dir = path.join(fixtures, 'edges_300x500_224_pad');
  const c = readJson<PipelineCase>(path.join(dir, 'case.json'));
  const model = mkdtempSync(path.join(tmp, 'model-'));
  writeFileSync(path.join(model, 'config.json'), JSON.stringify({ model_type: 'llava', image_aspect_ratio: 'pad' }));
  writeFileSync(path.join(model, 'preprocessor_config.json'), JSON.stringify({ size: c.size, crop_size: c.size, image_mean: c.mean, image_std: c.std, resample: 3 }));
  const out = path.join(tmp, 'model.png');
  const r = llava('preprocess', '--image', path.join(dir, 'input.png'), '--model', model, '--out', out, '--json');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).mode, 'pad');
  await samePng(out, path.join(dir, 'expected_crop.png'));
  // --crop overrides the folder.
  const r2 = llava('preprocess', '--image', path.join(dir, 'input.png'), '--model', model, '--crop', '--out', out, '--json');
  assert.equal(r2.status, 0, r2.stderr);
  assert.equal(JSON.parse(r2.stdout).mode, 'crop');
});

test('wrong invocations end with one sentence and exit code 1', () => {
  const img = path.join(fixtures, 'noise_7x3_224_pad_tiny', 'input.png');
  const out = path.join(tmp, 'x.png');
  const cases: [string[], RegExp][] = [
    [['--image', img, '--out', out], /exactly one of --model DIR and --size N/],
    [['--image', img, '--size', '224', '--model', tmp, '--out', out], /exactly one of --model DIR and --size N/],
    [['--image', img, '--size', '224', '--pad', '--crop', '--out', out], /--pad or --crop, not both/],
    [['--image', img, '--size', 'abc', '--out', out], /--size must be a positive integer, got 'abc'/],
    [['--image', img, '--size', '224'], /needs --out/],
    [['--image', path.join(tmp, 'missing.png'), '--size', '224', '--out', out], /cannot read image .*missing\.png: no such file/],
    [['--image', img, '--size', '224', '--max-pixels', '20', '--out', out], /7×3 = 21 pixels, more than the limit of 20/],
    [['--image', img, '--model', path.join(tmp, 'nope'), '--out', out], /model folder .*nope does not exist/],
  ];
  for (const [args, message] of cases) {
    const r = llava('preprocess', ...args);
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stdout}`);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace without --debug');
    assert.equal(r.stderr.trim().split('\n').length, 1);
  }
  assert.ok(!existsSync(out), 'no output written by failed runs');
});

test('a corrupt image names the file', () => {
  const bad = path.join(tmp, 'corrupt.jpg');
  cpSync(path.join(fixtures, 'noise_7x3_224_pad_tiny', 'case.json'), bad);
  const r = llava('preprocess', '--image', bad, '--size', '224', '--out', path.join(tmp, 'y.png'));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /image .*corrupt\.jpg cannot be decoded/);
});

test('--dump-pixels writes pixel_values f32 [1,3,N,N] as safetensors, equal to the reference values', async () => {
  const { SafetensorsFile } = await import('../../src/io/index.js');
  const dir = path.join(fixtures, 'grad_640x480_336_crop');
  const c = readJson<PipelineCase>(path.join(dir, 'case.json'));
  const out = path.join(tmp, 'dump.png');
  const dump = path.join(tmp, 'pixels.safetensors');
  const r = llava('preprocess', '--image', path.join(dir, 'input.png'), '--size', '336', '--out', out, '--dump-pixels', dump);
  assert.equal(r.status, 0, r.stderr);
  const f = new SafetensorsFile(dump);
  assert.deepEqual(f.names(), ['pixel_values']);
  const t = f.read('pixel_values');
  assert.equal(t.dtype, 'f32');
  assert.deepEqual([...t.shape], [1, 3, 336, 336]);
  const v = t.toArray();
  for (const [ch, y, x, value] of c.pixel_values_samples_c_y_x_value) assert.equal(v[(ch * 336 + y) * 336 + x], value);
  let sum = 0;
  for (const x of v) sum += x;
  assert.ok(Math.abs(sum - c.pixel_values_sum_f64) <= 1e-4, `sum ${sum}`);
  assert.equal(f.metadata?.mode, 'crop');
});
