/**
 * Random tiny LLaMA weights under their published names, for model tests that need shapes the golden
 * fixture does not have (GQA, untied heads, biases). Deterministic per seed.
 */
import { randn, tensor, type Tensor } from '../../src/index.js';
import { llamaConfigFromJson, normalizeLlamaConfig, type LlamaConfig } from '../../src/models/llama/config.js';

export interface TinyLlamaSpec {
  vocab: number;
  hidden: number;
  inter: number;
  layers: number;
  heads: number;
  kvHeads: number;
  seed: number;
}

export function tinyLlamaConfig(s: TinyLlamaSpec, extra: Record<string, unknown> = {}): LlamaConfig {
  return normalizeLlamaConfig(llamaConfigFromJson({
    vocab_size: s.vocab, hidden_size: s.hidden, intermediate_size: s.inter, num_hidden_layers: s.layers,
    num_attention_heads: s.heads, num_key_value_heads: s.kvHeads, rms_norm_eps: 1e-5, max_position_embeddings: 64, ...extra,
  }), 'test');
}

/** LlamaModel tensors (`embed_tokens.weight`, `layers.N.*`, `norm.weight`), std 0.2 projections. */
export function tinyLlamaWeights(s: TinyLlamaSpec): Map<string, Tensor> {
  let seed = s.seed;
  const r = (shape: number[], std = 0.2) => {
    const t = randn(shape, { seed: seed++ });
    return tensor(t.toArray().map((v) => v * std), { shape });
  };
  const hd = s.hidden / s.heads;
  const m = new Map<string, Tensor>();
  m.set('embed_tokens.weight', r([s.vocab, s.hidden], 1));
  for (let i = 0; i < s.layers; i++) {
    const p = `layers.${i}.`;
    m.set(`${p}input_layernorm.weight`, tensor(r([s.hidden], 0.1).toArray().map((v) => v + 1)));
    m.set(`${p}self_attn.q_proj.weight`, r([s.heads * hd, s.hidden]));
    m.set(`${p}self_attn.k_proj.weight`, r([s.kvHeads * hd, s.hidden]));
    m.set(`${p}self_attn.v_proj.weight`, r([s.kvHeads * hd, s.hidden]));
    m.set(`${p}self_attn.o_proj.weight`, r([s.hidden, s.heads * hd]));
    m.set(`${p}post_attention_layernorm.weight`, tensor(r([s.hidden], 0.1).toArray().map((v) => v + 1)));
    m.set(`${p}mlp.gate_proj.weight`, r([s.inter, s.hidden]));
    m.set(`${p}mlp.up_proj.weight`, r([s.inter, s.hidden]));
    m.set(`${p}mlp.down_proj.weight`, r([s.hidden, s.inter]));
  }
  m.set('norm.weight', tensor(r([s.hidden], 0.1).toArray().map((v) => v + 1)));
  return m;
}
