/**
 * LLaVA configuration in its two published shapes, normalized once into `LlavaConfig`:
 * - llava-hf (`LlavaForConditionalGeneration`): nested `text_config` (LlamaConfig) and `vision_config`
 *   (CLIPVisionConfig), `vision_feature_layer` (int or list), `vision_feature_select_strategy`,
 *   `image_token_index`, `projector_hidden_act`, `multimodal_projector_bias`;
 * - original LLaVA (`LlavaLlamaForCausalLM`, model_type "llava" or "llava_llama"): a flat LlamaConfig plus
 *   `mm_*` keys; the vision config comes from the separate CLIP tower folder.
 * Each raw type carries HF's (or the LLaVA repository's) defaults; normalization resolves everything the
 * model reads (hidden-state indices, feature counts, projector type, placeholder ids).
 *
 * Not here: finding the tower folder (tower.ts), weights (load.ts).
 */
import { clipVisionConfigFromJson, normalizeClipVisionConfig, type ClipVisionConfig, type RawClipVisionConfig } from '../clip/config.js';
import { llamaConfigFromJson, normalizeLlamaConfig, type LlamaConfig, type RawLlamaConfig } from '../llama/config.js';
import { parseProjectorType, type ProjectorSpec } from './projector.js';

/** The placeholder id of the original code (`IMAGE_TOKEN_INDEX`), accepted in every layout. */
export const IMAGE_SENTINEL = -200;

export interface RawLlavaHfConfig {
  kind: 'llava-hf';
  text_config: RawLlamaConfig;
  vision_config: RawClipVisionConfig;
  ignore_index: number;
  image_token_index: number;
  projector_hidden_act: string;
  vision_feature_select_strategy: string;
  vision_feature_layer: number | number[];
  multimodal_projector_bias: boolean;
  /** PretrainedConfig default: true (the text config's own flag defaults to false). */
  tie_word_embeddings: boolean;
}

export interface RawLlavaOriginalConfig {
  kind: 'llava-original';
  /** The flat top level read as a LlamaConfig. */
  text: RawLlamaConfig;
  mm_vision_tower: string | null;
  mm_hidden_size: number | null;
  mm_projector_type: string;
  mm_vision_select_layer: number;
  mm_vision_select_feature: string;
  mm_use_im_start_end: boolean;
  mm_use_im_patch_token: boolean;
  mm_patch_merge_type: string;
  image_aspect_ratio: string;
  tokenizer_model_max_length: number | null;
}

export type RawLlavaConfig = RawLlavaHfConfig | RawLlavaOriginalConfig;

export interface LlavaConfig {
  kind: 'llava-hf' | 'llava-original';
  text: LlamaConfig;
  vision: ClipVisionConfig;
  /** Hidden-state indices of the tower (0 = embeddings after pre-LN), in concatenation order. */
  featureLayers: number[];
  /** `default` drops the class token (original "patch"), `full` keeps it ("cls_patch"). */
  selectStrategy: 'default' | 'full';
  /** Image feature vectors per image, and their width before the projector. */
  featuresPerImage: number;
  featureDim: number;
  projector: ProjectorSpec;
  /** Ids that mark an image in input ids: −200 always, plus `image_token_index` (llava-hf). */
  placeholderIds: number[];
  ignoreIndex: number;
  tieWordEmbeddings: boolean;
  /** Original LLaVA: hub id or path of the CLIP tower; null for llava-hf. */
  visionTowerName: string | null;
  /** Original LLaVA: `image_aspect_ratio` ("pad" = pad to square first); null for llava-hf. */
  imageAspectRatio: string | null;
  /** Original LLaVA truncates merged sequences to this length (`tokenizer_model_max_length`); null = no limit. */
  maxSequenceLength: number | null;
}

function pick<T extends object>(defaults: T, json: Record<string, unknown>): T {
  const out: Record<string, unknown> = { ...(defaults as Record<string, unknown>) };
  for (const k of Object.keys(defaults)) if (json[k] !== undefined) out[k] = json[k];
  return out as T;
}

/** Which of the two shapes `json` (a parsed config.json) has, with defaults filled in. */
export function llavaConfigFromJson(json: Record<string, unknown>, where: string): RawLlavaConfig {
  if (json.text_config !== undefined || json.vision_config !== undefined) {
    if (json.model_type !== undefined && json.model_type !== 'llava') {
      throw new Error(`${where}: model_type "${String(json.model_type)}" is not supported (only llava; LLaVA-NeXT/OneVision tiling is not implemented)`);
    }
    const defaults = {
      ignore_index: -100,
      image_token_index: 32000,
      projector_hidden_act: 'gelu',
      vision_feature_select_strategy: 'default',
      vision_feature_layer: -2 as number | number[],
      multimodal_projector_bias: true,
      tie_word_embeddings: true,
    };
    const top = pick(defaults, json);
    // Newer transformers write `image_token_id`.
    if (json.image_token_index === undefined && typeof json.image_token_id === 'number') top.image_token_index = json.image_token_id;
    return {
      kind: 'llava-hf',
      ...top,
      text_config: llamaConfigFromJson((json.text_config ?? {}) as Record<string, unknown>),
      vision_config: clipVisionConfigFromJson((json.vision_config ?? {}) as Record<string, unknown>),
    };
  }
  if (json.mm_vision_tower !== undefined || json.mm_projector_type !== undefined || json.mm_hidden_size !== undefined ||
      json.model_type === 'llava_llama' || json.model_type === 'llava') {
    const defaults = {
      mm_vision_tower: null as string | null,
      mm_hidden_size: null as number | null,
      mm_projector_type: 'linear', // the builder's default when the key is missing (v1 checkpoints)
      mm_vision_select_layer: -1, // ModelArguments default; released configs all set it
      mm_vision_select_feature: 'patch',
      mm_use_im_start_end: false,
      mm_use_im_patch_token: true, // the builder's default when the key is missing
      mm_patch_merge_type: 'flat',
      image_aspect_ratio: 'square',
      tokenizer_model_max_length: null as number | null,
    };
    // Older configs name the tower `vision_tower`.
    const j = json.mm_vision_tower === undefined && typeof json.vision_tower === 'string' ? { ...json, mm_vision_tower: json.vision_tower } : json;
    return { kind: 'llava-original', ...pick(defaults, j), text: llamaConfigFromJson(json) };
  }
  throw new Error(`${where}: not a LLaVA config (neither llava-hf text_config/vision_config nor original mm_* keys; model_type ${JSON.stringify(json.model_type)})`);
}

