/**
 * The fixture's weights in every published key layout give bit-identical logits: llava-hf classic (as
 * stored), llava-hf ≥ 4.52, original LLaVA with the tower embedded and with the tower as a separate full
 * CLIPModel checkpoint (text side ignored), tied and untied heads. Loading is strict: unexpected keys,
 * missing keys and shape mismatches are errors naming them; known buffers are ignored.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cat, narrow, noGrad, randn, tensor, type Tensor } from '../../../src/index.js';
import { MemoryWeightSource } from '../../../src/io/source.js';
import { assembleLlava, inferTowerConfig, type LlavaParts } from '../../../src/models/llava/assemble.js';
import { assertClose } from '../../helpers/assert.js';
import {
  fixtureConfig, fixtureExpected, fixtureWeights, originalConfig, renameKeys, towerConfig, towerWeights,
} from '../../helpers/tiny-llava.js';

const expected = fixtureExpected();
const pixels = expected.tensor('pixel_values');
const compact: number[] = expected.json.input_ids_compact;
const weights = fixtureWeights();

function logits(parts: LlavaParts, ids = compact): Tensor {
  const { model } = assembleLlava(parts);
  return noGrad(() => {
    const f = model.imageFeatures(pixels);
    return model.decode(model.inputsEmbeds(ids, f.projected), { logits: 'all' }).logits!;
  });
}

/** Parts for a checkpoint; an original config finds the tower folder's config (embedded weights). */
const hfParts = (w: Map<string, Tensor>, cfg = fixtureConfig()): LlavaParts => ({
  configJson: cfg, configWhere: 'config.json', weights: new MemoryWeightSource(w), weightsWhere: 'checkpoint',
  tower: () => ({ configJson: towerConfig(), weights: null, where: 'tower' }),
});

const reference = logits(hfParts(weights));
const origIds = compact.map((id) => (id === 32000 ? -200 : id));

test('the stored layout matches the golden logits', () => {
  assertClose(reference, expected.tensor('logits'), { atol: 1e-4, rtol: 0 });
});

test('llava-hf ≥ 4.52 layout: identical logits', () => {
  assertClose(logits(hfParts(renameKeys(weights, 'llava-hf-4.52'))), reference, { atol: 0, rtol: 0 });
});

test('original layout with the tower embedded: identical logits (config from the tower folder)', () => {
  const parts = hfParts(renameKeys(weights, 'llava-original'), originalConfig());
  let asked: boolean | null = null;
  const tower = (required: boolean) => {
    asked = required;
    return { configJson: towerConfig(), weights: null, where: 'tower' };
  };
  assertClose(logits({ ...parts, tower }, origIds), reference, { atol: 0, rtol: 0 });
  assert.equal(asked, false); // only the config was wanted
  // Without a tower folder the config is read off the weights, which cannot give the head count of a
  // 32-wide tower (real CLIP towers are multiples of 64).
  assert.throws(() => assembleLlava({ ...parts, tower: undefined }), /embedded vision tower has width 32, so its number of attention heads cannot be inferred/);
});

test('original layout with a separate full-CLIPModel tower: identical logits, text side ignored', () => {
  const main = new Map([...renameKeys(weights, 'llava-original')].filter(([k]) => !k.startsWith('model.vision_tower.')));
  // Original checkpoints also store rotary inv_freq buffers; the tower stores position_ids.
  main.set('model.layers.0.self_attn.rotary_emb.inv_freq', randn([8], { seed: 1 }));
  const tw = towerWeights(weights);
  tw.set('vision_model.embeddings.position_ids', tensor([[0, 1, 2]], { dtype: 'i32' }));
  let asked: boolean | null = null;
  const parts: LlavaParts = {
    ...hfParts(main, originalConfig()),
    tower: (required) => {
      asked = required;
      return { configJson: towerConfig(), weights: new MemoryWeightSource(tw), where: 'tower folder' };
    },
  };
  assertClose(logits(parts, origIds), reference, { atol: 0, rtol: 0 });
  assert.equal(asked, true);
  assert.throws(() => assembleLlava({ ...parts, tower: undefined }), /no vision tower weights; pass its folder with --vision-tower DIR/);
  const stray = new Map(tw);
  stray.set('vision_model.extra.weight', randn([2], { seed: 9 }));
  assert.throws(() => assembleLlava({ ...parts, tower: () => ({ configJson: towerConfig(), weights: new MemoryWeightSource(stray), where: 'tower folder' }) }),
    /tower folder: 1 unexpected tensor\(s\) that this model does not use: "vision_model.extra.weight"/);
});

test('untied head: a stored lm_head is used in every layout', () => {
  const head = randn([32064, 64], { seed: 7 });
  const untiedCfg = { ...fixtureConfig(), tie_word_embeddings: false, text_config: { ...(fixtureConfig().text_config as object), tie_word_embeddings: false } };
  const classic = new Map(weights).set('language_model.lm_head.weight', head);
  const a = logits(hfParts(classic, untiedCfg));
  assert.throws(() => assertClose(a, reference, { atol: 1e-3 }), /element/); // really a different head
  assertClose(logits(hfParts(renameKeys(classic, 'llava-hf-4.52'), untiedCfg)), a, { atol: 0, rtol: 0 });
  assertClose(logits(hfParts(renameKeys(classic, 'llava-original'), originalConfig({ tie_word_embeddings: false })), origIds), a, { atol: 0, rtol: 0 });
  // Without lm_head and without tying: an error naming the missing key.
  assert.throws(() => assembleLlava(hfParts(weights, untiedCfg)), /missing tensor "language_model.lm_head.weight" and tie_word_embeddings is not set/);
});

