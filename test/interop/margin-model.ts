/**
 * The interchange test model: a LLaVA-1.5 folder in the llava-hf layout (config.json, model.safetensors,
 * the LLaMA tokenizer.model with `<image>` 32000 and `<pad>` 32001, a vocabulary padded to 32064) whose
 * LLaMA decoder continues word chains with top-1 margins of whole logits, written in well under a second.
 *
 * How the weights are made: the decoder core (2 layers, hidden 64, 4 query heads sharing 2 KV heads, MLP
 * 192, untied head) is trained once on the successor task of margin-spec.ts by train-margin-model.ts over
 * a 33-id vocabulary (the 32 alphabet words + BOS); those ~100k trained values are the committed
 * test/fixtures/interop/margin-core.safetensors. Here they are expanded to the real vocabulary: the rows of
 * the alphabet ids and BOS come from the core, every other embedding row is seeded uniform noise of the
 * trained rows' rms (prompts never use them), every other head row seeded noise at 5% of the trained rows'
 * rms, so those ids score near zero, far below the chosen word. The vision tower and projector are the
 * golden tiny fixture's (their output width is this decoder's 64); images play no part in the test.
 *
 * Not here: training (train-margin-model.ts), the task (margin-spec.ts), GGUF or llama.cpp.
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Rng, tensor, type Tensor } from '../../src/index.js';
import { openSafetensors } from '../../src/io/safetensors.js';
import { writeSafetensors } from '../../src/io/safetensors-writer.js';
import { llamaConfigFromJson, normalizeLlamaConfig, type LlamaConfig } from '../../src/models/llama/config.js';
import { FIXTURE, fixtureConfig, fixtureWeights, ROOT } from '../helpers/tiny-llava.js';
import { ALPHABET, BOS_ID, TEXT_DIMS, TRAIN_VOCAB } from './margin-spec.js';

export const CORE_FILE = path.join('test', 'fixtures', 'interop', 'margin-core.safetensors');
/** The padded vocabulary of the llava-hf fixture (32000 pieces + `<image>`, `<pad>`, padding to 64). */
export const FULL_VOCAB = 32064;

function textConfigJson(vocab: number): Record<string, unknown> {
  const d = TEXT_DIMS;
  return {
    architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: vocab, hidden_size: d.hidden,
    intermediate_size: d.intermediate, num_hidden_layers: d.layers, num_attention_heads: d.heads,
    num_key_value_heads: d.kvHeads, head_dim: d.hidden / d.heads, hidden_act: 'silu',
    max_position_embeddings: d.maxPositions, rms_norm_eps: d.rmsNormEps, rope_theta: d.ropeTheta,
    rope_scaling: null, attention_bias: false, mlp_bias: false, tie_word_embeddings: false,
    bos_token_id: 1, eos_token_id: 2, pad_token_id: 32001, torch_dtype: 'float32',
  };
}

/** The trained core's config (33-id vocabulary). */
export function coreConfig(): LlamaConfig {
  return normalizeLlamaConfig(llamaConfigFromJson(textConfigJson(TRAIN_VOCAB)), 'margin core');
}

/** Core tensor names (HF LlamaForCausalLM: `model.*`, `lm_head.weight`) with their shapes. */
export function coreNames(cfg: LlamaConfig): [string, number[]][] {
  const { hiddenSize: D, intermediateSize: F, numHeads: H, numKvHeads: Hkv, headDim: hd, vocabSize: V } = cfg;
  const out: [string, number[]][] = [['model.embed_tokens.weight', [V, D]]];
  for (let i = 0; i < cfg.numLayers; i++) {
    const p = `model.layers.${i}.`;
    out.push(
      [`${p}input_layernorm.weight`, [D]], [`${p}self_attn.q_proj.weight`, [H * hd, D]],
      [`${p}self_attn.k_proj.weight`, [Hkv * hd, D]], [`${p}self_attn.v_proj.weight`, [Hkv * hd, D]],
      [`${p}self_attn.o_proj.weight`, [D, H * hd]], [`${p}post_attention_layernorm.weight`, [D]],
      [`${p}mlp.gate_proj.weight`, [F, D]], [`${p}mlp.up_proj.weight`, [F, D]], [`${p}mlp.down_proj.weight`, [D, F]],
    );
  }
  out.push(['model.norm.weight', [D]], ['lm_head.weight', [V, D]]);
  return out;
}

/** Core row of each real id that has one (alphabet words, BOS). */
export function coreRows(): Map<number, number> {
  const m = new Map<number, number>(ALPHABET.map(([, id], i) => [id, i]));
  m.set(BOS_ID, ALPHABET.length);
  return m;
}

function rms(a: Float32Array, rows: Iterable<number>, D: number): number {
  let s = 0;
  let n = 0;
  for (const r of rows) for (let j = 0; j < D; j++, n++) s += a[r * D + j]! ** 2;
  return Math.sqrt(s / n);
}

/** A [FULL_VOCAB, D] matrix: core rows where `coreRows` says, seeded noise of `noiseScale` × their rms elsewhere. */
function expand(core: Tensor, noiseScale: number, seed: number): Tensor {
  const D = core.shape[1]!;
  const src = Float32Array.from(core.toArray());
  const rows = coreRows();
  const std = noiseScale * rms(src, rows.values(), D);
  const rng = new Rng(seed);
  const out = new Float32Array(FULL_VOCAB * D);
  // Uniform noise of that rms: as good as normal here and ~30× cheaper for 2M values.
  const scale = (2 * Math.sqrt(3) * std) / 2 ** 32;
  for (let i = 0; i < out.length; i++) out[i] = (rng.nextU32() - 2 ** 31) * scale;
  for (const [id, r] of rows) out.set(src.subarray(r * D, (r + 1) * D), id * D);
  return tensor(out, { shape: [FULL_VOCAB, D] });
}

/** The committed trained core, by HF LlamaForCausalLM name. */
export function coreWeights(): Map<string, Tensor> {
  const src = openSafetensors(path.join(ROOT, CORE_FILE));
  return new Map(src.keys().map((k) => [k, src.get(k)]));
}

/**
 * Writes the model folder to `dir` (created). Deterministic: same bytes on every run and platform.
 */
export async function writeMarginModel(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const core = coreWeights();
  const weights = new Map<string, Tensor>();
  for (const [k, t] of core) {
    const name = `language_model.${k}`;
    if (k === 'model.embed_tokens.weight') weights.set(name, expand(t, 1, 101));
    else if (k === 'lm_head.weight') weights.set(name, expand(t, 0.05, 102));
    else weights.set(name, t);
  }
  for (const [k, t] of fixtureWeights()) if (!k.startsWith('language_model.')) weights.set(k, t);
  await writeSafetensors(path.join(dir, 'model.safetensors'), weights, { metadata: { format: 'pt' } });

  const config = { ...fixtureConfig(), tie_word_embeddings: false, vocab_size: FULL_VOCAB, text_config: textConfigJson(FULL_VOCAB) };
  writeFileSync(path.join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  for (const f of ['generation_config.json', 'preprocessor_config.json', 'processor_config.json']) copyFileSync(path.join(FIXTURE, f), path.join(dir, f));
  copyFileSync(path.join(ROOT, 'test', 'fixtures', 'tokenizer', 'tokenizer.model'), path.join(dir, 'tokenizer.model'));
  writeFileSync(path.join(dir, 'tokenizer_config.json'), readFileSync(path.join(ROOT, 'assets', 'tiny-llava-1.5-hf', 'tokenizer_config.json')));
}
