/**
 * CLIP vision configuration: `RawClipVisionConfig` mirrors HF `CLIPVisionConfig` (LLaVA's
 * `vision_config`, or a CLIP folder's config.json, which is either a CLIPVisionConfig or a full CLIPConfig
 * holding one under `vision_config`), `clipVisionConfigFromJson` fills HF's defaults, and
 * `normalizeClipVisionConfig` yields the internal `ClipVisionConfig`.
 *
 * Not here: which layer LLaVA reads or how features are selected (models/llava/config.ts).
 */

export interface RawClipVisionConfig {
  model_type: string;
  hidden_size: number;
  intermediate_size: number;
  projection_dim: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_channels: number;
  image_size: number;
  patch_size: number;
  hidden_act: string;
  layer_norm_eps: number;
}

/** HF CLIPVisionConfig.__init__ defaults (ViT-B/32 sizes; LLaVA's files spell out the ViT-L values). */
export const CLIP_VISION_DEFAULTS: RawClipVisionConfig = {
  model_type: 'clip_vision_model',
  hidden_size: 768,
  intermediate_size: 3072,
  projection_dim: 512,
  num_hidden_layers: 12,
  num_attention_heads: 12,
  num_channels: 3,
  image_size: 224,
  patch_size: 32,
  hidden_act: 'quick_gelu',
  layer_norm_eps: 1e-5,
};

export interface ClipVisionConfig {
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  headDim: number;
  numChannels: number;
  imageSize: number;
  patchSize: number;
  /** Patches per side (imageSize / patchSize) and patches per image (without the class token). */
  gridSize: number;
  numPatches: number;
  hiddenAct: string;
  layerNormEps: number;
}

/** Raw config from a CLIPVisionConfig object, or from a full CLIPConfig (its `vision_config`). */
export function clipVisionConfigFromJson(json: Record<string, unknown>): RawClipVisionConfig {
  // Configs written by old transformers also carry `vision_config_dict` (the non-default keys only).
  const nested = json.vision_config ?? json.vision_config_dict;
  const inner = json.model_type === 'clip' || (nested && typeof nested === 'object')
    ? (nested ?? {}) as Record<string, unknown>
    : json;
  const raw: Record<string, unknown> = { ...CLIP_VISION_DEFAULTS };
  for (const k of Object.keys(CLIP_VISION_DEFAULTS)) if (inner[k] !== undefined) raw[k] = inner[k];
  return raw as unknown as RawClipVisionConfig;
}

function positiveInt(where: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new Error(`${where}: ${name} must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

export function normalizeClipVisionConfig(raw: RawClipVisionConfig, where: string): ClipVisionConfig {
  if (raw.model_type !== 'clip_vision_model' && raw.model_type !== 'clip') {
    throw new Error(`${where}: model_type "${raw.model_type}" is not a CLIP vision tower (only clip_vision_model is supported)`);
  }
  const hiddenSize = positiveInt(where, 'hidden_size', raw.hidden_size);
  const numHeads = positiveInt(where, 'num_attention_heads', raw.num_attention_heads);
  if (hiddenSize % numHeads !== 0) throw new Error(`${where}: hidden_size (${hiddenSize}) is not divisible by num_attention_heads (${numHeads})`);
  const imageSize = positiveInt(where, 'image_size', raw.image_size);
  const patchSize = positiveInt(where, 'patch_size', raw.patch_size);
  if (imageSize % patchSize !== 0) throw new Error(`${where}: image_size (${imageSize}) is not a multiple of patch_size (${patchSize})`);
  if (!(typeof raw.layer_norm_eps === 'number' && raw.layer_norm_eps > 0)) {
    throw new Error(`${where}: layer_norm_eps must be a positive number, got ${JSON.stringify(raw.layer_norm_eps)}`);
  }
  const gridSize = imageSize / patchSize;
  return {
    hiddenSize,
    intermediateSize: positiveInt(where, 'intermediate_size', raw.intermediate_size),
    numLayers: positiveInt(where, 'num_hidden_layers', raw.num_hidden_layers),
    numHeads,
    headDim: hiddenSize / numHeads,
    numChannels: positiveInt(where, 'num_channels', raw.num_channels),
    imageSize,
    patchSize,
    gridSize,
    numPatches: gridSize * gridSize,
    hiddenAct: raw.hidden_act,
    layerNormEps: raw.layer_norm_eps,
  };
}