test('strict loading: unexpected, missing and misshapen tensors are errors; known buffers are ignored', () => {
  const extra = new Map(weights);
  extra.set('language_model.model.layers.0.self_attn.rotary_emb.inv_freq', randn([8], { seed: 1 }));
  extra.set('vision_tower.vision_model.embeddings.position_ids', tensor([[0, 1]], { dtype: 'i32' }));
  assertClose(logits(hfParts(extra)), reference, { atol: 0, rtol: 0 });
  extra.set('language_model.model.layers.9.mlp.up_proj.weight', randn([2, 2], { seed: 2 }));
  assert.throws(() => assembleLlava(hfParts(extra)), /checkpoint: 1 unexpected tensor\(s\) that this model does not use: "language_model.model.layers.9.mlp.up_proj.weight"/);
  const missing = new Map(weights);
  missing.delete('multi_modal_projector.linear_2.bias');
  assert.throws(() => assembleLlava(hfParts(missing)), /missing tensor "multi_modal_projector.linear_2.bias"/);
  const bad = new Map(weights).set('vision_tower.vision_model.encoder.layers.1.mlp.fc1.weight', randn([64, 31], { seed: 3 }));
  assert.throws(() => assembleLlava(hfParts(bad)), /"vision_tower.vision_model.encoder.layers.1.mlp.fc1.weight" in memory has shape \[64, 31\], expected \[64, 32\]/);
  const unknown = new Map([...weights].map(([k, t]) => [`foo.${k}`, t]));
  assert.throws(() => assembleLlava(hfParts(unknown)), /unknown checkpoint key layout/);
});

test('layers after the selected hidden state are not loaded (their keys are skipped on purpose)', () => {
  // vision_feature_layer −2 of 3 layers: layer 2 never runs, so a broken layer 2 does not matter...
  const w = new Map(weights);
  w.delete('vision_tower.vision_model.encoder.layers.2.mlp.fc2.bias');
  assertClose(logits(hfParts(w)), reference, { atol: 0, rtol: 0 });
  // ...but with −1 it is needed.
  assert.throws(() => assembleLlava(hfParts(w, { ...fixtureConfig(), vision_feature_layer: -1 })), /missing tensor "vision_tower.vision_model.encoder.layers.2.mlp.fc2.bias"/);
});

test('original configs truncate the merged sequence to tokenizer_model_max_length (image positions included)', () => {
  const parts = hfParts(renameKeys(weights, 'llava-original'), originalConfig({ tokenizer_model_max_length: 20 }));
  const l = logits(parts, origIds); // 11 text ids + 16 image positions = 27, cut to 20
  assert.deepEqual(l.shape, [1, 20, 32064]);
  // Causal attention: the kept positions' logits are the reference's first 20 rows.
  assertClose(l, narrow(expected.tensor('logits'), 1, 0, 20), { atol: 1e-4, rtol: 0 });
});

test('two images in one sequence: each placeholder gets its image, in order, text rows in between', () => {
  const { model } = assembleLlava(hfParts(weights));
  const ref = expected.tensor('inputs_embeds'); // (1, 27, 64): text at 0..4 and 21..26, image at 5..20
  const proj = expected.tensor('image_features_projected'); // (1, 16, 64)
  const row = (t: Tensor, i: number) => narrow(t, 1, i, 1);
  const e = noGrad(() => {
    const f = model.imageFeatures(cat([pixels, pixels], 0)); // (2, 16, 64)
    return model.inputsEmbeds([1, 3148, -200, 13, 32000, 29901], f.projected);
  });
  assert.deepEqual(e.shape, [1, 4 + 2 * 16, 64]);
  assertClose(row(e, 0), row(ref, 0), { atol: 0, rtol: 0 }); // <s>
  assertClose(row(e, 1), row(ref, 1), { atol: 0, rtol: 0 }); // 3148
  assertClose(narrow(e, 1, 2, 16), proj, { atol: 1e-5, rtol: 0 });
  assertClose(row(e, 18), row(ref, 22), { atol: 0, rtol: 0 }); // 13
  assertClose(narrow(e, 1, 19, 16), proj, { atol: 1e-5, rtol: 0 });
  assertClose(row(e, 35), row(ref, 26), { atol: 0, rtol: 0 }); // 29901
  assert.throws(() => model.inputsEmbeds([1, -200, 2], noGrad(() => model.imageFeatures(cat([pixels, pixels], 0)).projected)),
    /stand for 1 image\(s\) but 2 image\(s\) were given/);
});

test('an embedded tower without a config: sizes read off the weight shapes, heads of width 64', () => {
  const z = (shape: number[]) => tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)), { shape });
  const w = new Map<string, Tensor>([
    ['embeddings.patch_embedding.weight', z([128, 3, 4, 4])],
    ['embeddings.position_embedding.weight', z([50, 128])], // 7×7 patches + CLS
    ['encoder.layers.0.mlp.fc1.weight', z([512, 128])],
    ['encoder.layers.1.mlp.fc1.weight', z([512, 128])],
    ['encoder.layers.2.mlp.fc1.weight', z([512, 128])],
  ]);
  const c = inferTowerConfig(new MemoryWeightSource(w));
  assert.deepEqual(
    [c.hidden_size, c.num_channels, c.patch_size, c.image_size, c.num_hidden_layers, c.intermediate_size, c.num_attention_heads, c.hidden_act],
    [128, 3, 4, 28, 3, 512, 2, 'quick_gelu']);
});
