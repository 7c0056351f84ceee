/**
 * LLaMA configuration: `RawLlamaConfig` mirrors HF `LlamaConfig` as written in config.json (LLaVA's
 * `text_config`, or the flat top level of an original LLaVA config), `llamaConfigFromJson` fills HF's
 * defaults for absent keys, and `normalizeLlamaConfig` turns that into the internal `LlamaConfig` the model
 * reads. Defaults live here and nowhere else.
 *
 * Not here: LLaVA-level keys (models/llava/config.ts), weights.
 */

/** HF LlamaConfig fields this project reads (snake_case, as in config.json). */
export interface RawLlamaConfig {
  model_type: string;
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  /** null in the file (or absent) means "same as num_attention_heads" (plain multi-head attention). */
  num_key_value_heads: number | null;
  /** Newer HF: may be set explicitly; otherwise hidden_size / num_attention_heads. */
  head_dim: number | null;
  hidden_act: string;
  max_position_embeddings: number;
  rms_norm_eps: number;
  rope_theta: number;
  rope_scaling: Record<string, unknown> | null;
  attention_bias: boolean;
  mlp_bias: boolean;
  tie_word_embeddings: boolean;
  bos_token_id: number | null;
  eos_token_id: number | number[] | null;
  pad_token_id: number | null;
}

/** HF LlamaConfig.__init__ defaults (note rms_norm_eps 1e-6: Vicuna v1.5 files set 1e-5 explicitly). */
export const LLAMA_DEFAULTS: RawLlamaConfig = {
  model_type: 'llama',
  vocab_size: 32000,
  hidden_size: 4096,
  intermediate_size: 11008,
  num_hidden_layers: 32,
  num_attention_heads: 32,
  num_key_value_heads: null,
  head_dim: null,
  hidden_act: 'silu',
  max_position_embeddings: 2048,
  rms_norm_eps: 1e-6,
  rope_theta: 10000,
  rope_scaling: null,
  attention_bias: false,
  mlp_bias: false,
  tie_word_embeddings: false,
  bos_token_id: 1,
  eos_token_id: 2,
  pad_token_id: null,
};

/** Internal config: every value resolved, camelCase. */
export interface LlamaConfig {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  hiddenAct: string;
  maxPositions: number;
  rmsNormEps: number;
  ropeTheta: number;
  attentionBias: boolean;
  mlpBias: boolean;
  tieWordEmbeddings: boolean;
  bosTokenId: number | null;
  eosTokenIds: number[];
}

/** The keys of `json` that RawLlamaConfig knows, over HF's defaults. Unknown keys are ignored, as HF does. */
export function llamaConfigFromJson(json: Record<string, unknown>): RawLlamaConfig {
  const raw: Record<string, unknown> = { ...LLAMA_DEFAULTS };
  for (const k of Object.keys(LLAMA_DEFAULTS)) if (json[k] !== undefined) raw[k] = json[k];
  return raw as unknown as RawLlamaConfig;
}

function positiveInt(where: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new Error(`${where}: ${name} must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

function positive(where: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !(v > 0)) throw new Error(`${where}: ${name} must be a positive number, got ${JSON.stringify(v)}`);
  return v;
}

/** Resolve and validate; `where` names the file/section for errors ("config.json text_config"). */
export function normalizeLlamaConfig(raw: RawLlamaConfig, where: string): LlamaConfig {
  // An original LLaVA config is a LlamaConfig whose model_type names LLaVA.
  if (!['llama', 'llava', 'llava_llama'].includes(raw.model_type)) {
    throw new Error(`${where}: model_type "${raw.model_type}" is not a LLaMA decoder (only llama is supported)`);
  }
  const numHeads = positiveInt(where, 'num_attention_heads', raw.num_attention_heads);
  const numKvHeads = positiveInt(where, 'num_key_value_heads', raw.num_key_value_heads ?? numHeads);
  const hiddenSize = positiveInt(where, 'hidden_size', raw.hidden_size);
  if (numHeads % numKvHeads !== 0) {
    throw new Error(`${where}: num_attention_heads (${numHeads}) must be a multiple of num_key_value_heads (${numKvHeads})`);
  }
  if (raw.head_dim === null && hiddenSize % numHeads !== 0) {
    throw new Error(`${where}: hidden_size (${hiddenSize}) is not divisible by num_attention_heads (${numHeads}) and head_dim is not set`);
  }
  const headDim = positiveInt(where, 'head_dim', raw.head_dim ?? hiddenSize / numHeads);
  if (headDim % 2 !== 0) throw new Error(`${where}: head_dim must be even for rotary embeddings, got ${headDim}`);
  if (raw.rope_scaling !== null && raw.rope_scaling !== undefined) {
    throw new Error(`${where}: rope_scaling ${JSON.stringify(raw.rope_scaling)} is not supported (only unscaled RoPE)`);
  }
  const eos = raw.eos_token_id;
  const eosTokenIds = eos === null ? [] : Array.isArray(eos) ? eos : [eos];
  return {
    vocabSize: positiveInt(where, 'vocab_size', raw.vocab_size),
    hiddenSize,
    intermediateSize: positiveInt(where, 'intermediate_size', raw.intermediate_size),
    numLayers: positiveInt(where, 'num_hidden_layers', raw.num_hidden_layers),
    numHeads,
    numKvHeads,
    headDim,
    hiddenAct: raw.hidden_act,
    maxPositions: positiveInt(where, 'max_position_embeddings', raw.max_position_embeddings),
    rmsNormEps: positive(where, 'rms_norm_eps', raw.rms_norm_eps),
    ropeTheta: positive(where, 'rope_theta', raw.rope_theta),
    attentionBias: raw.attention_bias === true,
    mlpBias: raw.mlp_bias === true,
    tieWordEmbeddings: raw.tie_word_embeddings === true,
    bosTokenId: raw.bos_token_id,
    eosTokenIds,
  };
}
