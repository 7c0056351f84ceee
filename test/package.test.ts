/**
 * The package as a user meets it: importable by its name, the `llava` bin answers --help and rejects
 * unknown flags, and the native build degrades to a warning (or fails under CI=true) when no compiler works.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, existsSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = path.join(root, 'dist', 'src', 'cli', 'main.js');

test('the package imports by its name', async () => {
  const pkg = await import('llava-ts');
  assert.equal(typeof pkg.tensor, 'function');
  assert.equal(typeof pkg.Tensor, 'function');
  const t = pkg.add(pkg.tensor([1, 2]), pkg.tensor([3, 4]));
  assert.deepEqual(t.toArray(), [4, 6]);
});

test('a project outside the repository imports the public API by name and runs the embedded model', { timeout: 120_000 }, () => {
  // A user's project: its node_modules/llava-ts is this package (as npm links a local install).
  const dir = mkdtempSync(path.join(os.tmpdir(), 'llava-user-'));
  try {
    mkdirSync(path.join(dir, 'node_modules'));
    symlinkSync(root, path.join(dir, 'node_modules', 'llava-ts'), 'dir');
    const model = path.join(root, 'assets', 'tiny-llava-1.5-hf');
    writeFileSync(path.join(dir, 'main.mjs'), `
      import { loadModel, generate, generateBatch, ChatSession, preprocessImage, Tokenizer, loadTokenizer } from 'llava-ts';
      const model = await loadModel(${JSON.stringify(model)});
      const ids = [];
      for await (const p of generate(model, { inputIds: ${JSON.stringify(expectedIds())}, images: [${JSON.stringify(path.join(model, 'image.png'))}], temperature: 0, maxNewTokens: 5 })) ids.push(p.tokenId);
      const chat = new ChatSession(model, { image: ${JSON.stringify(path.join(model, 'image.png'))} });
      let pieces = 0;
      for await (const p of chat.send('Hi', { maxNewTokens: 2 })) pieces++;
      const batch = [[], []];
      for await (const p of generateBatch(model, [
        { inputIds: ${JSON.stringify(expectedIds())}, images: [${JSON.stringify(path.join(model, 'image.png'))}], temperature: 0, maxNewTokens: 5 },
        { prompt: 'Hi', temperature: 1, seed: 1, maxNewTokens: 2 },
      ])) batch[p.index].push(p.tokenId);
      await model.close();
      const q4 = await loadModel(${JSON.stringify(model)}, { quant: 'q4_0' });
      const quant = q4.info.quant;
      await q4.close();
      const tok = loadTokenizer(${JSON.stringify(model)});
      const px = await preprocessImage(${JSON.stringify(path.join(model, 'image.png'))}, { size: 16, mode: 'crop' });
      console.log(JSON.stringify({ ids, pieces, history: chat.history.length, isTokenizer: tok instanceof Tokenizer, hello: tok.encode('Hello'), px: px.pixelValues.shape, batch, quant }));
    `);
    const r = spawnSync(process.execPath, ['main.mjs'], { cwd: dir, encoding: 'utf8', env: { ...process.env, LLAVA_QUIET: '1' }, timeout: 100_000 });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
      ids: number[]; pieces: number; history: number; isTokenizer: boolean; hello: number[]; px: number[]; batch: number[][]; quant: string;
    };
    assert.deepEqual(out.ids, expectedGreedy());
    assert.deepEqual(out.batch[0], expectedGreedy(), 'generateBatch: the golden request gets the golden tokens');
    assert.equal(out.batch[1]!.length, 2);
    assert.equal(out.quant, 'q4_0');
    assert.equal(out.history, 2);
    assert.ok(out.pieces >= 1);
    assert.equal(out.isTokenizer, true);
    assert.deepEqual(out.hello, [1, 15043]); // LLaMA: <s> ▁Hello
    assert.deepEqual(out.px, [1, 3, 16, 16]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The golden prompt and greedy tokens of the tiny reference checkpoint (test/fixtures/tiny-llava-hf). */
function golden(): { input_ids_compact: number[]; greedy: { tokens: number[] } } {
  return JSON.parse(readFileSync(path.join(root, 'test', 'fixtures', 'tiny-llava-hf', 'expected.json'), 'utf8'));
}
const expectedIds = () => golden().input_ids_compact;
const expectedGreedy = () => golden().greedy.tokens;

test('llava --help lists the commands; an unknown flag is an error', () => {
  const help = spawnSync(process.execPath, [bin, '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /Usage: llava/);
  assert.match(help.stdout, /info/);
  const bad = spawnSync(process.execPath, [bin, 'info', '--no-such-flag'], { encoding: 'utf8' });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /unknown option/);
});

test('llava info --json reports the backend', () => {
  const r = spawnSync(process.execPath, [bin, 'info', '--json'], { encoding: 'utf8', env: { ...process.env, LLAVA_QUIET: '1' } });
  assert.equal(r.status, 0, r.stderr);
  const info = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.match(info.backend, /^(native|ts)/);
  assert.ok(Array.isArray(info.backends) && info.backends.includes('ts'));
});

test('the addon keeps freed tensor memory on glibc unless LLAVA_MALLOC_TUNE=0', () => {
  const glibc = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime;
  const run = (tune?: string) => {
    const env: NodeJS.ProcessEnv = { ...process.env, LLAVA_QUIET: '1' };
    if (tune === undefined) delete env.LLAVA_MALLOC_TUNE;
    else env.LLAVA_MALLOC_TUNE = tune;
    const r = spawnSync(process.execPath, [bin, 'info', '--json'], { encoding: 'utf8', env });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as { mallocTuned: boolean; cpu: unknown };
  };
  const dflt = run();
  if (dflt.cpu === null) return; // no native addon: nothing to tune
  assert.equal(dflt.mallocTuned, Boolean(glibc));
  assert.equal(run('0').mallocTuned, false);
});

function scratchCopy(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'llava-build-'));
  for (const f of ['package.json', 'binding.gyp', 'native', 'scripts']) cpSync(path.join(root, f), path.join(dir, f), { recursive: true });
  symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
  return dir;
}

test('a failed native build warns once and succeeds, except under CI=true', { timeout: 120_000 }, () => {
  const dir = scratchCopy();
  try {
    const env = { ...process.env, CXX: 'false', CC: 'false', CI: '' };
    const soft = spawnSync(process.execPath, ['scripts/build-native.mjs', '--force'], { cwd: dir, encoding: 'utf8', env });
    assert.equal(soft.status, 0, soft.stderr);
    const warnings = soft.stderr.split('\n').filter((l) => l.startsWith('llava-ts: native addon not built'));
    assert.equal(warnings.length, 1, soft.stderr);
    assert.equal(existsSync(path.join(dir, 'build', 'Release', 'llava_native.node')), false);
    const strict = spawnSync(process.execPath, ['scripts/build-native.mjs', '--force'], { cwd: dir, encoding: 'utf8', env: { ...env, CI: 'true' } });
    assert.equal(strict.status, 1);
    assert.match(strict.stderr, /CI=true makes this an error/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
