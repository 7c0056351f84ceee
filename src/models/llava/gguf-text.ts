/**
 * The LLaMA decoder as a GGUF file, following what llama.cpp's converter writes for LlamaForCausalLM:
 *
 * - names: `token_embd`, `blk.N.{attn_norm, attn_q, attn_k, attn_v, attn_output, ffn_norm, ffn_gate,
 *   ffn_up, ffn_down}`, `output_norm`, `output` (absent when the head is tied to the embedding);
 * - q and k rows permuted into llama.cpp's RoPE layout: within each head, row i of the first half and row i
 *   of the second half become rows 2i and 2i+1 (llama.cpp rotates adjacent pairs; Hugging Face rotates
 *   halves). Reading undoes it. A row permutation moves whole quantization blocks, so permuting before or
 *   after quantizing gives the same bytes;
 * - metadata `general.architecture = llama` and the `llama.*` hyper-parameters, `general.file_type`,
 *   `general.quantization_version`, and the tokenizer (`tokenizer.ggml.*`, see tokenizer/gguf.ts).
 *
 * Reading turns metadata back into a Hugging Face LlamaConfig object (f32 values such as rms_norm_eps
 * become the shortest decimal that rounds to them, i.e. the config's own 1e-5), and the tensors into
 * WeightSource entries under Hugging Face names.
 *
 * Not here: the file format (io/gguf-*), the vision side (gguf-mmproj.ts), folders and options
 * (gguf-load.ts, gguf-write.ts).
 */
import { allocArray, storageLength } from '../../engine/dtype.js';
import { contiguous } from '../../engine/ops/index.js';
import { Tensor } from '../../engine/tensor.js';
import {
  metaBool, metaInt, metaNumber, metaNumbers, metaString, metaStrings, shortestF32, type GgufMetadata, type GgufValue,
} from '../../io/gguf-format.js';
import type { LlamaConfig } from '../llama/config.js';
import type { GgufTokenizerData } from '../../tokenizer/gguf.js';
import type { QuantScheme, WeightRole } from './weight-types.js';

/** One text tensor: its Hugging Face name (under `model.` / `lm_head.`), GGUF name and role. */
export interface TensorSpec {
  hf: string;
  gguf: string;
  role: WeightRole;
  /** Heads for the RoPE row permutation (q and k weights and biases). */
  ropeHeads?: number;
}

/** Every tensor of a LLaMA decoder in GGUF order (embedding, blocks, final norm, head). */
export function llamaTensorSpecs(cfg: LlamaConfig, tied: boolean): TensorSpec[] {
  const out: TensorSpec[] = [{ hf: 'model.embed_tokens.weight', gguf: 'token_embd.weight', role: tied ? 'tied-embedding' : 'token-embedding' }];
  const dense = (i: number, hfName: string, gg: string, bias: boolean, ropeHeads?: number) => {
    out.push({ hf: `model.layers.${i}.${hfName}.weight`, gguf: `blk.${i}.${gg}.weight`, role: 'matrix', ropeHeads });
    if (bias) out.push({ hf: `model.layers.${i}.${hfName}.bias`, gguf: `blk.${i}.${gg}.bias`, role: 'bias', ropeHeads });
  };
  for (let i = 0; i < cfg.numLayers; i++) {
    out.push({ hf: `model.layers.${i}.input_layernorm.weight`, gguf: `blk.${i}.attn_norm.weight`, role: 'norm' });
    dense(i, 'self_attn.q_proj', 'attn_q', cfg.attentionBias, cfg.numHeads);
    dense(i, 'self_attn.k_proj', 'attn_k', cfg.attentionBias, cfg.numKvHeads);
    dense(i, 'self_attn.v_proj', 'attn_v', cfg.attentionBias);
    dense(i, 'self_attn.o_proj', 'attn_output', cfg.attentionBias);
    out.push({ hf: `model.layers.${i}.post_attention_layernorm.weight`, gguf: `blk.${i}.ffn_norm.weight`, role: 'norm' });
    dense(i, 'mlp.gate_proj', 'ffn_gate', cfg.mlpBias);
    dense(i, 'mlp.up_proj', 'ffn_up', cfg.mlpBias);
    dense(i, 'mlp.down_proj', 'ffn_down', cfg.mlpBias);
  }
  out.push({ hf: 'model.norm.weight', gguf: 'output_norm.weight', role: 'norm' });
  if (!tied) out.push({ hf: 'lm_head.weight', gguf: 'output.weight', role: 'head' });
  return out;
}

