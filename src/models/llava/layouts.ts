/**
 * The published key layouts of LLaVA checkpoints, in one map: where the LLaMA decoder, its head, the
 * projector and (when embedded) the CLIP tower live, how projector Linears are spelled, and which stored
 * keys are deliberately never read. Model code asks for published names below these prefixes only.
 *
 * - original LLaVA (`liuhaotian/*`): `model.*`, `lm_head`, `model.mm_projector.{weight | 0, 2, …}`; CLIP in a
 *   separate folder or embedded as `model.vision_tower.vision_tower.vision_model.*`;
 * - llava-hf classic (transformers < 4.52): `language_model.model.*`, `language_model.lm_head`,
 *   `vision_tower.vision_model.*`, `multi_modal_projector.linear_{1,2}`;
 * - llava-hf ≥ 4.52: `model.language_model.*`, top-level `lm_head`, `model.vision_tower.vision_model.*`,
 *   `model.multi_modal_projector.linear_{1,2}`.
 *
 * - gguf: a text GGUF and an mmproj GGUF presented under `text.model.*`, `text.lm_head`,
 *   `mmproj.vision_model.*`, `mmproj.projector.linear_{1,2}` (gguf-load.ts renames llama.cpp's names).
 *
 * Not here: reading files (src/io), building models (load.ts).
 */
import type { ProjectorLayerName } from './projector.js';

export type LayoutName = 'llava-original' | 'llava-hf' | 'llava-hf-4.52' | 'gguf';

export interface KeyLayout {
  name: LayoutName;
  /** LlamaModel prefix (`embed_tokens`, `layers.N`, `norm`). */
  text: string;
  /** Head prefix (`weight`); absent keys mean a tied head. */
  head: string;
  /** CLIP `vision_model` prefix inside this checkpoint. */
  vision: string;
  projector: string;
  projectorLayer: ProjectorLayerName;
  /** A key prefix only this layout has. */
  marker: string;
}

export const LAYOUTS: readonly KeyLayout[] = [
  {
    name: 'gguf',
    text: 'text.model',
    head: 'text.lm_head',
    vision: 'mmproj.vision_model',
    projector: 'mmproj.projector',
    projectorLayer: (i) => `linear_${i + 1}`,
    marker: 'text.model.',
  },
  {
    name: 'llava-hf-4.52',
    text: 'model.language_model',
    head: 'lm_head',
    vision: 'model.vision_tower.vision_model',
    projector: 'model.multi_modal_projector',
    projectorLayer: (i) => `linear_${i + 1}`,
    marker: 'model.language_model.',
  },
  {
    name: 'llava-hf',
    text: 'language_model.model',
    head: 'language_model.lm_head',
    vision: 'vision_tower.vision_model',
    projector: 'multi_modal_projector',
    projectorLayer: (i) => `linear_${i + 1}`,
    marker: 'language_model.model.',
  },
  {
    name: 'llava-original',
    text: 'model',
    head: 'lm_head',
    vision: 'model.vision_tower.vision_tower.vision_model',
    projector: 'model.mm_projector',
    // nn.Sequential: Linear at even indices, the parameter-less GELU between them; a lone Linear is unindexed.
    projectorLayer: (i, n) => (n === 1 ? '' : String(2 * i)),
    marker: 'model.embed_tokens.',
  },
];

/** Keys of a CLIP tower checkpoint that LLaVA never reads (a full CLIPModel's text side and heads). */
export const TOWER_IGNORED = /^(text_model\.|visual_projection\.|text_projection\.|logit_scale$)/;

/** Derived buffers some checkpoints store; ignored on purpose. */
export const KNOWN_BUFFERS = /(^|\.)(rotary_emb\.inv_freq|position_ids)$/;

/** The layout whose marker some key carries (checked newest first: its prefix is the most specific). */
export function detectLayout(keys: readonly string[], where: string): KeyLayout {
  for (const l of LAYOUTS) if (keys.some((k) => k.startsWith(l.marker))) return l;
  const sample = keys.slice(0, 5).map((k) => `"${k}"`).join(', ');
  throw new Error(`${where}: unknown checkpoint key layout (expected keys under ${LAYOUTS.map((l) => `"${l.marker}"`).join(', ')}; found ${sample}${keys.length > 5 ? ', …' : ''})`);
}

/**
 * Unused keys below a CLIP `vision_model` prefix that are unused on purpose: `post_layernorm` (LLaVA reads
 * hidden states, not the pooled output) and encoder layers at or after `layersRun` (never computed).
 */
export function isSkippedVisionKey(rel: string, layersRun: number): boolean {
  if (rel.startsWith('post_layernorm.')) return true;
  const m = /^encoder\.layers\.(\d+)\./.exec(rel);
  return m !== null && Number(m[1]) >= layersRun;
}
