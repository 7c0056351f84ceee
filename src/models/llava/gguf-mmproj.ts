/**
 * The CLIP vision tower and LLaVA projector as an "mmproj" GGUF, following the conventions llama.cpp's
 * clip loader (tools/mtmd) reads for LLaVA-1.5:
 *
 * - names: `v.class_embd`, `v.patch_embd.weight`, `v.position_embd.weight`, `v.pre_ln.*`,
 *   `v.blk.N.{attn_q, attn_k, attn_v, attn_out, ln1, ln2, ffn_up (fc1), ffn_down (fc2)}.*`, projector
 *   `mm.0.*` and `mm.2.*` (the two Linears of mlp2x_gelu). `post_layernorm` is not written (LLaVA never
 *   applies it), and only the encoder layers up to the selected feature layer are stored. Files from
 *   llama.cpp's older conversion script name fc1 `ffn_down` and fc2 `ffn_up`; like llama.cpp we recognise
 *   them by shape when reading;
 * - metadata: `general.architecture = clip`, `clip.projector_type = mlp`, `clip.has_vision_encoder`,
 *   `clip.has_llava_projector`, `clip.vision.{image_size, patch_size, embedding_length,
 *   feed_forward_length, projection_dim (the LLM width), block_count (= layers stored),
 *   attention.head_count, attention.layer_norm_epsilon, feature_layer (non-negative hidden-state
 *   indices), image_mean, image_std}`, `clip.use_gelu` (false: CLIP's quick_gelu);
 * - types: position and class embeddings, norms and biases f32, the patch convolution f16 (see
 *   weight-types.ts), every other matrix f16 or q8_0.
 *
 * Not here: the text side (gguf-text.ts), files and folders (gguf-load.ts, gguf-write.ts).
 */
import {
  metaBool, metaInt, metaNumber, metaNumbers, metaString, shortestF32, type GgufMetadata, type GgufValue,
} from '../../io/gguf-format.js';
import type { LlavaConfig } from './config.js';
import type { TensorSpec } from './gguf-text.js';
import type { MmprojScheme } from './weight-types.js';

/** Every mmproj tensor in file order; `hf` names are relative to `vision_model.` / `projector.`. */
export function mmprojTensorSpecs(projectorBias: boolean, layersStored: number): TensorSpec[] {
  const out: TensorSpec[] = [
    { hf: 'vision_model.embeddings.class_embedding', gguf: 'v.class_embd', role: 'class-embedding' },
    { hf: 'vision_model.embeddings.patch_embedding.weight', gguf: 'v.patch_embd.weight', role: 'patch-embedding' },
    { hf: 'vision_model.embeddings.position_embedding.weight', gguf: 'v.position_embd.weight', role: 'position-embedding' },
    { hf: 'vision_model.pre_layrnorm.weight', gguf: 'v.pre_ln.weight', role: 'norm' },
    { hf: 'vision_model.pre_layrnorm.bias', gguf: 'v.pre_ln.bias', role: 'bias' },
  ];
  const pairs: [string, string, 'matrix' | 'norm'][] = [
    ['layer_norm1', 'ln1', 'norm'], ['self_attn.q_proj', 'attn_q', 'matrix'], ['self_attn.k_proj', 'attn_k', 'matrix'],
    ['self_attn.v_proj', 'attn_v', 'matrix'], ['self_attn.out_proj', 'attn_out', 'matrix'], ['layer_norm2', 'ln2', 'norm'],
    ['mlp.fc1', 'ffn_up', 'matrix'], ['mlp.fc2', 'ffn_down', 'matrix'],
  ];
  for (let i = 0; i < layersStored; i++) {
    for (const [hf, gg, role] of pairs) {
      out.push({ hf: `vision_model.encoder.layers.${i}.${hf}.weight`, gguf: `v.blk.${i}.${gg}.weight`, role });
      out.push({ hf: `vision_model.encoder.layers.${i}.${hf}.bias`, gguf: `v.blk.${i}.${gg}.bias`, role: 'bias' });
    }
  }
  for (const [i, mm] of [[1, 0], [2, 2]] as const) {
    out.push({ hf: `projector.linear_${i}.weight`, gguf: `mm.${mm}.weight`, role: 'matrix' });
    if (projectorBias) out.push({ hf: `projector.linear_${i}.bias`, gguf: `mm.${mm}.bias`, role: 'bias' });
  }
  return out;
}

/** Refuses configurations llama.cpp's LLaVA mmproj cannot express. */
export function checkMmprojSupported(cfg: LlavaConfig, where: string): void {
  if (cfg.projector.type !== 'mlp2x_gelu' || cfg.projector.layers !== 2) {
    throw new Error(`${where}: projector "${cfg.projector.type}" cannot be written as an mmproj GGUF (only mlp2x_gelu, llama.cpp's "mlp")`);
  }
  if (cfg.selectStrategy !== 'default') {
    throw new Error(`${where}: vision feature selection "${cfg.selectStrategy}" keeps the class token, which llama.cpp's LLaVA projector drops; only "default"/"patch" can be written`);
  }
  if (cfg.vision.hiddenAct !== 'quick_gelu' && cfg.vision.hiddenAct !== 'gelu') {
    throw new Error(`${where}: vision activation "${cfg.vision.hiddenAct}" has no mmproj flag (quick_gelu or gelu)`);
  }
}