/**
 * Rows of `t` ([heads · headDim, …], any dtype: rows are moved as stored, blocks included) permuted
 * between Hugging Face's half-split RoPE layout and llama.cpp's interleaved one. `toGguf` false undoes it.
 * A plain row copy rather than engine ops: quantized tensors have no strided views to permute.
 */
export function permuteRopeRows(t: Tensor, heads: number, toGguf: boolean): Tensor {
  const rows = t.shape[0]!;
  const headDim = rows / heads;
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) {
    throw new Error(`RoPE row permutation: ${rows} rows are not ${heads} heads of an even size (tensor ${t.name ?? ''})`);
  }
  const src = t.isContiguous() && t.offset === 0 ? t : contiguous(t);
  const len = storageLength(t.dtype, t.numel);
  const unit = len / rows;
  const out = allocArray(t.dtype, len);
  const data = src.data;
  const half = headDim / 2;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const hfRow = h * headDim + j * half + i;
        const ggRow = h * headDim + 2 * i + j;
        const [from, to] = toGguf ? [hfRow, ggRow] : [ggRow, hfRow];
        out.set(data.subarray(from * unit, (from + 1) * unit), to * unit);
      }
    }
  }
  const r = new Tensor(out, t.dtype, t.shape);
  r.name = t.name;
  return r;
}

/** llama.cpp's `general.file_type` codes for our schemes. */
export const FILE_TYPE: Record<QuantScheme | 'f32', number> = { f32: 0, f16: 1, q4_0: 2, q8_0: 7 };

const u32 = (value: number): GgufValue => ({ type: 'u32', value });
const f32 = (value: number): GgufValue => ({ type: 'f32', value });
const str = (value: string): GgufValue => ({ type: 'string', value });
const bool = (value: boolean): GgufValue => ({ type: 'bool', value });

/**
 * Metadata of a text GGUF (llama architecture), tokenizer included when given, and the model's Jinja chat
 * template as `tokenizer.chat_template` when it has one (llama.cpp picks its chat format from it).
 */
export function llamaMetadata(
  cfg: LlamaConfig, name: string, scheme: QuantScheme, tok: GgufTokenizerData | null, chatTemplate?: string,
): [string, GgufValue][] {
  const out: [string, GgufValue][] = [
    ['general.architecture', str('llama')],
    ['general.type', str('model')],
    ['general.name', str(name)],
    ['llama.block_count', u32(cfg.numLayers)],
    ['llama.context_length', u32(cfg.maxPositions)],
    ['llama.embedding_length', u32(cfg.hiddenSize)],
    ['llama.feed_forward_length', u32(cfg.intermediateSize)],
    ['llama.attention.head_count', u32(cfg.numHeads)],
    ['llama.attention.head_count_kv', u32(cfg.numKvHeads)],
    ['llama.rope.freq_base', f32(cfg.ropeTheta)],
    ['llama.attention.layer_norm_rms_epsilon', f32(cfg.rmsNormEps)],
  ];
  if (cfg.headDim * cfg.numHeads !== cfg.hiddenSize) {
    out.push(['llama.attention.key_length', u32(cfg.headDim)], ['llama.attention.value_length', u32(cfg.headDim)]);
  }
  out.push(
    ['general.file_type', u32(FILE_TYPE[scheme])],
    ['llama.vocab_size', u32(cfg.vocabSize)],
    ['llama.rope.dimension_count', u32(cfg.headDim)],
    ['general.quantization_version', u32(2)],
  );
  if (tok) {
    out.push(
      ['tokenizer.ggml.model', str('llama')],
      ['tokenizer.ggml.pre', str('default')],
      ['tokenizer.ggml.tokens', { type: 'array', itemType: 'string', value: tok.tokens }],
      ['tokenizer.ggml.scores', { type: 'array', itemType: 'f32', value: tok.scores }],
      ['tokenizer.ggml.token_type', { type: 'array', itemType: 'i32', value: tok.tokenTypes }],
    );
    const ids: [string, number | null][] = [['bos', tok.bosId], ['eos', tok.eosId], ['unknown', tok.unkId], ['padding', tok.padId]];
    for (const [k, v] of ids) if (v !== null) out.push([`tokenizer.ggml.${k}_token_id`, u32(v)]);
    if (tok.addBos !== null) out.push(['tokenizer.ggml.add_bos_token', bool(tok.addBos)]);
    if (tok.addEos !== null) out.push(['tokenizer.ggml.add_eos_token', bool(tok.addEos)]);
    if (tok.addSpacePrefix === false) out.push(['tokenizer.ggml.add_space_prefix', bool(false)]);
    if (tok.removeExtraWhitespaces === true) out.push(['tokenizer.ggml.remove_extra_whitespaces', bool(true)]);
  }
  if (chatTemplate !== undefined) out.push(['tokenizer.chat_template', str(chatTemplate)]);
  return out;
}

