/**
 * The tiny llava-hf golden fixture (test/fixtures/tiny-llava-hf) for model tests: its weights, config and
 * expected tensors, plus the same weights renamed into the other published key layouts and its config
 * rewritten in the original LLaVA shape (flat LLaMA keys + mm_*; the CLIP tower as a separate full
 * CLIPModel checkpoint with an unused text side).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randn, type Tensor } from '../../src/index.js';
import { openSafetensors } from '../../src/io/safetensors.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'tiny-llava-hf');

export function fixtureConfig(): Record<string, unknown> {
  return JSON.parse(readFileSync(path.join(FIXTURE, 'config.json'), 'utf8')) as Record<string, unknown>;
}

export function fixtureExpected(): { json: Record<string, any>; tensor: (name: string) => Tensor } {
  const src = openSafetensors(path.join(FIXTURE, 'expected.safetensors'));
  const json = JSON.parse(readFileSync(path.join(FIXTURE, 'expected.json'), 'utf8')) as Record<string, any>;
  return { json, tensor: (n) => src.get(n) };
}

/** Every fixture weight under its llava-hf classic name. */
export function fixtureWeights(): Map<string, Tensor> {
  const src = openSafetensors(path.join(FIXTURE, 'model.safetensors'));
  return new Map(src.keys().map((k) => [k, src.get(k)]));
}

/** Classic llava-hf names → another layout (the tower stays embedded). */
export function renameKeys(w: Map<string, Tensor>, layout: 'llava-hf' | 'llava-hf-4.52' | 'llava-original'): Map<string, Tensor> {
  const rules: [RegExp, string][] = layout === 'llava-hf' ? [] : layout === 'llava-hf-4.52'
    ? [[/^language_model\.model\./, 'model.language_model.'], [/^language_model\.lm_head\./, 'lm_head.'],
      [/^vision_tower\./, 'model.vision_tower.'], [/^multi_modal_projector\./, 'model.multi_modal_projector.']]
    : [[/^language_model\.model\./, 'model.'], [/^language_model\.lm_head\./, 'lm_head.'],
      [/^vision_tower\./, 'model.vision_tower.vision_tower.'], [/^multi_modal_projector\.linear_1\./, 'model.mm_projector.0.'],
      [/^multi_modal_projector\.linear_2\./, 'model.mm_projector.2.']];
  return new Map([...w].map(([k, t]) => [rules.reduce((s, [re, to]) => s.replace(re, to), k), t]));
}

/** The fixture's config in the original LLaVA shape (tower config separate, see `towerConfig`). */
export function originalConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const hf = fixtureConfig();
  return {
    ...(hf.text_config as Record<string, unknown>),
    architectures: ['LlavaLlamaForCausalLM'],
    model_type: 'llava_llama',
    mm_vision_tower: 'openai/clip-tiny-test',
    mm_hidden_size: 32,
    mm_projector_type: 'mlp2x_gelu',
    mm_vision_select_layer: -2,
    mm_vision_select_feature: 'patch',
    mm_use_im_start_end: false,
    mm_use_im_patch_token: false,
    image_aspect_ratio: 'square',
    ...extra,
  };
}

/** A full CLIPConfig around the fixture's vision config. */
export function towerConfig(): Record<string, unknown> {
  return { model_type: 'clip', projection_dim: 32, text_config: { hidden_size: 16 }, vision_config: fixtureConfig().vision_config };
}

/**
 * The fixture tower as a full CLIPModel checkpoint: `vision_model.*` plus a (random, unused) text side,
 * projections and logit_scale, and a stray `position_ids` buffer.
 */
export function towerWeights(w: Map<string, Tensor>): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [k, t] of w) if (k.startsWith('vision_tower.')) out.set(k.slice('vision_tower.'.length), t);
  out.set('text_model.embeddings.token_embedding.weight', randn([10, 16], { seed: 1 }));
  out.set('text_model.final_layer_norm.weight', randn([16], { seed: 2 }));
  out.set('visual_projection.weight', randn([32, 32], { seed: 3 }));
  out.set('text_projection.weight', randn([32, 16], { seed: 4 }));
  out.set('logit_scale', randn([], { seed: 5 }));
  return out;
}

/** Largest |a − b| over all elements (shapes must match). */
export function maxAbsDiff(a: Tensor, b: Tensor): number {
  if (a.shape.join() !== b.shape.join()) throw new Error(`shapes differ: [${a.shape}] vs [${b.shape}]`);
  const x = a.toArray();
  const y = b.toArray();
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  return m;
}
