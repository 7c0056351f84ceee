/**
 * Image features against the reference's CLIP hidden states (fixture `vision_hidden_states`, index 0 =
 * embeddings after pre_layrnorm): vision_feature_layer −1, −2, 0 and a list, each with the `default`
 * (drop CLS) and `full` strategies, also spelled the original way (patch / cls_patch). Projectors: the
 * fixture's mlp2x_gelu under both spellings (linear_1/2, Sequential 0/2), a linear projector and an
 * identity projector checked with plain loops, and projector errors.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { narrow, noGrad, randn, type Tensor } from '../../../src/index.js';
import { MemoryWeightSource } from '../../../src/io/source.js';
import { assembleLlava } from '../../../src/models/llava/assemble.js';
import { assertClose } from '../../helpers/assert.js';
import { fixtureConfig, fixtureExpected, fixtureWeights, originalConfig, renameKeys, towerConfig } from '../../helpers/tiny-llava.js';

const expected = fixtureExpected();
const pixels = expected.tensor('pixel_values');
const hidden = expected.tensor('vision_hidden_states'); // (4, 1, 17, 32)
const weights = fixtureWeights();

function features(cfg: Record<string, unknown>, w = weights) {
  const { model, config } = assembleLlava({
    configJson: cfg, configWhere: 'config.json', weights: new MemoryWeightSource(w), weightsWhere: 'checkpoint',
    tower: () => ({ configJson: towerConfig(), weights: null, where: 'tower' }),
  });
  return { ...noGrad(() => model.imageFeatures(pixels)), config };
}

/** Reference hidden state i, with or without its class token, as plain rows. */
function refRows(i: number, dropCls: boolean): number[][] {
  const v = narrow(hidden, 0, i, 1).toArray();
  const rows = Array.from({ length: 17 }, (_, t) => v.slice(t * 32, t * 32 + 32));
  return dropCls ? rows.slice(1) : rows;
}

for (const [layer, list] of [[-1, [3]], [-2, [2]], [0, [0]], [[-3, -1], [1, 3]], [[2, 0, -1], [2, 0, 3]]] as const) {
  for (const [strategy, original] of [['default', 'patch'], ['full', 'cls_patch']] as const) {
    test(`vision_feature_layer ${JSON.stringify(layer)}, strategy ${strategy}`, () => {
      const { selected, config } = features({ ...fixtureConfig(), vision_feature_layer: layer, vision_feature_select_strategy: strategy },
        // A list widens the projector input: give linear_1 the matching width.
        Array.isArray(layer) ? new Map(weights).set('multi_modal_projector.linear_1.weight', randn([64, 32 * layer.length], { seed: 4 })) : weights);
      const drop = strategy === 'default';
      const n = drop ? 16 : 17;
      assert.deepEqual(selected.shape, [1, n, 32 * list.length]);
      assert.equal(config.featuresPerImage, n);
      // Channels concatenated in the configured order.
      const want = Array.from({ length: n }, (_, t) => list.flatMap((i) => refRows(i, drop)[t]!)).flat();
      assertClose(selected, want, { atol: 1e-5, rtol: 0 });
      if (!Array.isArray(layer)) {
        // The original config spelling of the same selection.
        const orig = features(originalConfig({ mm_vision_select_layer: layer, mm_vision_select_feature: original }), renameKeys(weights, 'llava-original'));
        assertClose(orig.selected, selected, { atol: 0, rtol: 0 });
      }
    });
  }
}

test('mlp2x_gelu projector matches the reference, in both key spellings', () => {
  const hf = features(fixtureConfig());
  assertClose(hf.selected, expected.tensor('image_features_selected'), { atol: 1e-5, rtol: 0 });
  assertClose(hf.projected, expected.tensor('image_features_projected'), { atol: 1e-5, rtol: 0 });
  const orig = features(originalConfig(), renameKeys(weights, 'llava-original'));
  assertClose(orig.projected, hf.projected, { atol: 0, rtol: 0 });
});

/** x [N, K] · wᵀ [K, M] + b with plain loops. */
function affine(x: Tensor, w: Tensor, b: Tensor | null): number[] {
  const [N, K] = [x.shape[1]!, x.shape[2]!];
  const M = w.shape[0]!;
  const xv = x.toArray(); const wv = w.toArray(); const bv = b?.toArray();
  const out: number[] = [];
  for (let n = 0; n < N; n++) {
    for (let m = 0; m < M; m++) {
      let s = bv ? bv[m]! : 0;
      for (let k = 0; k < K; k++) s += xv[n * K + k]! * wv[m * K + k]!;
      out.push(s);
    }
  }
  return out;
}

test('linear projector (original `model.mm_projector.weight/bias`)', () => {
  const w = new Map([...renameKeys(weights, 'llava-original')].filter(([k]) => !k.startsWith('model.mm_projector.')));
  const W = randn([64, 32], { seed: 21 });
  const b = randn([64], { seed: 22 });
  w.set('model.mm_projector.weight', W).set('model.mm_projector.bias', b);
  const f = features(originalConfig({ mm_projector_type: 'linear' }), w);
  assertClose(f.projected, affine(f.selected, W, b), { atol: 1e-5, rtol: 1e-5 });
  // A checkpoint whose projector disagrees with the config type is refused.
  assert.throws(() => features(originalConfig({ mm_projector_type: 'mlp2x_gelu' }), w), /missing tensor "model.mm_projector.0.weight"/);
});

test('identity projector needs equal widths; unknown activations are refused', () => {
  const w = new Map([...renameKeys(weights, 'llava-original')].filter(([k]) => !k.startsWith('model.mm_projector.')));
  assert.throws(() => features(originalConfig({ mm_projector_type: 'identity' }), w), /identity projector: vision feature width 32 differs from the LLM hidden size 64/);
  assert.throws(() => features({ ...fixtureConfig(), projector_hidden_act: 'mish' }), /unsupported activation "mish"/);
});