/** Hidden-state index for a config layer number (negative counts from the end, as Python indexing). */
function hiddenIndex(layer: number, numLayers: number, where: string): number {
  const i = layer < 0 ? numLayers + 1 + layer : layer;
  if (!Number.isInteger(layer) || i < 0 || i > numLayers) {
    throw new Error(`${where}: vision feature layer ${layer} is outside the tower's hidden states (${numLayers} layers: -${numLayers + 1}..${numLayers})`);
  }
  return i;
}

function strategy(v: string, where: string): 'default' | 'full' {
  if (v === 'default' || v === 'patch') return 'default';
  if (v === 'full' || v === 'cls_patch') return 'full';
  throw new Error(`${where}: unsupported vision feature selection "${v}" (default/patch or full/cls_patch)`);
}

/**
 * Resolve `raw`. For the original shape `towerConfig` is the tower folder's config.json content (a
 * CLIPVisionConfig or CLIPConfig); llava-hf carries its own vision config.
 */
export function normalizeLlavaConfig(raw: RawLlavaConfig, where: string, towerConfig?: RawClipVisionConfig): LlavaConfig {
  if (raw.kind === 'llava-hf') {
    const text = normalizeLlamaConfig(raw.text_config, `${where} text_config`);
    const vision = normalizeClipVisionConfig(raw.vision_config, `${where} vision_config`);
    const layers = Array.isArray(raw.vision_feature_layer) ? raw.vision_feature_layer : [raw.vision_feature_layer];
    if (layers.length === 0) throw new Error(`${where}: vision_feature_layer is an empty list`);
    const sel = strategy(raw.vision_feature_select_strategy, `${where} vision_feature_select_strategy`);
    return {
      kind: raw.kind,
      text,
      vision,
      featureLayers: layers.map((l) => hiddenIndex(l, vision.numLayers, `${where} vision_feature_layer`)),
      selectStrategy: sel,
      featuresPerImage: vision.numPatches + (sel === 'full' ? 1 : 0),
      featureDim: vision.hiddenSize * layers.length,
      projector: { type: 'mlp2x_gelu', layers: 2, act: raw.projector_hidden_act, bias: raw.multimodal_projector_bias },
      placeholderIds: [IMAGE_SENTINEL, raw.image_token_index],
      ignoreIndex: raw.ignore_index,
      tieWordEmbeddings: text.tieWordEmbeddings || raw.tie_word_embeddings,
      visionTowerName: null,
      imageAspectRatio: null,
      maxSequenceLength: null,
    };
  }
  if (!towerConfig) throw new Error(`${where}: an original LLaVA config needs the vision tower's config`);
  const text = normalizeLlamaConfig(raw.text, where);
  const vision = normalizeClipVisionConfig(towerConfig, `${where} (vision tower config)`);
  if (raw.mm_hidden_size !== null && raw.mm_hidden_size !== vision.hiddenSize) {
    throw new Error(`${where}: mm_hidden_size ${raw.mm_hidden_size} differs from the vision tower's hidden_size ${vision.hiddenSize}`);
  }
  if (raw.mm_patch_merge_type !== 'flat' || raw.image_aspect_ratio === 'anyres') {
    throw new Error(`${where}: LLaVA-1.6 image tiling (mm_patch_merge_type "${raw.mm_patch_merge_type}", image_aspect_ratio "${raw.image_aspect_ratio}") is not supported`);
  }
  if (raw.mm_use_im_start_end) {
    throw new Error(`${where}: mm_use_im_start_end=true (LLaVA v0 <im_start>/<im_end> prompts) is not supported`);
  }
  const sel = strategy(raw.mm_vision_select_feature, `${where} mm_vision_select_feature`);
  return {
    kind: raw.kind,
    text,
    vision,
    featureLayers: [hiddenIndex(raw.mm_vision_select_layer, vision.numLayers, `${where} mm_vision_select_layer`)],
    selectStrategy: sel,
    featuresPerImage: vision.numPatches + (sel === 'full' ? 1 : 0),
    featureDim: vision.hiddenSize,
    projector: parseProjectorType(raw.mm_projector_type, `${where} mm_projector_type`),
    placeholderIds: [IMAGE_SENTINEL],
    ignoreIndex: -100,
    tieWordEmbeddings: text.tieWordEmbeddings,
    visionTowerName: raw.mm_vision_tower,
    imageAspectRatio: raw.image_aspect_ratio,
    maxSequenceLength: raw.tokenizer_model_max_length,
  };
}
