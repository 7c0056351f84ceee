/**
 * The same weights from files give identical logits, whatever the container, sharding, dtype and key
 * layout: an original-LLaVA checkpoint made by real torch.save (float16 .bin shards + index, rotary
 * buffers, the tower as a full-CLIPModel .bin found through mm_vision_tower as a relative path or through
 * --vision-tower), and safetensors written here in every layout as f32/f16/bf16, single and sharded.
 * Each is compared bit for bit with the fixture's weights rounded the same way in memory.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { noGrad, to, type Tensor } from '../../../src/index.js';
import { writeSafetensors } from '../../../src/io/safetensors-writer.js';
import { MemoryWeightSource } from '../../../src/io/source.js';
import { assembleLlava, type LlavaParts } from '../../../src/models/llava/assemble.js';
import { loadLlava, type LoadOptions } from '../../../src/models/llava/load.js';
import { assertClose } from '../../helpers/assert.js';
import { FIXTURE, fixtureConfig, fixtureExpected, fixtureWeights, originalConfig, renameKeys, ROOT, towerConfig } from '../../helpers/tiny-llava.js';

const BIN = path.join(ROOT, 'test', 'fixtures', 'llava-original-bin');
const expected = fixtureExpected();
const pixels = expected.tensor('pixel_values');
const compact: number[] = expected.json.input_ids_compact;
const origIds = compact.map((id) => (id === 32000 ? -200 : id));
const weights = fixtureWeights();
const tmp = mkdtempSync(path.join(os.tmpdir(), 'llava-files-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function run(model: ReturnType<typeof assembleLlava>['model'], ids: number[]): Tensor {
  return noGrad(() => model.decode(model.inputsEmbeds(ids, model.imageFeatures(pixels).projected), { logits: 'all' }).logits!);
}

function memoryLogits(w: Map<string, Tensor>, cfg: Record<string, unknown>, ids: number[]): Tensor {
  const parts: LlavaParts = {
    configJson: cfg, configWhere: 'config.json', weights: new MemoryWeightSource(w), weightsWhere: 'memory',
    tower: () => ({ configJson: towerConfig(), weights: null, where: 'tower' }),
  };
  return run(assembleLlava(parts).model, ids);
}

const fileLogits = (dir: string, ids: number[], opts: LoadOptions = {}) => run(loadLlava(dir, opts).model, ids);

/** Round every tensor whose name passes `which` to `dtype`. */
function rounded(w: Map<string, Tensor>, dtype: 'f16' | 'bf16', which: (k: string) => boolean = () => true): Map<string, Tensor> {
  return new Map([...w].map(([k, t]) => [k, which(k) ? to(t, dtype) : t]));
}

test('original LLaVA from torch .bin: f16 shards, rotary buffers, tower found through the relative mm_vision_tower path', () => {
  const want = memoryLogits(rounded(renameKeys(weights, 'llava-original'), 'f16', (k) => !k.startsWith('model.vision_tower.')), originalConfig(), origIds);
  const loaded = loadLlava(BIN);
  assert.equal(loaded.layout.name, 'llava-original');
  assert.equal(loaded.towerDir, path.join(BIN, 'clip'));
  assert.equal(loaded.model.languageModel.embedTokens.dtype, 'f16'); // weights stay in their stored dtype
  assertClose(run(loaded.model, origIds), want, { atol: 0, rtol: 0 });
});

test('original LLaVA: --vision-tower and the HF cache find the same tower', () => {
  const model = path.join(tmp, 'orig-moved');
  mkdirSync(model);
  for (const f of readdirSync(BIN)) if (f !== 'clip' && f !== 'make.py') copyFileSync(path.join(BIN, f), path.join(model, f));
  const want = fileLogits(BIN, origIds);
  assert.throws(() => loadLlava(model, { env: {} }), /cannot find mm_vision_tower "clip".*--vision-tower DIR/);
  assertClose(fileLogits(model, origIds, { visionTower: path.join(BIN, 'clip'), env: {} }), want, { atol: 0, rtol: 0 });
  // As a hub id resolved in a Hugging Face cache.
  const cfg = JSON.parse(JSON.stringify(originalConfig({ mm_vision_tower: 'openai/clip-tiny-test', tie_word_embeddings: true })));
  writeFileSync(path.join(model, 'config.json'), JSON.stringify(cfg));
  const snap = path.join(tmp, 'hub', 'models--openai--clip-tiny-test', 'snapshots', 'abc');
  cpSync(path.join(BIN, 'clip'), snap, { recursive: true });
  assertClose(fileLogits(model, origIds, { env: { HF_HUB_CACHE: path.join(tmp, 'hub') } }), want, { atol: 0, rtol: 0 });
});

