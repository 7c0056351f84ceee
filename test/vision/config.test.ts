/**
 * Preprocessing options from model folders in the published layouts: llava-hf (processor config, crop or
 * do_pad), original LLaVA (config.json image_aspect_ratio + the CLIP tower's legacy processor config), no
 * processor file at all, overrides, and the configurations that are refused.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { CLIP_MEAN, preprocessOptionsFromModel } from '../../src/vision/index.js';

function folder(files: Record<string, unknown>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'llava-vision-cfg-'));
  for (const [name, body] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), JSON.stringify(body));
  }
  return dir;
}

const llavaHfProcessor = {
  crop_size: { height: 336, width: 336 }, do_center_crop: true, do_convert_rgb: true, do_normalize: true, do_rescale: true,
  do_resize: true, image_mean: [0.48145466, 0.4578275, 0.40821073], image_std: [0.26862954, 0.26130258, 0.27577711],
  image_processor_type: 'CLIPImageProcessor', processor_class: 'LlavaProcessor', resample: 3,
  rescale_factor: 0.00392156862745098, size: { shortest_edge: 336 },
};

test('llava-hf folder: CLIP processor config, crop by default', () => {
  const dir = folder({ 'config.json': { model_type: 'llava', vision_config: { image_size: 336 } }, 'preprocessor_config.json': llavaHfProcessor });
  const { options, sources } = preprocessOptionsFromModel(dir);
  assert.equal(options.size, 336);
  assert.deepEqual(options.crop, [336, 336]);
  assert.equal(options.mode, 'crop');
  assert.deepEqual(options.mean, llavaHfProcessor.image_mean);
  assert.deepEqual(options.std, llavaHfProcessor.image_std);
  assert.equal(options.rescaleFactor, 1 / 255);
  assert.ok(sources.some((s) => s.includes('preprocessor_config.json')));
});

test('llava-hf processor with do_pad: pad; an explicit mode overrides it', () => {
  const dir = folder({ 'preprocessor_config.json': { ...llavaHfProcessor, image_processor_type: 'LlavaImageProcessor', do_pad: true } });
  assert.equal(preprocessOptionsFromModel(dir).options.mode, 'pad');
  assert.equal(preprocessOptionsFromModel(dir, { mode: 'crop' }).options.mode, 'crop');
});

test('original LLaVA folder: image_aspect_ratio pad, processor from the CLIP tower (legacy integer sizes)', () => {
  const model = folder({ 'config.json': { model_type: 'llava', image_aspect_ratio: 'pad', mm_vision_tower: 'openai/clip-vit-large-patch14-336' } });
  const tower = folder({ 'preprocessor_config.json': { crop_size: 336, do_center_crop: true, do_normalize: true, do_resize: true, feature_extractor_type: 'CLIPFeatureExtractor', image_mean: CLIP_MEAN, image_std: [0.26862954, 0.26130258, 0.27577711], resample: 3, size: 336 } });
  const { options, sources } = preprocessOptionsFromModel(model, { visionTower: tower });
  assert.equal(options.size, 336);
  assert.deepEqual(options.crop, [336, 336]);
  assert.equal(options.mode, 'pad');
  assert.ok(sources.some((s) => s.includes('image_aspect_ratio')));
  // "square" (stage-1 / v1 configs) means plain CLIP crop; --pad still wins.
  const square = folder({ 'config.json': { image_aspect_ratio: 'square' }, 'preprocessor_config.json': { ...llavaHfProcessor, do_pad: true } });
  assert.equal(preprocessOptionsFromModel(square).options.mode, 'crop');
  assert.equal(preprocessOptionsFromModel(square, { mode: 'pad' }).options.mode, 'pad');
});

test('no processor file anywhere: OpenAI CLIP defaults at the tower image size, said in sources', () => {
  const dir = folder({ 'config.json': { vision_config: { image_size: 16 } } });
  const { options, sources } = preprocessOptionsFromModel(dir);
  assert.equal(options.size, 16);
  assert.deepEqual(options.crop, [16, 16]);
  assert.deepEqual(options.mean, CLIP_MEAN);
  assert.ok(sources.some((s) => /OpenAI CLIP defaults at 16×16/.test(s)));
});

test('do_resize / do_center_crop / do_rescale false are honoured', () => {
  const dir = folder({ 'preprocessor_config.json': { ...llavaHfProcessor, do_resize: false, do_center_crop: false, do_rescale: false, do_normalize: false } });
  const { options } = preprocessOptionsFromModel(dir);
  assert.equal(options.size, null);
  assert.equal(options.crop, null);
  assert.equal(options.rescaleFactor, null);
  assert.equal(options.normalize, false);
});

test('refused: anyres, non-bicubic resample, height/width resize, bad JSON, missing folder', () => {
  const anyres = folder({ 'config.json': { image_aspect_ratio: 'anyres' } });
  assert.throws(() => preprocessOptionsFromModel(anyres), /config\.json: image_aspect_ratio "anyres" is not supported/);
  const bilinear = folder({ 'preprocessor_config.json': { ...llavaHfProcessor, resample: 2 } });
  assert.throws(() => preprocessOptionsFromModel(bilinear), /resample 2 is not supported \(only 3 = bicubic\)/);
  const hw = folder({ 'preprocessor_config.json': { ...llavaHfProcessor, size: { height: 336, width: 336 } } });
  assert.throws(() => preprocessOptionsFromModel(hw), /size \{"height":336,"width":336\} is not supported/);
  const next = folder({ 'preprocessor_config.json': { ...llavaHfProcessor, image_processor_type: 'LlavaNextImageProcessor' } });
  assert.throws(() => preprocessOptionsFromModel(next), /LlavaNextImageProcessor .* is not supported/);
  const bad = folder({});
  writeFileSync(path.join(bad, 'config.json'), '{not json');
  assert.throws(() => preprocessOptionsFromModel(bad), /config\.json is not valid JSON/);
  assert.throws(() => preprocessOptionsFromModel(path.join(bad, 'missing')), /model folder .*missing does not exist/);
});

test('original LLaVA folder without a tower folder: size from the mm_vision_tower name; a tower path is searched', () => {
  const named = folder({ 'config.json': { image_aspect_ratio: 'pad', mm_vision_tower: 'openai/clip-vit-large-patch14-336' } });
  const a = preprocessOptionsFromModel(named);
  assert.equal(a.options.size, 336);
  assert.equal(a.options.mode, 'pad');
  assert.ok(a.sources.some((s) => s.includes('tower name openai/clip-vit-large-patch14-336')));
  const v1 = folder({ 'config.json': { mm_vision_tower: 'openai/clip-vit-large-patch14' } });
  assert.equal(preprocessOptionsFromModel(v1).options.size, 224);
  const withTower = folder({
    'config.json': { image_aspect_ratio: 'pad', mm_vision_tower: 'tower' },
    'tower/preprocessor_config.json': { size: 32, crop_size: 32, image_mean: [0.5, 0.5, 0.5], image_std: [0.5, 0.5, 0.5] },
  });
  const b = preprocessOptionsFromModel(withTower);
  assert.equal(b.options.size, 32);
  assert.deepEqual(b.options.mean, [0.5, 0.5, 0.5]);
  assert.ok(b.sources.some((s) => s.includes(path.join(withTower, 'tower', 'preprocessor_config.json'))));
});
