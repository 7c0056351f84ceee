/**
 * Batched generation with sampling on the tiny LLaVA folder (assets/tiny-llava-1.5-hf): through the public
 * `generateBatch` (worker thread) and in-thread `generateBatchTokens` on every backend, a batch of prompts of
 * different lengths with different images (one, none, two) gives every request exactly the pieces (ids and
 * text) `generate` gives for it alone — greedy rows, and sampled rows with their own seeds and options
 * (temperature, top-k, top-p, min-p, repetition penalty), stop strings and lengths, finishing independently.
 * Also: prefill progress over the shared tower and decoder, abort mid-batch (the next batch equals a fresh
 * one), and errors naming the request.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { availableBackends, withBackend } from '../../src/index.js';
import { generateBatch, generate, loadModel, type Model } from '../../src/generate/client.js';
import { generateBatchTokens } from '../../src/generate/batch.js';
import { generateTokens } from '../../src/generate/core.js';
import { pixelValuesFor } from '../../src/generate/images.js';
import type { BatchPiece, BatchRequest, GenerateOptions, Piece, PrefillProgress } from '../../src/generate/options.js';
import { loadLlava } from '../../src/models/llava/load.js';
import { ROOT } from '../helpers/tiny-llava.js';

const DIR = path.join(ROOT, 'assets', 'tiny-llava-1.5-hf');
const IMAGE = path.join(DIR, 'image.png');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'llava-batch-'));
const OTHER = path.join(tmp, 'other.png');
let model: Model;

before(async () => {
  const w = 20;
  const h = 12;
  const data = Buffer.alloc(w * h * 3);
  for (let i = 0; i < w * h; i++) data.set([(i * 7) % 256, (i * 13) % 256, 255 - (i % 256)], i * 3);
  await sharp(data, { raw: { width: w, height: h, channels: 3 } }).png().toFile(OTHER);
  model = await loadModel(DIR);
});
after(async () => {
  await model.close();
  rmSync(tmp, { recursive: true, force: true });
});

async function alone(req: GenerateOptions): Promise<Piece[]> {
  const out: Piece[] = [];
  for await (const p of generate(model, req)) out.push(p);
  return out;
}

/** Pieces per request index, checking that each step lists the running rows in order. */
function byIndex(pieces: BatchPiece[], n: number): Piece[][] {
  const out: Piece[][] = Array.from({ length: n }, () => []);
  for (const { index, ...p } of pieces) out[index]!.push(p);
  return out;
}

async function batch(reqs: BatchRequest[], opts = {}): Promise<{ pieces: BatchPiece[]; summary: Awaited<ReturnType<typeof collectSummary>> }> {
  const pieces: BatchPiece[] = [];
  const summary = await collectSummary(reqs, opts, pieces);
  return { pieces, summary };
}

async function collectSummary(reqs: BatchRequest[], opts: Parameters<typeof generateBatch>[2], into: BatchPiece[]) {
  const it = generateBatch(model, reqs, opts);
  for (let r = await it.next(); ; r = await it.next()) {
    if (r.done) return r.value;
    into.push(r.value);
  }
}

const GREEDY: BatchRequest[] = [
  { prompt: 'What is in this image?', images: [IMAGE], temperature: 0, maxNewTokens: 10 },
  { prompt: 'Write a long story about a cat who lives by the sea.', temperature: 0, maxNewTokens: 7 },
  { prompt: 'Compare <image> with <image>.', images: [OTHER, IMAGE], temperature: 0, maxNewTokens: 9 },
  { prompt: 'What is in this image?', images: [OTHER], temperature: 0, maxNewTokens: 10 },
];

test('greedy: each request of a batch (lengths and images differ) gets the pieces generate() gives it alone', async () => {
  const { pieces, summary } = await batch(GREEDY);
  const rows = byIndex(pieces, GREEDY.length);
  for (let i = 0; i < GREEDY.length; i++) assert.deepEqual(rows[i], await alone(GREEDY[i]!), `request ${i}`);
  const lengths = summary.rows.map((r) => r.promptPositions);
  assert.equal(new Set(lengths).size, 3, `merged lengths ${lengths} should mostly differ`);
  assert.equal(summary.paddedPositions, Math.max(...lengths));
  assert.deepEqual(summary.rows.map((r) => r.newTokens), rows.map((r) => r.length));
  // Same prompt, different image: the image reached its own row.
  assert.notDeepEqual(rows[0], rows[3]);
  // Step k lists, in request order, the rows whose replies have more than k tokens.
  const steps: number[][] = [];
  let prev = Infinity;
  for (const p of pieces) {
    if (p.index <= prev) steps.push([]);
    steps.at(-1)!.push(p.index);
    prev = p.index;
  }
  steps.forEach((s, k) => assert.deepEqual(s, rows.flatMap((r, i) => (r.length > k ? [i] : [])), `step ${k}`));
});