const CASES: { layout: 'llava-hf' | 'llava-hf-4.52' | 'llava-original'; dtype: 'f32' | 'f16' | 'bf16'; shard: boolean }[] = [
  { layout: 'llava-hf', dtype: 'f32', shard: true },
  { layout: 'llava-hf', dtype: 'bf16', shard: false },
  { layout: 'llava-hf-4.52', dtype: 'f16', shard: true },
  { layout: 'llava-hf-4.52', dtype: 'bf16', shard: true },
  { layout: 'llava-original', dtype: 'f16', shard: false },
  { layout: 'llava-original', dtype: 'bf16', shard: true },
];

for (const c of CASES) {
  test(`safetensors ${c.layout} ${c.dtype}${c.shard ? ' sharded' : ''}: identical logits`, async () => {
    const w = renameKeys(weights, c.layout);
    const stored = c.dtype === 'f32' ? w : rounded(w, c.dtype);
    const dir = path.join(tmp, `${c.layout}-${c.dtype}-${c.shard}`);
    mkdirSync(dir);
    const r = await writeSafetensors(path.join(dir, 'model.safetensors'), stored, c.shard ? { maxShardBytes: 1 << 20 } : {});
    assert.equal(r.index !== null, c.shard);
    const cfg = c.layout === 'llava-original' ? originalConfig() : fixtureConfig();
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
    const ids = c.layout === 'llava-original' ? origIds : compact;
    // The original layout's embedded tower takes its config from the tower folder.
    const clip = path.join(tmp, `clip-${c.layout}-${c.dtype}-${c.shard}`);
    mkdirSync(clip);
    writeFileSync(path.join(clip, 'config.json'), JSON.stringify(towerConfig()));
    const loaded = fileLogits(dir, ids, { visionTower: clip });
    assertClose(loaded, memoryLogits(stored, cfg, ids), { atol: 0, rtol: 0 });
    if (c.dtype === 'f32') assertClose(loaded, expected.tensor('logits'), { atol: 1e-4, rtol: 0 });
  });
}

test('CLI run on the torch .bin original checkpoint (tower by --vision-tower)', () => {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'src', 'cli', 'main.js'), 'run', '--model', BIN,
    '--vision-tower', path.join(BIN, 'clip'), '--image', path.join(FIXTURE, 'image.png'), '--input-ids', origIds.join(','),
    '--max-new-tokens', '3', '--temperature', '0', '--json'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { input_ids: number[]; output_ids: number[]; text: null };
  assert.deepEqual(out.input_ids, origIds);
  assert.equal(out.output_ids.length, 3);
  assert.equal(out.text, null);
});

test('CLI inspect on the original .bin checkpoint: components counted under their nested prefixes', () => {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'src', 'cli', 'main.js'), 'inspect', '--model', BIN, '--json'],
    { cwd: ROOT, encoding: 'utf8', env: { ...process.env, LLAVA_QUIET: '1' } });
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.layout, 'llava-original');
  assert.equal(j.visionTower.dir, path.join(BIN, 'clip'));
  assert.equal(j.parameters.projector, 64 * 32 + 64 + 64 * 64 + 64);
  assert.equal(j.parameters.languageModel, 32064 * 64 + 2 * (4 * 64 * 64 + 3 * 64 * 128 + 2 * 64) + 64); // inv_freq buffers not counted
  assert.equal(j.dtypes.F16.parameters, j.parameters.languageModel + j.parameters.projector);
  assert.equal(j.tiedHead, true);
});
