/**
 * `llava run --batch FILE.jsonl` in real processes on the embedded tiny model: one JSON line per request in
 * input order whose ids and text equal what each request gives alone (in-thread `generateTokens`), with the
 * command line's flags as defaults under each line's own fields and image paths relative to the file;
 * `--stream` prints every piece tagged with its index and the pieces join to the same replies; bad lines are
 * one sentence naming the file, the line and the field (checked by reading the file in-process, and a few
 * through the command, including errors found later: a missing image, a length that does not fit); flags
 * that clash with --batch are refused.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import '../../src/index.js';
import { generateTokens } from '../../src/generate/core.js';
import { pixelValuesFor } from '../../src/generate/images.js';
import type { GenerateRequest } from '../../src/generate/options.js';
import { loadLlava } from '../../src/models/llava/load.js';
import { readBatchFile } from '../../src/cli/run-batch.js';
import { ROOT } from '../helpers/tiny-llava.js';

const MAIN = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
const ASSET = path.join(ROOT, 'assets', 'tiny-llava-1.5-hf');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'llava-run-batch-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
copyFileSync(path.join(ASSET, 'image.png'), path.join(tmp, 'cat.png'));
const loaded = loadLlava(ASSET);

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [MAIN, 'run', ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, LLAVA_QUIET: '1' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function file(name: string, lines: string[]): string {
  const p = path.join(tmp, name);
  writeFileSync(p, lines.join('\n') + '\n');
  return p;
}

/** What one request gives alone: ids and joined text. */
async function alone(req: GenerateRequest, images: string[]) {
  const pixels = await pixelValuesFor(loaded, images.length ? images : undefined);
  const pieces = [...generateTokens(loaded, req, pixels)];
  return { ids: pieces.map((p) => p.tokenId), text: pieces.map((p) => p.text).join('') };
}

const LINES = [
  JSON.stringify({ prompt: 'What is in this image?', image: 'cat.png', temperature: 0, max_new_tokens: 6, id: 'first' }),
  '',
  JSON.stringify({ prompt: 'Tell me a story.', top_k: 20, seed: 3, max_new_tokens: 5, stop: 'zzz' }),
  JSON.stringify({ input_ids: [1, 3148, 1001, 29901], images: [], temperature: 0.9, max_new_tokens: 4 }),
];
// The command line's defaults: temperature 1 (lines 3 and 4 override or keep it), seed 7 (line 3 overrides).
const FLAGS = ['--temperature', '1', '--seed', '7', '--max-new-tokens', '3'];
const EXPECTED: [GenerateRequest, string[]][] = [
  [{ prompt: 'What is in this image?', temperature: 0, seed: 7, maxNewTokens: 6 }, [path.join(tmp, 'cat.png')]],
  [{ prompt: 'Tell me a story.', temperature: 1, topK: 20, seed: 3, maxNewTokens: 5, stop: ['zzz'] }, []],
  [{ inputIds: [1, 3148, 1001, 29901], temperature: 0.9, seed: 7, maxNewTokens: 4 }, []],
];

test('one JSON line per request, in order, equal to each request run alone (flags as defaults, paths relative to the file)', async () => {
  const r = cli(['--batch', file('req.jsonl', LINES), ...FLAGS]);
  assert.equal(r.status, 0, r.stderr);
  const out = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(out.length, 3);
  for (let i = 0; i < 3; i++) {
    const want = await alone(...EXPECTED[i]!);
    assert.deepEqual(out[i]!.output_ids, want.ids, `request ${i}`);
    assert.equal(out[i]!.text, want.text.trim(), `request ${i}`);
    assert.equal(out[i]!.index, i);
  }
  assert.deepEqual(out.map((o) => o.line), [1, 3, 4]);
  assert.equal(out[0]!.id, 'first');
  assert.equal(out[0]!.finish, 'length');
  assert.deepEqual(out[2]!.input_ids, [1, 3148, 1001, 29901]);
  assert.ok((out[0]!.input_ids as number[]).includes(-200), 'the image placeholder in the first prompt');
});

test('--stream: every piece tagged with its index; the pieces join to the same replies', async () => {
  const r = cli(['--batch', file('req.jsonl', LINES), ...FLAGS, '--stream']);
  assert.equal(r.status, 0, r.stderr);
  const pieces = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { index: number; text: string; token_id: number });
  for (let i = 0; i < 3; i++) {
    const mine = pieces.filter((p) => p.index === i);
    const want = await alone(...EXPECTED[i]!);
    assert.deepEqual(mine.map((p) => p.token_id), want.ids);
    assert.equal(mine.map((p) => p.text).join(''), want.text);
  }
  // Interleaved step by step: the first three pieces are step 1 of rows 0, 1, 2.
  assert.deepEqual(pieces.slice(0, 3).map((p) => p.index), [0, 1, 2]);
});

