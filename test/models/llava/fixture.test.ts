/**
 * Parity with the golden tiny llava-hf fixture, end to end: through the API (model loaded from the
 * folder, image preprocessed from image.png) and through the real CLI (`llava run --input-ids … --json
 * --dump`), on every available backend. Every dumped tensor is compared with expected.safetensors
 * (pixel values ≤ 1e-6, image features and inputs_embeds ≤ 1e-5, logits ≤ 1e-4 max abs) and the 5 greedy
 * tokens must be identical; the measured differences are printed as test diagnostics.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { availableBackends, withBackend, type Tensor } from '../../../src/index.js';
import { openSafetensors } from '../../../src/io/safetensors.js';
import { greedyGenerate } from '../../../src/models/llava/greedy.js';
import { loadLlava } from '../../../src/models/llava/load.js';
import { preprocessOptionsFromModel } from '../../../src/vision/config.js';
import { preprocessImage } from '../../../src/vision/preprocess.js';
import { loadTokenizer } from '../../../src/tokenizer/index.js';
import { FIXTURE, fixtureExpected, maxAbsDiff, ROOT } from '../../helpers/tiny-llava.js';

const expected = fixtureExpected();
const compact: number[] = expected.json.input_ids_compact;
const expanded: number[] = expected.json.input_ids;
const greedy: number[] = expected.json.greedy.tokens;
const TOL: Record<string, number> = {
  pixel_values: 1e-6, image_features_selected: 1e-5, image_features_projected: 1e-5, inputs_embeds: 1e-5, logits: 1e-4,
};
const tmp = mkdtempSync(path.join(os.tmpdir(), 'llava-fixture-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function compare(t: { diagnostic(m: string): void }, label: string, got: Record<string, Tensor>): void {
  const diffs: string[] = [];
  for (const [name, tol] of Object.entries(TOL)) {
    const g = got[name];
    assert.ok(g, `${label}: ${name} missing`);
    assert.equal(g.dtype, 'f32', `${label}: ${name} dtype`);
    const d = maxAbsDiff(g, expected.tensor(name));
    diffs.push(`${name} ${d.toExponential(2)}`);
    assert.ok(d <= tol, `${label}: ${name} max abs diff ${d} > ${tol}`);
  }
  t.diagnostic(`${label}: max abs diff ${diffs.join(', ')}`);
}

test('API: load the folder, preprocess image.png, greedy decode (compact and expanded ids)', async (t) => {
  const loaded = loadLlava(FIXTURE);
  assert.equal(loaded.layout.name, 'llava-hf');
  assert.deepEqual(loaded.eosTokenIds, [2]);
  const { pixelValues } = await preprocessImage(path.join(FIXTURE, 'image.png'), preprocessOptionsFromModel(FIXTURE).options);
  for (const backend of availableBackends()) {
    for (const [form, ids] of [['compact', compact], ['expanded', expanded]] as const) {
      withBackend(backend, () => {
        const r = greedyGenerate(loaded.model, { inputIds: ids, pixelValues, maxNewTokens: 5, allPrefillLogits: true });
        assert.deepEqual(r.outputIds, greedy, `${backend} ${form}: greedy tokens`);
        compare(t, `${backend} ${form}`, {
          pixel_values: pixelValues, image_features_selected: r.imageFeaturesSelected!, image_features_projected: r.imageFeaturesProjected!,
          inputs_embeds: r.inputsEmbeds, logits: r.prefillLogits,
        });
      });
    }
  }
});

test('API: decoding stops at EOS (kept in the output) and honours max new tokens', () => {
  const loaded = loadLlava(FIXTURE);
  const pixelValues = expected.tensor('pixel_values');
  const run = (eos: number[], n: number) => greedyGenerate(loaded.model, { inputIds: compact, pixelValues, maxNewTokens: n, eosTokenIds: eos }).outputIds;
  assert.deepEqual(run([18533], 5), greedy.slice(0, 2));
  assert.deepEqual(run([2], 3), greedy.slice(0, 3));
  assert.deepEqual(run([2], 0), []);
  assert.throws(() => run([2], -1), /max new tokens must be a non-negative integer/);
});

function cli(args: string[], backend: string) {
  return spawnSync(process.execPath, [path.join(ROOT, 'dist', 'src', 'cli', 'main.js'), ...args], {
    cwd: ROOT, encoding: 'utf8', env: { ...process.env, LLAVA_BACKEND: backend, LLAVA_QUIET: '1' },
  });
}

for (const backend of availableBackends()) {
  test(`CLI (${backend}): llava run --input-ids … --json --dump matches the fixture`, (t) => {
    const dump = path.join(tmp, `dump-${backend}.safetensors`);
    const r = cli(['run', '--model', FIXTURE, '--image', path.join(FIXTURE, 'image.png'), '--input-ids', compact.join(','),
      '--max-new-tokens', '5', '--temperature', '0', '--json', '--dump', dump], backend);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 1);
    assert.deepEqual(JSON.parse(lines[0]!), { input_ids: compact, output_ids: greedy, text: null });
    const src = openSafetensors(dump);
    assert.deepEqual(src.keys().sort(), Object.keys(TOL).sort());
    compare(t, `CLI ${backend}`, Object.fromEntries(Object.keys(TOL).map((k) => [k, src.get(k)])));
  });
}

test('CLI: an f16 KV cache gives the same greedy tokens here (step margins ≥ 0.006 dwarf f16 rounding)', () => {
  const r = cli(['run', '--model', FIXTURE, '--image', path.join(FIXTURE, 'image.png'), '--input-ids', compact.join(','),
    '--max-new-tokens', '5', '--kv-cache', 'f16', '--temperature', '0', '--json'], 'native');
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout).output_ids, greedy);
});

test('CLI: errors are one sentence and exit 1', () => {
  const run = (extra: string[]) => cli(['run', '--model', FIXTURE, '--image', path.join(FIXTURE, 'image.png'), '--max-new-tokens', '2', '--temperature', '0', ...extra], 'ts');
  const cases: [string[], RegExp][] = [
    [['--input-ids', '1,2,x'], /--input-ids: item 3 "x" is not an integer/],
    [['--input-ids', '1,32000,32000,2'], /a run of 2 image placeholder ids at position 1/],
    [['--input-ids', '1,2,3'], /stand for 0 image\(s\) but 1 image\(s\) were given/],
    [['--input-ids', '1,40000,-200'], /40000 is not a token id of this model \(vocabulary 0..32063/],
    [['--input-ids', '1,-200', '--temperature', '0.7'], /has no tokenizer .*only plain greedy decoding runs there/],
    [['--input-ids', '1,-200', '--top-p', 'x'], /--top-p must be a number, got "x"/],
    [['--prompt', 'hi'], /has no tokenizer .*--input-ids/],
    [['--input-ids', '1', '--prompt', 'hi'], /exactly one of --prompt TEXT or --input-ids IDS/],
    [['--input-ids', '1,-200', '--kv-cache', 'f8'], /--kv-cache must be f32 or f16, got "f8"/],
    [['--input-ids', '1,-200', '--max-new-tokens', '-3'], /--max-new-tokens must be a non-negative integer/],
  ];
  for (const [extra, re] of cases) {
    const r = run(extra);
    assert.equal(r.status, 1, `${extra.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  const missing = cli(['run', '--model', path.join(tmp, 'none'), '--input-ids', '1', '--max-new-tokens', '1'], 'ts');
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /model folder .*none does not exist/);
});

test('CLI: llava inspect --json describes the fixture from headers', () => {
  const r = cli(['inspect', '--model', FIXTURE, '--json'], 'ts');
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.layout, 'llava-hf');
  assert.equal(j.tiedHead, true);
  assert.equal(j.config.text.hiddenSize, 64);
  assert.deepEqual(j.config.featureLayers, [2]);
  // Counted by hand from the fixture's shapes.
  const text = 32064 * 64 + 2 * (4 * 64 * 64 + 3 * 64 * 128 + 2 * 64) + 64;
  const visionLayer = 4 * (32 * 32 + 32) + 2 * 2 * 32 + 64 * 32 + 64 + 32 * 64 + 32;
  const visionEmb = 32 * 3 * 4 * 4 + 32 + 17 * 32 + 2 * 32;
  assert.equal(j.parameters.languageModel, text);
  assert.equal(j.parameters.lmHead, 0);
  assert.equal(j.parameters.projector, 64 * 32 + 64 + 64 * 64 + 64);
  assert.equal(j.parameters.visionTower, visionEmb + 2 * visionLayer);
  assert.equal(j.parameters.visionTowerUnused, visionLayer + 2 * 32); // layer 2 and post_layernorm
  assert.equal(j.dtypes.F32.parameters, j.parameters.total);
  const human = cli(['inspect', '--model', FIXTURE], 'ts');
  assert.equal(human.status, 0, human.stderr);
  assert.match(human.stdout, /layout +llava-hf/);
});

test('CLI: --prompt goes through the tokenizer and the chat template; the reply is decoded', () => {
  // The fixture plus the LLaMA tokenizer (no tokenizer_config.json: legacy mode, as HF defaults).
  const dir = path.join(tmp, 'with-tokenizer');
  cpSync(FIXTURE, dir, { recursive: true });
  copyFileSync(path.join(ROOT, 'test', 'fixtures', 'tokenizer', 'tokenizer.model'), path.join(dir, 'tokenizer.model'));
  const vectors = JSON.parse(readFileSync(path.join(ROOT, 'test', 'fixtures', 'tokenizer', 'vectors.json'), 'utf8')) as
    { llava_prompt: { prompt: string; ids_legacy: number[] }[] };
  const want = vectors.llava_prompt[0]!; // vicuna_v1, "<image>\nWhat is shown in this image?"
  const r = cli(['run', '--model', dir, '--image', path.join(FIXTURE, 'image.png'), '--prompt', 'What is shown in this image?',
    '--template', 'vicuna_v1', '--max-new-tokens', '3', '--temperature', '0', '--json'], 'native');
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { input_ids: number[]; output_ids: number[]; text: string };
  assert.deepEqual(out.input_ids, want.ids_legacy);
  assert.equal(out.output_ids.length, 3);
  assert.equal(out.text, loadTokenizer(dir).decode(out.output_ids, { skipSpecialTokens: true }).trim());
  // Without --json the reply text is printed.
  const plain = cli(['run', '--model', dir, '--image', path.join(FIXTURE, 'image.png'), '--prompt', 'What is shown in this image?',
    '--template', 'vicuna_v1', '--max-new-tokens', '3', '--temperature', '0'], 'native');
  assert.equal(plain.status, 0, plain.stderr);
  assert.equal(plain.stdout, `${out.text}\n`);
});
