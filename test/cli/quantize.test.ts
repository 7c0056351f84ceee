/**
 * `llava quantize` through the real CLI on the embedded demo model (weights + tokenizer): the folder it
 * writes (two GGUF files, llava-gguf.json, the processor config) runs with `llava run --model OUT` and with
 * `--model text.gguf --mmproj mmproj.gguf` to the same tokens and the same prompt ids as the source model's
 * prompt (tokenizer from GGUF metadata, same template), f16 greedy tokens equal the source's golden ones,
 * inspect reports the gguf layout, and bad flags fail with one sentence.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readGgufHeader } from '../../src/io/gguf-reader.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const SRC = path.join(ROOT, 'assets', 'tiny-llava-1.5-hf');
const IMAGE = path.join(SRC, 'image.png');
const expected = JSON.parse(readFileSync(path.join(ROOT, 'test', 'fixtures', 'tiny-llava-hf', 'expected.json'), 'utf8')) as {
  input_ids_compact: number[];
  greedy: { tokens: number[] };
};
const tmp = mkdtempSync(path.join(os.tmpdir(), 'llava-quantize-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function llava(args: string[]) {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'src', 'cli', 'main.js'), ...args], {
    encoding: 'utf8', timeout: 120_000, env: { ...process.env, LLAVA_QUIET: '1' },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const runJson = (args: string[]) => {
  const r = llava(['run', ...args, '--json', '--temperature', '0']);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { input_ids: number[]; output_ids: number[]; text: string | null };
};

test('quantize f16: the folder and the two files give the golden greedy tokens; prompts match the source', () => {
  const out = path.join(tmp, 'f16');
  const q = llava(['quantize', '--model', SRC, '--type', 'f16', '--out', out]);
  assert.equal(q.status, 0, q.stderr);
  assert.match(q.stderr, /quantize: text \d+\/\d+ tensors/);
  for (const f of ['model-f16.gguf', 'mmproj-f16.gguf', 'llava-gguf.json', 'preprocessor_config.json']) assert.ok(existsSync(path.join(out, f)), f);
  const ids = ['--input-ids', expected.input_ids_compact.join(','), '--image', IMAGE, '--max-new-tokens', '5'];
  const folder = runJson(['--model', out, ...ids]);
  assert.deepEqual(folder.output_ids, expected.greedy.tokens);
  const files = runJson(['--model', path.join(out, 'model-f16.gguf'), '--mmproj', path.join(out, 'mmproj-f16.gguf'), ...ids]);
  assert.deepEqual(files.output_ids, expected.greedy.tokens);
  // --prompt: the tokenizer stored in the GGUF and the template chosen by the source's name.
  const prompt = ['--prompt', 'What is in this image?', '--image', IMAGE, '--max-new-tokens', '3'];
  const src = runJson(['--model', SRC, ...prompt]);
  assert.deepEqual(runJson(['--model', out, ...prompt]).input_ids, src.input_ids);
  assert.deepEqual(runJson(['--model', path.join(out, 'model-f16.gguf'), '--mmproj', path.join(out, 'mmproj-f16.gguf'), ...prompt]).input_ids, src.input_ids);
  const ins = llava(['inspect', '--model', out, '--json']);
  assert.equal(ins.status, 0, ins.stderr);
  const report = JSON.parse(ins.stdout) as { layout: string; tiedHead: boolean };
  assert.equal(report.layout, 'gguf');
  assert.equal(report.tiedHead, true);
});

test('quantize q4_0 with a q8_0 mmproj: folder and files agree', () => {
  const out = path.join(tmp, 'q4');
  const q = llava(['quantize', '--model', SRC, '--type', 'q4_0', '--mmproj-type', 'q8_0', '--out', out]);
  assert.equal(q.status, 0, q.stderr);
  assert.match(q.stdout, /model-q4_0\.gguf \(q4_0, [\d.]+ MB\)/);
  const ids = ['--input-ids', expected.input_ids_compact.join(','), '--image', IMAGE, '--max-new-tokens', '6'];
  const a = runJson(['--model', out, ...ids]);
  const b = runJson(['--model', path.join(out, 'model-q4_0.gguf'), '--mmproj', path.join(out, 'mmproj-q8_0.gguf'), ...ids]);
  assert.deepEqual(a.output_ids, b.output_ids);
  assert.equal(a.output_ids.length, 6);
});

test('a Jinja chat template goes into the text GGUF, and a bare .gguf prompt is rendered with it', () => {
  // A template unlike any LLaVA conversation template, so that falling back to the name rule shows.
  const TEMPLATE = "{% for m in messages %}{{ m['role'] | upper }}>> {{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}BOT>>{% endif %}";
  const src = path.join(tmp, 'with-template');
  cpSync(SRC, src, { recursive: true });
  writeFileSync(path.join(src, 'chat_template.json'), JSON.stringify({ chat_template: TEMPLATE }));
  const out = path.join(tmp, 'with-template-q8');
  const q = llava(['quantize', '--model', src, '--type', 'q8_0', '--out', out]);
  assert.equal(q.status, 0, q.stderr);
  const meta = readGgufHeader(path.join(out, 'model-q8_0.gguf')).metadata.get('tokenizer.chat_template');
  assert.deepEqual(meta, { type: 'string', value: TEMPLATE });
  assert.ok(existsSync(path.join(out, 'chat_template.json')));
  const prompt = ['--prompt', 'What is in this image?', '--image', IMAGE, '--max-new-tokens', '1'];
  const folder = runJson(['--model', src, ...prompt]).input_ids;
  // The bare files have no folder beside them to read a template from: only the GGUF metadata has it.
  const bare = path.join(tmp, 'bare');
  cpSync(path.join(out, 'model-q8_0.gguf'), path.join(bare, 'text.gguf'));
  cpSync(path.join(out, 'mmproj-f16.gguf'), path.join(bare, 'mmproj.gguf'));
  const files = runJson(['--model', path.join(bare, 'text.gguf'), '--mmproj', path.join(bare, 'mmproj.gguf'), ...prompt]).input_ids;
  assert.deepEqual(files, folder);
  assert.notDeepEqual(folder, runJson(['--model', SRC, ...prompt]).input_ids, 'the template must change the prompt');
});

test('quantize and GGUF loading refuse bad flags with one sentence', () => {
  const cases: [string[], RegExp][] = [
    [['quantize', '--model', SRC, '--type', 'q5_0', '--out', path.join(tmp, 'x')], /--type must be one of f16, q8_0, q4_0, got "q5_0"/],
    [['quantize', '--model', SRC, '--type', 'q8_0', '--mmproj-type', 'q4_0', '--out', path.join(tmp, 'x')], /--mmproj-type must be one of f16, q8_0, got "q4_0"/],
    [['quantize', '--model', SRC, '--type', 'q8_0', '--out', SRC], /--out must be a different folder from --model/],
    [['run', '--model', path.join(tmp, 'f16', 'model-f16.gguf'), '--input-ids', '1,2', '--json'], /pass --mmproj FILE.gguf/],
  ];
  for (const [args, re] of cases) {
    const r = llava(args);
    assert.equal(r.status, 1, args.join(' '));
    assert.match(r.stderr, re);
  }
});
