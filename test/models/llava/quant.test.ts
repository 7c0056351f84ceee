/**
 * The `quant` load option (q8_0 / q4_0 in memory at load) on the tiny fixture, on every backend:
 * - per-tensor types: decoder linears in the requested type, norms f32, embedding in the requested type
 *   and the head q8_0 (a tied head shares one q8_0 matrix); the vision tower and projector untouched;
 *   byte for byte what `llava quantize` stores in its GGUF file for the same weights;
 * - the loaded model's logits are bit-identical to a model assembled from weights quantized by hand with
 *   the `quantize` op (whole matrices, types chosen by this test), so the loader's sliced quantization and
 *   its type plan are checked against an independent path;
 * - logits stay close to the float model's, within a bound derived from the weights' own quantization error;
 * - an input width that is not a multiple of 32 is an error naming the tensor; a bad type names the option;
 * - released file pages: a mapped view gives its pages back and stays readable with the same values.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import {
  availableBackends, isFileMapped, noGrad, quantize, randn, releaseMappedPages, to, withBackend, type Tensor,
} from '../../../src/index.js';
import { openSafetensors } from '../../../src/io/safetensors.js';
import { writeSafetensors } from '../../../src/io/safetensors-writer.js';
import { MemoryWeightSource } from '../../../src/io/source.js';
import { assembleLlava, type LlavaParts } from '../../../src/models/llava/assemble.js';
import { loadLlava } from '../../../src/models/llava/load.js';
import { quantizeWeight } from '../../../src/nn/params.js';
import { quantize as quantizeCommand } from '../../../src/cli/quantize.js';
import { FIXTURE, fixtureConfig, fixtureExpected, fixtureWeights } from '../../helpers/tiny-llava.js';

const expected = fixtureExpected();
const pixels = expected.tensor('pixel_values');
const ids: number[] = expected.json.input_ids_compact;
const weights = fixtureWeights();
const tmp = mkdtempSync(path.join(os.tmpdir(), 'llava-quant-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const LINEAR = /^language_model\.model\.layers\.\d+\.(self_attn\.[qkvo]_proj|mlp\.(gate|up|down)_proj)\.weight$/;
const EMBED = 'language_model.model.embed_tokens.weight';
const HEAD = 'language_model.lm_head.weight';

const parts = (w: Map<string, Tensor>, cfg = fixtureConfig()): LlavaParts => ({
  configJson: cfg, configWhere: 'config.json', weights: new MemoryWeightSource(w), weightsWhere: 'checkpoint',
});

/** Logits of every position ('last': only the last, which keeps the slow reference backend quick). */
function run(p: LlavaParts, which: 'all' | 'last' = 'all'): { logits: Tensor; projected: Tensor } {
  const { model } = assembleLlava(p);
  return noGrad(() => {
    const f = model.imageFeatures(pixels);
    return { logits: model.decode(model.inputsEmbeds(ids, f.projected), { logits: which }).logits!, projected: f.projected };
  });
}

/** The fixture's weights with the language model quantized by hand: whole matrices through the quantize op. */
function byHand(w: Map<string, Tensor>, linear: 'q8_0' | 'q4_0', embedding: 'q8_0' | 'q4_0', head: 'q8_0'): Map<string, Tensor> {
  const q = (t: Tensor, d: 'q8_0' | 'q4_0') => quantize(to(t, 'f32'), d);
  return new Map([...w].map(([k, t]) => [k, LINEAR.test(k) ? q(t, linear) : k === EMBED ? q(t, embedding) : k === HEAD ? q(t, head) : t]));
}

const untiedCfg = () => {
  const c = fixtureConfig();
  return { ...c, tie_word_embeddings: false, text_config: { ...(c.text_config as object), tie_word_embeddings: false } };
};
/** An untied variant: a head of its own (random, so that it differs from the embedding). */
const untied = new Map(weights).set(HEAD, randn([32064, 64], { seed: 7 }));

const bytes = (t: Tensor) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);

