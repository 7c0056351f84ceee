/**
 * `llava run` without --model: the embedded demo model (assets/tiny-llava-1.5-hf) must be the reference's
 * tiny checkpoint (its greedy tokens equal the golden ones), pick up its own image, and carry a working
 * text side (tokenizer + LLaVA-1.5 template), since the README's first command runs exactly this.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const expected = JSON.parse(readFileSync(path.join(ROOT, 'test', 'fixtures', 'tiny-llava-hf', 'expected.json'), 'utf8')) as {
  input_ids_compact: number[];
  greedy: { tokens: number[] };
};

function llava(args: string[]) {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'src', 'cli', 'main.js'), ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('run without --model: the embedded model and image give the golden greedy tokens', () => {
  const r = llava(['run', '--input-ids', expected.input_ids_compact.join(','), '--max-new-tokens', '5', '--temperature', '0', '--json']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /embedded tiny demo model/);
  const out = JSON.parse(r.stdout) as { input_ids: number[]; output_ids: number[]; text: string | null };
  assert.deepEqual(out.input_ids, expected.input_ids_compact);
  assert.deepEqual(out.output_ids, expected.greedy.tokens);
  assert.equal(typeof out.text, 'string');
  assert.ok(out.text!.length > 0);
});

test('run without --model: --prompt goes through the tokenizer and the LLaVA-1.5 template', () => {
  const r = llava(['run', '--prompt', 'What is in this image?', '--max-new-tokens', '3', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { input_ids: number[]; output_ids: number[] };
  assert.equal(out.input_ids[0], 1);
  assert.equal(out.input_ids.filter((i) => i === -200).length, 1);
  // "ASSISTANT:" closes the llava_v1 prompt (LLaMA ids from the shared tokenizer vectors).
  assert.deepEqual(out.input_ids.slice(-5), [319, 1799, 9047, 13566, 29901]);
  assert.ok(out.output_ids.length >= 1 && out.output_ids.length <= 3);
});

test('run without --model and with ids that place no image: no image is taken', () => {
  const r = llava(['run', '--input-ids', '1,3148,1001,29901', '--max-new-tokens', '1', '--json']);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual((JSON.parse(r.stdout) as { input_ids: number[] }).input_ids, [1, 3148, 1001, 29901]);
});

test('run: sampling flags — a seed reproduces, another seed differs, --stream prints the same reply as --json', () => {
  const base = ['run', '--prompt', 'Tell me more.', '--max-new-tokens', '6', '--temperature', '1', '--top-k', '1000', '--top-p', '0.99'];
  const a = llava([...base, '--seed', '5', '--json']);
  const b = llava([...base, '--seed', '5', '--json']);
  const c = llava([...base, '--seed', '6', '--json']);
  for (const r of [a, b, c]) assert.equal(r.status, 0, r.stderr);
  const ids = (r: { stdout: string }) => (JSON.parse(r.stdout) as { output_ids: number[] }).output_ids;
  assert.deepEqual(ids(a), ids(b));
  assert.notDeepEqual(ids(a), ids(c));
  const streamed = llava([...base, '--seed', '5', '--stream']);
  assert.equal(streamed.status, 0, streamed.stderr);
  assert.equal(streamed.stdout.trim(), (JSON.parse(a.stdout) as { text: string }).text);
});

test('run: several --image flags place several images, in order', () => {
  const img = path.join(ROOT, 'assets', 'tiny-llava-1.5-hf', 'image.png');
  const r = llava(['run', '--image', img, '--image', img, '--prompt', 'Compare them.', '--max-new-tokens', '1', '--temperature', '0', '--json']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { input_ids: number[] }).input_ids.filter((i) => i === -200).length, 2);
  const bad = llava(['run', '--threads', '0', '--prompt', 'x']);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--threads must be a positive integer, got "0"/);
});