test('bad lines: one sentence naming the file, the line and the field (read without running)', () => {
  const cases: [string[], RegExp][] = [
    [['{"prompt": "a"}', '{"prompt": "b", "top_p": 2}'], /bad\.jsonl:2: field "top_p" must be a number in \(0, 1\], got 2$/],
    [['{"prompt": "a", "temperature": "hot"}'], /bad\.jsonl:1: field "temperature" must be a number, got "hot"$/],
    [['{"prompt": "a", "temprature": 1}'], /bad\.jsonl:1: unknown field "temprature" \(fields: prompt, input_ids/],
    [['', '{"prompt": "a"', ''], /bad\.jsonl:2: not valid JSON/],
    [['[1, 2]'], /bad\.jsonl:1: expected a JSON object/],
    [['{"image": "cat.png"}'], /bad\.jsonl:1: give exactly one of the fields "prompt" and "input_ids"$/],
    [['{"input_ids": [1, 2.5]}'], /bad\.jsonl:1: field "input_ids" must be a non-empty array of integers, got \[1,2\.5\]$/],
    [['{"prompt": "a", "seed": 1.5}'], /bad\.jsonl:1: field "seed" must be an integer, got 1\.5$/],
    [['{"prompt": "a", "max_new_tokens": -1}'], /bad\.jsonl:1: field "max_new_tokens" must be a non-negative integer, got -1$/],
    [['{"prompt": "a", "stop": ["", "x"]}'], /bad\.jsonl:1: field "stop" must be a non-empty string or an array of them/],
    [['{"prompt": "a", "images": "cat.png"}'], /bad\.jsonl:1: field "images" must be an array of file paths, got "cat\.png"$/],
    [['{"prompt": "a", "image": "x.png", "images": []}'], /bad\.jsonl:1: give at most one of the fields "image" and "images"$/],
    [['{"input_ids": [1, 2], "system": "s"}'], /bad\.jsonl:1: "system" and "template" apply to "prompt", not to "input_ids"$/],
    [['', ' '], /--batch .*bad\.jsonl: no requests/],
  ];
  for (const [lines, re] of cases) assert.throws(() => readBatchFile(file('bad.jsonl', lines), {}), re, lines.join(' / '));
  assert.throws(() => readBatchFile(path.join(tmp, 'none.jsonl'), {}), /--batch .*none\.jsonl: cannot read it \(no such file\)/);
  // Defaults under a line's own fields; relative image paths resolved against the file's folder.
  const [l] = readBatchFile(file('one.jsonl', ['{"prompt": "a", "image": "cat.png", "top_k": 3}']), { temperature: 0.5, topK: 9, seed: 1 });
  assert.deepEqual(l, { line: 1, request: { prompt: 'a', temperature: 0.5, topK: 3, seed: 1 }, images: [path.join(tmp, 'cat.png')] });
});

test('through the command: a bad line, an image or a length that fails later, and clashing flags name what is wrong', () => {
  const cases: [string[], RegExp][] = [
    [['{"prompt": "a"}', '{"prompt": "b", "top_p": 2}'], /^llava: \S*bad\.jsonl:2: field "top_p" must be a number in \(0, 1\], got 2\n$/],
    [['{"prompt": "a"}', '{"prompt": "b", "image": "nope.png"}'], /^llava: \S*bad\.jsonl:2: .*nope\.png.*\n$/],
    [['{"prompt": "a"}', '{"prompt": "Only <image> here", "images": ["cat.png", "cat.png"]}'], /^llava: \S*bad\.jsonl:2: .*image.*\n$/],
    [['{"prompt": "a"}', '{"prompt": "b", "max_new_tokens": 250}'], /^llava: \S*bad\.jsonl:2: maxNewTokens 250 does not fit: .*left-padded to its longest prompt, \d+ positions\)\n$/],
  ];
  for (const [lines, re] of cases) {
    const r = cli(['--batch', file('bad.jsonl', lines)]);
    assert.equal(r.status, 1, `${lines.join(' / ')}: ${r.stdout}`);
    assert.match(r.stderr, re);
  }
  const ok = file('ok.jsonl', ['{"prompt": "a", "max_new_tokens": 1}']);
  const clash = cli(['--batch', ok, '--prompt', 'x', '--image', 'x.png']);
  assert.equal(clash.status, 1);
  assert.match(clash.stderr, /--batch takes the prompts and images from its file: drop --prompt/);
});
