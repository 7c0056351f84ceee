/**
 * Config normalization: HF defaults for keys a file omits (the llava-1.5-7b-hf text_config spells no
 * sizes; LlamaConfig's rms_norm_eps default is 1e-6; CLIPVisionConfig's hidden_act is quick_gelu), the
 * original flat config with mm_* keys and its defaults, feature layers and strategies, and errors.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { llavaConfigFromJson, normalizeLlavaConfig } from '../../../src/models/llava/config.js';
import { clipVisionConfigFromJson } from '../../../src/models/clip/config.js';

// The published llava-hf/llava-1.5-7b-hf config.json, abridged to the keys it has.
const HF_7B = {
  architectures: ['LlavaForConditionalGeneration'], model_type: 'llava', ignore_index: -100, image_token_index: 32000,
  pad_token_id: 32001, projector_hidden_act: 'gelu', vision_feature_layer: -2, vision_feature_select_strategy: 'default',
  tie_word_embeddings: false,
  text_config: { _name_or_path: 'lmsys/vicuna-7b-v1.5', model_type: 'llama', max_position_embeddings: 4096, rms_norm_eps: 1e-5, vocab_size: 32064, torch_dtype: 'float16' },
  vision_config: { model_type: 'clip_vision_model', hidden_size: 1024, image_size: 336, intermediate_size: 4096, num_attention_heads: 16, num_hidden_layers: 24, patch_size: 14, projection_dim: 768 },
};

test('llava-hf 7B: LlamaConfig and CLIPVisionConfig defaults fill the omitted keys', () => {
  const c = normalizeLlavaConfig(llavaConfigFromJson(HF_7B, 'config.json'), 'config.json');
  assert.equal(c.kind, 'llava-hf');
  assert.deepEqual(
    [c.text.hiddenSize, c.text.intermediateSize, c.text.numLayers, c.text.numHeads, c.text.numKvHeads, c.text.headDim],
    [4096, 11008, 32, 32, 32, 128]);
  assert.equal(c.text.rmsNormEps, 1e-5);
  assert.equal(c.text.ropeTheta, 10000);
  assert.equal(c.text.vocabSize, 32064);
  assert.deepEqual(c.text.eosTokenIds, [2]);
  assert.equal(c.vision.hiddenAct, 'quick_gelu');
  assert.equal(c.vision.layerNormEps, 1e-5);
  assert.equal(c.vision.numPatches, 576);
  assert.deepEqual(c.featureLayers, [23]); // hidden_states[-2] of 25
  assert.equal(c.featuresPerImage, 576);
  assert.equal(c.featureDim, 1024);
  assert.deepEqual(c.projector, { type: 'mlp2x_gelu', layers: 2, act: 'gelu', bias: true });
  assert.deepEqual(c.placeholderIds, [-200, 32000]);
  assert.equal(c.tieWordEmbeddings, false);
});

test('LlamaConfig default rms_norm_eps is 1e-6 when the file omits it', () => {
  const c = normalizeLlavaConfig(llavaConfigFromJson({ ...HF_7B, text_config: {} }, 'c'), 'c');
  assert.equal(c.text.rmsNormEps, 1e-6);
  assert.equal(c.text.maxPositions, 2048);
  assert.equal(c.text.vocabSize, 32000);
});

test('vision_feature_layer lists and the full strategy', () => {
  const c = normalizeLlavaConfig(llavaConfigFromJson({ ...HF_7B, vision_feature_layer: [-1, 0, 5], vision_feature_select_strategy: 'full' }, 'c'), 'c');
  assert.deepEqual(c.featureLayers, [24, 0, 5]);
  assert.equal(c.featuresPerImage, 577);
  assert.equal(c.featureDim, 3 * 1024);
  assert.throws(() => normalizeLlavaConfig(llavaConfigFromJson({ ...HF_7B, vision_feature_layer: -26 }, 'c'), 'c'), /vision feature layer -26 is outside/);
  assert.throws(() => normalizeLlavaConfig(llavaConfigFromJson({ ...HF_7B, vision_feature_select_strategy: 'cls' }, 'c'), 'c'), /unsupported vision feature selection "cls"/);
});

// liuhaotian/llava-v1.5-7b config.json (abridged) and the CLIP-L/14-336 tower config (a full CLIPConfig).
const ORIG_7B = {
  architectures: ['LlavaLlamaForCausalLM'], model_type: 'llava', hidden_size: 4096, intermediate_size: 11008, num_hidden_layers: 32,
  num_attention_heads: 32, num_key_value_heads: 32, max_position_embeddings: 4096, rms_norm_eps: 1e-5, vocab_size: 32000,
  tie_word_embeddings: false, bos_token_id: 1, eos_token_id: 2, pad_token_id: 0, mm_vision_tower: 'openai/clip-vit-large-patch14-336',
  mm_hidden_size: 1024, mm_projector_type: 'mlp2x_gelu', mm_vision_select_layer: -2, mm_vision_select_feature: 'patch',
  mm_use_im_start_end: false, mm_use_im_patch_token: false, image_aspect_ratio: 'pad', tokenizer_model_max_length: 2048,
};
const CLIP_336 = {
  model_type: 'clip', projection_dim: 768,
  text_config: { hidden_size: 768 },
  vision_config: { hidden_size: 1024, image_size: 336, intermediate_size: 4096, num_attention_heads: 16, num_hidden_layers: 24, patch_size: 14, projection_dim: 768 },
};

test('original LLaVA: flat LLaMA keys + mm_* keys + the tower folder config', () => {
  const raw = llavaConfigFromJson(ORIG_7B, 'config.json');
  assert.equal(raw.kind, 'llava-original');
  assert.throws(() => normalizeLlavaConfig(raw, 'config.json'), /needs the vision tower's config/);
  const c = normalizeLlavaConfig(raw, 'config.json', clipVisionConfigFromJson(CLIP_336));
  assert.equal(c.text.hiddenSize, 4096);
  assert.equal(c.text.rmsNormEps, 1e-5);
  assert.equal(c.vision.imageSize, 336);
  assert.deepEqual(c.featureLayers, [23]);
  assert.equal(c.selectStrategy, 'default');
  assert.deepEqual(c.projector, { type: 'mlp2x_gelu', layers: 2, act: 'gelu', bias: true });
  assert.deepEqual(c.placeholderIds, [-200]);
  assert.equal(c.visionTowerName, 'openai/clip-vit-large-patch14-336');
  assert.equal(c.imageAspectRatio, 'pad');
  assert.equal(c.maxSequenceLength, 2048);
});

test('original LLaVA defaults: missing mm_projector_type means linear; cls_patch keeps the class token', () => {
  const { mm_projector_type: _, ...v1 } = { ...ORIG_7B, model_type: 'llava_llama', mm_vision_select_feature: 'cls_patch' };
  const c = normalizeLlavaConfig(llavaConfigFromJson(v1, 'c'), 'c', clipVisionConfigFromJson(CLIP_336));
  assert.deepEqual(c.projector, { type: 'linear', layers: 1, act: 'gelu', bias: true });
  assert.equal(c.featuresPerImage, 577);
  assert.equal(c.selectStrategy, 'full');
  const m3 = normalizeLlavaConfig(llavaConfigFromJson({ ...ORIG_7B, mm_projector_type: 'mlp3x_gelu' }, 'c'), 'c', clipVisionConfigFromJson(CLIP_336));
  assert.equal(m3.projector.layers, 3);
  assert.throws(() => normalizeLlavaConfig(llavaConfigFromJson({ ...ORIG_7B, mm_projector_type: 'qformer' }, 'c'), 'c', clipVisionConfigFromJson(CLIP_336)),
    /unknown projector type "qformer"/);
  assert.throws(() => normalizeLlavaConfig(llavaConfigFromJson({ ...ORIG_7B, mm_hidden_size: 768 }, 'c'), 'c', clipVisionConfigFromJson(CLIP_336)),
    /mm_hidden_size 768 differs from the vision tower's hidden_size 1024/);
});

test('bad configs are errors naming the field', () => {
  assert.throws(() => llavaConfigFromJson({ model_type: 'bert' }, 'x/config.json'), /x\/config.json: not a LLaVA config/);
  assert.throws(() => llavaConfigFromJson({ ...HF_7B, model_type: 'llava_next' }, 'c'), /model_type "llava_next" is not supported/);
  const tower = clipVisionConfigFromJson(CLIP_336);
  assert.throws(() => normalizeLlavaConfig(llavaConfigFromJson({ ...ORIG_7B, mm_patch_merge_type: 'spatial_unpad', image_aspect_ratio: 'anyres' }, 'c'), 'c', tower),
    /LLaVA-1.6 image tiling .* is not supported/);
  assert.throws(() => normalizeLlavaConfig(llavaConfigFromJson({ ...ORIG_7B, mm_use_im_start_end: true }, 'c'), 'c', tower), /mm_use_im_start_end=true/);
  const bad = (text_config: Record<string, unknown>) => normalizeLlavaConfig(llavaConfigFromJson({ ...HF_7B, text_config }, 'c'), 'c');
  assert.throws(() => bad({ num_attention_heads: 32, num_key_value_heads: 5 }), /must be a multiple of num_key_value_heads/);
  assert.throws(() => bad({ rope_scaling: { type: 'linear', factor: 2 } }), /rope_scaling .* is not supported/);
  assert.throws(() => bad({ hidden_size: -1 }), /hidden_size must be a positive integer/);
});

test('CLIP configs: a full CLIPConfig (also the old vision_config_dict spelling) or a bare CLIPVisionConfig', () => {
  const v = { hidden_size: 1024, image_size: 336, intermediate_size: 4096, num_attention_heads: 16, num_hidden_layers: 24, patch_size: 14 };
  for (const json of [{ model_type: 'clip', vision_config: v }, { model_type: 'clip', vision_config_dict: v }, { model_type: 'clip_vision_model', ...v }]) {
    const c = clipVisionConfigFromJson(json);
    assert.deepEqual([c.hidden_size, c.image_size, c.patch_size, c.hidden_act, c.layer_norm_eps], [1024, 336, 14, 'quick_gelu', 1e-5]);
  }
  const bad = llavaConfigFromJson({ ...HF_7B, vision_config: { model_type: 'siglip_vision_model' } }, 'c');
  assert.throws(() => normalizeLlavaConfig(bad, 'c'), /model_type "siglip_vision_model" is not a CLIP vision tower/);
});
