/**
 * `llava tokenize`, spawned for real: ids from a tokenizer.model, a tokenizer.json and a model folder, the
 * --legacy override, --no-bos, --image-token, text after `--` that starts with a dash, and one-sentence errors.
 * Expected ids are the shared golden vectors'.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { loadTokenizer } from '../../src/tokenizer/index.js';
import { fixtureDir, golden, llamaTokenizerJsonPath, modelPath, root } from './fixtures.js';

const main = path.join(root, 'dist', 'src', 'cli', 'main.js');

function llava(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [main, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ids(...args: string[]): number[] {
  const r = llava('tokenize', ...args);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as number[];
}

describe('llava tokenize', () => {
  const g = golden();
  const after = g.encode.find((e) => e.text === '</s>USER: hi')!;

  test('tokenizer.model and tokenizer.json, both modes', () => {
    assert.deepEqual(ids('--tokenizer', modelPath, 'Hello world'), [1, 15043, 3186]);
    assert.deepEqual(ids('--tokenizer', llamaTokenizerJsonPath(), '--legacy', 'false', after.text), after.ids_nonlegacy);
    assert.deepEqual(ids('--tokenizer', modelPath, '--legacy', 'true', after.text), after.ids_legacy);
  });

  test('a model folder: legacy from its tokenizer_config.json; --legacy overrides it', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'llava-cli-tok-'));
    copyFileSync(path.join(fixtureDir, 'tokenizer.model'), path.join(dir, 'tokenizer.model'));
    writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ legacy: false }));
    assert.deepEqual(ids('--tokenizer', dir, after.text), after.ids_nonlegacy);
    assert.deepEqual(ids('--tokenizer', dir, '--legacy', 'true', after.text), after.ids_legacy);
  });

  test('--no-bos, --image-token, and text after -- starting with a dash', () => {
    assert.deepEqual(ids('--tokenizer', modelPath, '--no-bos', 'Hello world'), [15043, 3186]);
    const p = g.llava_prompt[0]!;
    assert.deepEqual(ids('--tokenizer', modelPath, '--image-token', p.prompt), p.ids_legacy);
    assert.deepEqual(ids('--tokenizer', modelPath, '--image-token', '--no-bos', '<image>\nWhat'), [-200, 29871, 13, 5618]);
    const tok = loadTokenizer(modelPath);
    assert.deepEqual(ids('--tokenizer', modelPath, '--no-bos', '--', '-x'), tok.encode('-x', { addBos: false }));
    assert.deepEqual(ids('--tokenizer', modelPath, '--', '--legacy'), tok.encode('--legacy'));
    assert.deepEqual(ids('--tokenizer', modelPath, ''), [1]);
  });

  test('errors are one sentence and exit 1', () => {
    const cases: [string[], RegExp][] = [
      [['tokenize', 'x'], /needs --tokenizer PATH/],
      [['tokenize', '--tokenizer', '/nonexistent/tok.model', 'x'], /does not exist/],
      [['tokenize', '--tokenizer', modelPath], /needs the TEXT/],
      [['tokenize', '--tokenizer', modelPath, 'a', 'b'], /takes one TEXT argument, got 2/],
      [['tokenize', '--tokenizer', modelPath, '--legacy', 'maybe', 'x'], /--legacy takes true or false, not 'maybe'/],
    ];
    for (const [args, message] of cases) {
      const r = llava(...args);
      assert.equal(r.status, 1, args.join(' '));
      assert.equal(r.stdout, '');
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
  });
});