/** Root-mean-square of a − b over the RMS of b. */
function relRms(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

test('per-tensor types: linears as asked, norms f32, embedding as asked and the head q8_0 (tied: one q8_0 matrix)', () => {
  for (const [quant, w, cfg] of [['q8_0', weights, fixtureConfig()], ['q4_0', weights, fixtureConfig()], ['q8_0', untied, untiedCfg()], ['q4_0', untied, untiedCfg()]] as const) {
    const tied = w === weights;
    const { model } = assembleLlava({ ...parts(w, cfg), quant });
    const named = model.languageModel.namedWeights();
    const types = Object.fromEntries([...named].map(([k, t]) => [k, t.dtype]));
    for (const [k, d] of Object.entries(types)) {
      if (/_proj\.weight$/.test(k)) assert.equal(d, quant, `${quant} ${k}`);
      else if (/norm\.weight$/.test(k)) assert.equal(d, 'f32', `${quant} ${k}`);
    }
    assert.equal(Object.keys(types).filter((k) => /_proj\.weight$/.test(k)).length, 2 * 7);
    assert.equal(types['embed_tokens.weight'], tied ? 'q8_0' : quant, `${quant} tied=${tied} embedding`);
    assert.equal(types['lm_head.weight'], 'q8_0', `${quant} head`);
    assert.equal(named.get('lm_head.weight') === named.get('embed_tokens.weight'), tied);
    // The vision side is as stored (f32 in the fixture).
    assert.equal(model.projector.forward(randn([1, 2, 32], { seed: 1 })).dtype, 'f32');
  }
});

test('bit-identical to the same weights quantized by hand with the quantize op, on every backend', () => {
  for (const backend of availableBackends()) {
    withBackend(backend, () => {
      const which = backend === 'ts' ? 'last' : 'all';
      const float = run(parts(weights), which);
      for (const quant of ['q8_0', 'q4_0'] as const) {
        const loaded = run({ ...parts(weights), quant }, which);
        const hand = run(parts(byHand(weights, quant, 'q8_0', 'q8_0')), which); // tied: the shared matrix is the head, q8_0
        assert.deepEqual(loaded.logits.toArray(), hand.logits.toArray(), `${backend} ${quant} tied`);
        assert.notDeepEqual(loaded.logits.toArray(), float.logits.toArray(), `${backend} ${quant}: quantization changed nothing`);
        assert.deepEqual(loaded.projected.toArray(), float.projected.toArray(), `${backend} ${quant}: the vision side must be untouched`);
        const loadedU = run({ ...parts(untied, untiedCfg()), quant }, which);
        const handU = run(parts(byHand(untied, quant, quant, 'q8_0'), untiedCfg()), which);
        assert.deepEqual(loadedU.logits.toArray(), handU.logits.toArray(), `${backend} ${quant} untied`);
      }
    });
  }
});

test('from the folder (mapped safetensors): the same logits as from memory', () => {
  for (const quant of ['q8_0', 'q4_0'] as const) {
    const m = loadLlava(FIXTURE, { quant }).model;
    const fromFile = noGrad(() => m.decode(m.inputsEmbeds(ids, m.imageFeatures(pixels).projected), { logits: 'all' }).logits!);
    assert.deepEqual(fromFile.toArray(), run({ ...parts(weights), quant }).logits.toArray(), quant);
  }
});

/**
 * Closeness to the float model. Each quantized linear perturbs its output by a relative RMS of about
 * e = √(e_w² + e_x²): e_w the weights' own relative quantization error (measured below on the fixture's
 * weights), e_x that of the activations, which the quantized matmul quantizes to q8_0 (≈ the q8_0 weight
 * error). Independent perturbations add in quadrature along the path to the logits: per decoder layer
 * two serial linears in attention (q/k/v, then o) and two in the MLP (gate/up, then down), then the head —
 * n = 2·4 + 1 = 9 stages here, so the logits' relative RMS error should be about √n · e. The test allows
 * twice that (random weights amplify unevenly); the head's q8_0 error is counted at the linears' rate,
 * which overestimates it under q4_0. Measured: q8_0 0.022 against a bound 0.046, q4_0 0.24 against 0.52.
 */
test('the same bytes as `llava quantize` writes into a GGUF file (one type table for both)', async () => {
  for (const type of ['q8_0', 'q4_0'] as const) {
    const out = path.join(tmp, `gguf-${type}`);
    await quantizeCommand({ model: FIXTURE, type, out, mmprojType: 'f16' });
    const fromFile = loadLlava(out).model.languageModel.namedWeights();
    const atLoad = loadLlava(FIXTURE, { quant: type }).model.languageModel.namedWeights();
    assert.deepEqual([...atLoad.keys()].sort(), [...fromFile.keys()].sort());
    for (const [k, t] of atLoad) {
      const u = fromFile.get(k)!;
      assert.equal(t.dtype, u.dtype, `${type} ${k}`);
      assert.ok(bytes(t).equals(bytes(u)), `${type} ${k}: bytes differ`);
    }
  }
});

test('logits close to the float model within the derived bound', (t) => {
  const float = run(parts(weights)).logits.toArray();
  const weightErr = (d: 'q8_0' | 'q4_0') => {
    const a: number[] = [];
    const b: number[] = [];
    for (const [k, w] of weights) {
      if (!LINEAR.test(k)) continue;
      a.push(...to(quantize(w, d), 'f32').toArray());
      b.push(...w.toArray());
    }
    return relRms(a, b);
  };
  const ex = weightErr('q8_0');
  for (const quant of ['q8_0', 'q4_0'] as const) {
    const e = Math.sqrt(weightErr(quant) ** 2 + ex ** 2);
    const bound = 2 * Math.sqrt(9) * e;
    const got = relRms(run({ ...parts(weights), quant }).logits.toArray(), float);
    t.diagnostic(`${quant}: weight error ${weightErr(quant).toExponential(2)}, logits relative RMS error ${got.toExponential(2)}, bound ${bound.toExponential(2)}`);
    assert.ok(got <= bound, `${quant}: logits relative RMS error ${got} > ${bound}`);
    assert.ok(got > 0);
  }
});

test('an input width that is not a multiple of 32 is an error naming the tensor; a bad type names the option', async () => {
  // The fixture with intermediate_size 80: down_proj has 80 input features.
  const dir = path.join(tmp, 'f80');
  cpSync(FIXTURE, dir, { recursive: true });
  const cfg = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8'));
  cfg.text_config.intermediate_size = 80;
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
  const w: Record<string, Tensor> = {};
  for (const [k, t] of weights) {
    const m = /mlp\.(gate|up|down)_proj\.weight$/.exec(k);
    w[k] = m && k.startsWith('language_model.') ? randn(m[1] === 'down' ? [64, 80] : [80, 64], { seed: 3 }) : t;
  }
  await writeSafetensors(path.join(dir, 'model.safetensors'), w);
  assert.ok(loadLlava(dir).model); // loads in float
  assert.throws(() => loadLlava(dir, { quant: 'q4_0' }),
    /tensor "language_model\.model\.layers\.0\.mlp\.down_proj\.weight" \[64, 80\] cannot be quantized to q4_0: its 80 input features are not a multiple of 32/);
  assert.throws(() => loadLlava(FIXTURE, { quant: 'q5_0' as 'q8_0' }), /quant must be q8_0 or q4_0, got "q5_0"/);
  assert.throws(() => quantizeWeight(randn([4, 40]), 'q8_0', 'w.weight'), /tensor "w\.weight" \[4, 40\] cannot be quantized to q8_0/);
});

test('an already quantized weight is not quantized again', () => {
  assert.throws(() => quantizeWeight(quantize(randn([2, 64]), 'q8_0'), 'q4_0', 'w.weight'), /tensor "w\.weight" is stored as q8_0 and cannot be quantized again to q4_0/);
});

test('quantizeWeight equals the quantize op over slices of rows (f32 and f16 sources)', () => {
  const w = randn([700, 2048], { seed: 11 }); // 512 rows per slice: two slices, the second partial
  for (const src of [w, to(w, 'f16'), to(w, 'bf16')]) {
    for (const d of ['q8_0', 'q4_0'] as const) {
      const got = quantizeWeight(src, d);
      const want = quantize(to(src, 'f32'), d);
      assert.ok(bytes(got).equals(bytes(want)), `${src.dtype} ${d}`);
    }
  }
});

test('released pages of a mapped view: bytes handed back, values unchanged', async () => {
  const file = path.join(tmp, 'big.safetensors');
  const big = randn([256, 1024], { seed: 5 }); // 1 MiB
  await writeSafetensors(file, { big });
  const t = openSafetensors(file, { mmap: true }).get('big');
  if (!isFileMapped(t.data.buffer)) return; // no mapper on this platform/backend: nothing to release
  const before = t.toArray();
  assert.deepEqual(before, big.toArray());
  assert.ok(releaseMappedPages(t.data.buffer) >= 1 << 19, 'at least half a MiB of whole pages released');
  assert.deepEqual(t.toArray(), before);
  assert.equal(releaseMappedPages(big.data.buffer), 0, 'ordinary memory is never released');
});