const opt = <T>(meta: GgufMetadata, key: string, read: (m: GgufMetadata, k: string, w: string) => T, where: string): T | null =>
  meta.has(key) ? read(meta, key, where) : null;

/** The vocabulary data of a text GGUF, or null when it carries no tokenizer. */
export function tokenizerDataFromGguf(meta: GgufMetadata, where: string): GgufTokenizerData | null {
  if (!meta.has('tokenizer.ggml.tokens')) return null;
  const model = metaString(meta, 'tokenizer.ggml.model', where);
  if (model !== 'llama') throw new Error(`${where}: tokenizer.ggml.model "${model}" is not supported (only "llama", SentencePiece BPE)`);
  const tokens = metaStrings(meta, 'tokenizer.ggml.tokens', where);
  return {
    tokens,
    scores: meta.has('tokenizer.ggml.scores') ? metaNumbers(meta, 'tokenizer.ggml.scores', where) : tokens.map(() => 0),
    tokenTypes: meta.has('tokenizer.ggml.token_type') ? metaNumbers(meta, 'tokenizer.ggml.token_type', where) : tokens.map(() => 1),
    bosId: opt(meta, 'tokenizer.ggml.bos_token_id', metaInt, where),
    eosId: opt(meta, 'tokenizer.ggml.eos_token_id', metaInt, where),
    unkId: opt(meta, 'tokenizer.ggml.unknown_token_id', metaInt, where),
    padId: opt(meta, 'tokenizer.ggml.padding_token_id', metaInt, where),
    addBos: opt(meta, 'tokenizer.ggml.add_bos_token', metaBool, where),
    addEos: opt(meta, 'tokenizer.ggml.add_eos_token', metaBool, where),
    addSpacePrefix: opt(meta, 'tokenizer.ggml.add_space_prefix', metaBool, where),
    removeExtraWhitespaces: opt(meta, 'tokenizer.ggml.remove_extra_whitespaces', metaBool, where),
  };
}

/**
 * A Hugging Face LlamaConfig object from a text GGUF's metadata. `vocabRows` is the embedding's row count
 * (used when `llama.vocab_size` is absent); `tied` says the file has no `output` tensor.
 */
export function llamaConfigJsonFromGguf(meta: GgufMetadata, where: string, vocabRows: number, tied: boolean): Record<string, unknown> {
  const arch = metaString(meta, 'general.architecture', where);
  if (arch !== 'llama') throw new Error(`${where}: general.architecture is "${arch}"; only "llama" text models are supported`);
  for (const k of meta.keys()) {
    if (k.startsWith('llama.rope.scaling.')) throw new Error(`${where}: ${k} is set; RoPE scaling is not supported`);
  }
  const int = (k: string) => metaInt(meta, `llama.${k}`, where);
  const hidden = int('embedding_length');
  const heads = int('attention.head_count');
  const headDim = meta.has('llama.attention.key_length') ? int('attention.key_length') : hidden / heads;
  if (meta.has('llama.rope.dimension_count') && int('rope.dimension_count') !== headDim) {
    throw new Error(`${where}: llama.rope.dimension_count ${int('rope.dimension_count')} differs from the head size ${headDim} (partial rotary embeddings are not supported)`);
  }
  const eos = opt(meta, 'tokenizer.ggml.eos_token_id', metaInt, where);
  return {
    model_type: 'llama',
    vocab_size: meta.has('llama.vocab_size') ? int('vocab_size') : vocabRows,
    hidden_size: hidden,
    intermediate_size: int('feed_forward_length'),
    num_hidden_layers: int('block_count'),
    num_attention_heads: heads,
    num_key_value_heads: meta.has('llama.attention.head_count_kv') ? int('attention.head_count_kv') : heads,
    head_dim: headDim,
    max_position_embeddings: int('context_length'),
    rms_norm_eps: shortestF32(metaNumber(meta, 'llama.attention.layer_norm_rms_epsilon', where)),
    rope_theta: meta.has('llama.rope.freq_base') ? shortestF32(metaNumber(meta, 'llama.rope.freq_base', where)) : 10000,
    hidden_act: 'silu',
    tie_word_embeddings: tied,
    bos_token_id: opt(meta, 'tokenizer.ggml.bos_token_id', metaInt, where) ?? 1,
    eos_token_id: eos ?? 2,
    pad_token_id: opt(meta, 'tokenizer.ggml.padding_token_id', metaInt, where),
  };
}