test('sampling: rows with their own seeds and options equal generate() alone at the same seed; rows finish independently', async () => {
  const base: BatchRequest[] = [
    { prompt: 'What is in this image?', images: [IMAGE], temperature: 1, seed: 11, topK: 40, maxNewTokens: 12 },
    { prompt: 'Tell me a story.', temperature: 0.8, seed: 12, topP: 0.9, repetitionPenalty: 1.3, maxNewTokens: 9 },
    { prompt: 'Describe <image> in detail please.', images: [OTHER], temperature: 1.2, seed: 13, minP: 0.05, maxNewTokens: 14 },
    { prompt: 'Tell me a story.', temperature: 0.8, seed: 99, topP: 0.9, repetitionPenalty: 1.3, maxNewTokens: 9 },
  ];
  // A stop string taken from the middle of request 0's own reply: it must end that row early, unseen.
  const first = await alone(base[0]!);
  const text0 = first.map((p) => p.text).join('');
  const stop = text0.slice(Math.floor(text0.length / 2), Math.floor(text0.length / 2) + 3);
  assert.ok(stop.trim().length > 0, `stop ${JSON.stringify(stop)} from ${JSON.stringify(text0)}`);
  const reqs = [{ ...base[0]!, stop: [stop] }, ...base.slice(1)];
  const { pieces, summary } = await batch(reqs);
  const rows = byIndex(pieces, reqs.length);
  for (let i = 0; i < reqs.length; i++) assert.deepEqual(rows[i], await alone(reqs[i]!), `request ${i}`);
  assert.equal(summary.rows[0]!.finish, 'stop');
  assert.ok(!rows[0]!.map((p) => p.text).join('').includes(stop));
  assert.ok(rows[0]!.length < first.length);
  assert.deepEqual(summary.rows.slice(1).map((r) => [r.finish, r.newTokens]), [['length', 9], ['length', 14], ['length', 9]]);
  // The seed matters: same prompt and options, other seed, other reply.
  assert.notDeepEqual(rows[1]!.map((p) => p.tokenId), rows[3]!.map((p) => p.tokenId));
});

test('in-thread on every backend: batched rows equal their unbatched runs (greedy and sampled)', async () => {
  const loaded = loadLlava(DIR);
  const reqs: BatchRequest[] = [
    { prompt: 'What is in this image?', images: [IMAGE], temperature: 0, maxNewTokens: 4 },
    { prompt: 'Hi.', temperature: 1, seed: 5, topK: 30, maxNewTokens: 5 },
    { prompt: 'Compare <image> with <image>.', images: [IMAGE, OTHER], temperature: 0.7, seed: 6, topP: 0.8, maxNewTokens: 3 },
  ];
  const pixels = await Promise.all(reqs.map((r) => pixelValuesFor(loaded, r.images)));
  for (const backend of availableBackends()) {
    withBackend(backend, () => {
      const rows: Piece[][] = reqs.map(() => []);
      for (const { index, ...p } of generateBatchTokens(loaded, reqs, pixels)) rows[index]!.push(p);
      reqs.forEach((r, i) => assert.deepEqual(rows[i], [...generateTokens(loaded, r, pixels[i]!)], `${backend} request ${i}`));
    });
  }
});

test('prefill progress covers the shared tower and the decoder; an abort mid-batch stops it, the next batch equals a fresh one', async () => {
  const seen: PrefillProgress[] = [];
  await batch(GREEDY.slice(0, 2), { onPrefillProgress: (p: PrefillProgress) => seen.push(p) });
  assert.ok(seen.some((p) => p.stage === 'vision') && seen.some((p) => p.stage === 'language'));
  assert.equal(seen.at(-1)!.fraction, 1);
  assert.ok(seen.every((p, i) => i === 0 || p.fraction >= seen[i - 1]!.fraction));

  const ac = new AbortController();
  const got: BatchPiece[] = [];
  await assert.rejects(async () => {
    for await (const p of generateBatch(model, GREEDY, { signal: ac.signal })) {
      got.push(p);
      if (got.length === 5) ac.abort();
    }
  }, (e: Error) => e.name === 'AbortError');
  assert.ok(got.length >= 5 && got.length < 30);
  const fresh = byIndex((await batch(GREEDY)).pieces, GREEDY.length);
  for (let i = 0; i < GREEDY.length; i++) assert.deepEqual(fresh[i], await alone(GREEDY[i]!), `after abort: request ${i}`);
});

test('bad batches are refused with the request named', async () => {
  await assert.rejects(batch([]), /a batch needs a non-empty array of requests/);
  await assert.rejects(batch([GREEDY[0]!, { prompt: 'x', topP: 2 }]), /request 1: topP must be a number in \(0, 1\], got 2/);
  await assert.rejects(batch([GREEDY[1]!, { prompt: 'Only <image>.', images: [IMAGE, IMAGE] }]), /request 1: .*image/);
  await assert.rejects(batch([GREEDY[1]!, { prompt: 'x', images: [path.join(tmp, 'missing.png')] }]), /request 1: .*missing\.png/);
  // 256 positions of context: request 0's explicit length does not fit after the padded prompt of request 1.
  await assert.rejects(batch([{ prompt: 'Hi.', maxNewTokens: 200 }, GREEDY[2]!]),
    /request 0: maxNewTokens 200 does not fit: .*left-padded to its longest prompt, \d+ positions/);
});