const u32 = (value: number): GgufValue => ({ type: 'u32', value });

/** Metadata of an mmproj GGUF. `mean`/`std` are the image normalization constants. */
export function mmprojMetadata(cfg: LlavaConfig, name: string, scheme: MmprojScheme, mean: readonly number[], std: readonly number[]): [string, GgufValue][] {
  const v = cfg.vision;
  return [
    ['general.architecture', { type: 'string', value: 'clip' }],
    ['general.type', { type: 'string', value: 'mmproj' }],
    ['general.name', { type: 'string', value: name }],
    ['general.description', { type: 'string', value: 'image encoder for LLaVA' }],
    ['general.file_type', u32(scheme === 'f16' ? 1 : 7)],
    ['clip.has_text_encoder', { type: 'bool', value: false }],
    ['clip.has_vision_encoder', { type: 'bool', value: true }],
    ['clip.has_llava_projector', { type: 'bool', value: true }],
    ['clip.projector_type', { type: 'string', value: 'mlp' }],
    ['clip.vision.image_size', u32(v.imageSize)],
    ['clip.vision.patch_size', u32(v.patchSize)],
    ['clip.vision.embedding_length', u32(v.hiddenSize)],
    ['clip.vision.feed_forward_length', u32(v.intermediateSize)],
    ['clip.vision.projection_dim', u32(cfg.text.hiddenSize)],
    ['clip.vision.attention.head_count', u32(v.numHeads)],
    ['clip.vision.attention.layer_norm_epsilon', { type: 'f32', value: v.layerNormEps }],
    ['clip.vision.block_count', u32(Math.max(...cfg.featureLayers))],
    ['clip.vision.feature_layer', { type: 'array', itemType: 'i32', value: [...cfg.featureLayers] }],
    ['clip.vision.image_mean', { type: 'array', itemType: 'f32', value: [...mean] }],
    ['clip.vision.image_std', { type: 'array', itemType: 'f32', value: [...std] }],
    ['clip.use_gelu', { type: 'bool', value: v.hiddenAct === 'gelu' }],
  ];
}

export interface MmprojConfig {
  /** A Hugging Face CLIPVisionConfig object. */
  visionConfig: Record<string, unknown>;
  /** Hidden-state indices (non-negative). */
  featureLayers: number[];
  mean: number[];
  std: number[];
}

/** The vision config, feature layers and normalization of an mmproj file's metadata. */
export function mmprojConfigFromGguf(meta: GgufMetadata, where: string, numChannels: number): MmprojConfig {
  const arch = metaString(meta, 'general.architecture', where);
  if (arch !== 'clip') throw new Error(`${where}: general.architecture is "${arch}"; an mmproj file has "clip"`);
  const proj = meta.has('clip.projector_type') ? metaString(meta, 'clip.projector_type', where) : 'mlp';
  if (proj !== 'mlp') throw new Error(`${where}: clip.projector_type "${proj}" is not supported (only "mlp", LLaVA-1.5's two-layer projector)`);
  if (meta.has('clip.has_vision_encoder') && !metaBool(meta, 'clip.has_vision_encoder', where)) {
    throw new Error(`${where}: clip.has_vision_encoder is false; the file has no vision tower`);
  }
  const int = (k: string) => metaInt(meta, `clip.vision.${k}`, where);
  const blocks = int('block_count');
  // Without explicit feature layers llama.cpp runs block_count − 1 layers and takes that output.
  const featureLayers = meta.has('clip.vision.feature_layer') ? metaNumbers(meta, 'clip.vision.feature_layer', where) : [blocks - 1];
  if (featureLayers.length === 0 || featureLayers.some((l) => !Number.isInteger(l) || l < 0 || l > blocks)) {
    throw new Error(`${where}: clip.vision.feature_layer [${featureLayers.join(', ')}] must be hidden-state indices in 0..${blocks} (the layers stored)`);
  }
  const gelu = meta.has('clip.use_gelu') && metaBool(meta, 'clip.use_gelu', where);
  if (meta.has('clip.use_silu') && metaBool(meta, 'clip.use_silu', where)) throw new Error(`${where}: clip.use_silu is set; CLIP towers use quick_gelu or gelu`);
  const triple = (k: string) => {
    const v = metaNumbers(meta, `clip.vision.${k}`, where).map(shortestF32);
    if (v.length !== 3) throw new Error(`${where}: clip.vision.${k} must have 3 values, has ${v.length}`);
    return v;
  };
  return {
    visionConfig: {
      model_type: 'clip_vision_model',
      hidden_size: int('embedding_length'),
      intermediate_size: int('feed_forward_length'),
      num_hidden_layers: blocks,
      num_attention_heads: int('attention.head_count'),
      num_channels: numChannels,
      image_size: int('image_size'),
      patch_size: int('patch_size'),
      hidden_act: gelu ? 'gelu' : 'quick_gelu',
      layer_norm_eps: shortestF32(metaNumber(meta, 'clip.vision.attention.layer_norm_epsilon', where)),
    },
    featureLayers,
    mean: meta.has('clip.vision.image_mean') ? triple('image_mean') : [0.48145466, 0.4578275, 0.40821073],
    std: meta.has('clip.vision.image_std') ? triple('image_std') : [0.26862954, 0.26130258, 0.27577711],
  };
}
