/**
 * LLaMA decoder with its language-model head (HF `LlamaForCausalLM`): token embedding, pre-norm decoder
 * layers (RMSNorm → attention with rotate_half RoPE and grouped-query heads → residual, RMSNorm →
 * SiLU-gated MLP → residual), final RMSNorm, then the head (its own matrix, or the embedding matrix when
 * tied). Takes input embeddings rather than ids so that LLaVA can splice image features in.
 *
 * With a KVCache the forward covers the new positions only: positions continue from `cache.length`, keys
 * and values are appended, attention runs over the whole cached prefix. Without one, positions start at 0.
 *
 * Batches of different lengths are left-padded by the caller: an `attentionMask` [B, past + T] marks the
 * real columns (pads are never attended as keys) and the rotary positions of each row count its real
 * tokens only (HF generate: cumsum(mask) − 1, pads at 1). Pad query rows attend to nothing and come out
 * as garbage the caller ignores; real rows equal their unpadded forward.
 *
 * Not here: image features and merging (models/llava), decoding loops, tokenization.
 */
import { add, argmax, embedding, linear, mul, narrow, reshape, rmsNorm, rope, ropeTables, scaledDotProductAttention, tensor, transpose, arange } from '../../engine/ops/index.js';
import type { Tensor } from '../../engine/tensor.js';
import { fmtShape } from '../../engine/shape.js';
import type { WeightSource } from '../../io/source.js';
import { activation, type Activation } from '../../nn/activations.js';
import { KVCache } from '../../nn/kv-cache.js';
import { matrix, optionalVector, quantizeWeight, vector } from '../../nn/params.js';
import type { LlamaConfig } from './config.js';
import type { LlamaMatrixRole, WeightTypeFn } from './quant.js';

interface Dense { w: Tensor; b: Tensor | null }

interface DecoderLayer {
  inputNorm: Tensor;
  q: Dense; k: Dense; v: Dense; o: Dense;
  postNorm: Tensor;
  gate: Dense; up: Dense; down: Dense;
}

export interface LlamaForwardOptions {
  /**
   * Key padding mask bool [B, past + T] over every cached and new column (HF's attention_mask): 0 marks a
   * pad that no query attends. Default: every column is real.
   */
  attentionMask?: Tensor | null;
  /** Rotary positions i32 [B, T]; default from `attentionMask` (see `positionsFromMask`), else past … past + T − 1. */
  positionIds?: Tensor | null;
  /** Cache to read from and append to (positions continue from its length). */
  cache?: KVCache | null;
  /** Which positions get logits: all (prefill dumps), the last one (decoding, default) or none. */
  logits?: 'all' | 'last' | 'none';
  /** Called after each decoder layer with (layers done, layers); may throw to abandon the forward. */
  onLayer?: (done: number, total: number) => void;
}

/**
 * Rotary positions of the last T columns of a left-padded batch, as HF generate derives them from the
 * attention mask: a real token's position is the number of real tokens before it in its row; pads get 1.
 * mask: bool [B, past + T] → i32 [B, T].
 */
export function positionsFromMask(mask: Tensor, T: number): Tensor {
  const [B, n] = mask.shape as [number, number];
  const m = mask.toArray();
  const rows: number[][] = [];
  for (let b = 0; b < B; b++) {
    const row: number[] = [];
    let seen = 0;
    for (let j = 0; j < n; j++) {
      const real = m[b * n + j] !== 0;
      if (real) seen++;
      if (j >= n - T) row.push(real ? seen - 1 : 1);
    }
    rows.push(row);
  }
  return tensor(rows, { dtype: 'i32' });
}

export interface LlamaOutput {
  /** Final hidden states after model.norm [B, T, D]. */
  hidden: Tensor;
  /** [B, T, V], [B, 1, V] or null, as asked. */
  logits: Tensor | null;
}

export interface LlamaLoadOptions {
  /** Quantize matrices as they are read, each to the type this gives for it (see quant.ts). */
  weightType?: WeightTypeFn;
}

/** `matrix`, quantized when `weightType` names a type for it (the float source is not kept). */
function weight(src: WeightSource, name: string, shape: [number, number], role: LlamaMatrixRole, weightType: WeightTypeFn | undefined): Tensor {
  const w = matrix(src, name, shape);
  const full = w.name ?? name;
  const dtype = weightType?.(role, full, shape);
  return dtype && dtype !== w.dtype ? quantizeWeight(w, dtype, full) : w;
}

function dense(src: WeightSource, name: string, out: number, inp: number, bias: boolean, weightType: WeightTypeFn | undefined): Dense {
  return { w: weight(src, `${name}.weight`, [out, inp], 'matrix', weightType), b: optionalVector(src, `${name}.bias`, [out], bias) };
}

const apply = (x: Tensor, d: Dense) => linear(x, d.w, d.b);

export class LlamaForCausalLM {
  private constructor(
    readonly config: LlamaConfig,
    readonly embedTokens: Tensor,
    private readonly layers: DecoderLayer[],
    private readonly finalNorm: Tensor,
    readonly lmHead: Tensor,
    private readonly act: Activation,
  ) {}

  /**
   * `model` is positioned at the LlamaModel (`embed_tokens`, `layers.N`, `norm`); `head` at the head
   * (`weight`), or null for a head tied to `embed_tokens`.
   */
  static load(model: WeightSource, head: WeightSource | null, cfg: LlamaConfig, opts: LlamaLoadOptions = {}): LlamaForCausalLM {
    const { hiddenSize: D, intermediateSize: F, numHeads: H, numKvHeads: Hkv, headDim: hd, vocabSize: V } = cfg;
    const lin = opts.weightType;
    const layers: DecoderLayer[] = [];
    for (let i = 0; i < cfg.numLayers; i++) {
      const l = model.prefix(`layers.${i}`);
      layers.push({
        inputNorm: vector(l, 'input_layernorm.weight', [D]),
        q: dense(l, 'self_attn.q_proj', H * hd, D, cfg.attentionBias, lin),
        k: dense(l, 'self_attn.k_proj', Hkv * hd, D, cfg.attentionBias, lin),
        v: dense(l, 'self_attn.v_proj', Hkv * hd, D, cfg.attentionBias, lin),
        o: dense(l, 'self_attn.o_proj', D, H * hd, cfg.attentionBias, lin),
        postNorm: vector(l, 'post_attention_layernorm.weight', [D]),
        gate: dense(l, 'mlp.gate_proj', F, D, cfg.mlpBias, lin),
        up: dense(l, 'mlp.up_proj', F, D, cfg.mlpBias, lin),
        down: dense(l, 'mlp.down_proj', D, F, cfg.mlpBias, lin),
      });
    }
    // A tied head is the embedding matrix itself: one tensor, typed for both roles.
    const embed = weight(model, 'embed_tokens.weight', [V, D], head ? 'token-embedding' : 'tied-embedding', lin);
    const lmHead = head ? weight(head, 'weight', [V, D], 'head', lin) : embed;
    return new LlamaForCausalLM(cfg, embed, layers, vector(model, 'norm.weight', [D]), lmHead, activation(cfg.hiddenAct, 'text_config.hidden_act'));
  }

  /**
   * Every weight under its checkpoint name relative to the LlamaModel (`layers.0.self_attn.q_proj.weight`,
   * `embed_tokens.weight`, `norm.weight`) plus `lm_head.weight` (the embedding matrix itself when tied):
   * to see what was loaded in which dtype.
   */
  namedWeights(): Map<string, Tensor> {
    const m = new Map<string, Tensor>([['embed_tokens.weight', this.embedTokens]]);
    const dense = (p: string, d: Dense) => {
      m.set(`${p}.weight`, d.w);
      if (d.b) m.set(`${p}.bias`, d.b);
    };
    this.layers.forEach((l, i) => {
      const p = `layers.${i}`;
      m.set(`${p}.input_layernorm.weight`, l.inputNorm);
      for (const n of ['q', 'k', 'v', 'o'] as const) dense(`${p}.self_attn.${n}_proj`, l[n]);
      m.set(`${p}.post_attention_layernorm.weight`, l.postNorm);
      for (const n of ['gate', 'up', 'down'] as const) dense(`${p}.mlp.${n}_proj`, l[n]);
    });
    m.set('norm.weight', this.finalNorm);
    m.set('lm_head.weight', this.lmHead);
    return m;
  }

  /** A cache sized for this model (prompt + new tokens positions). */
  newCache(maxLength: number, opts: { batch?: number; dtype?: 'f32' | 'f16' } = {}): KVCache {
    const c = this.config;
    return new KVCache({ layers: c.numLayers, batch: opts.batch ?? 1, kvHeads: c.numKvHeads, headDim: c.headDim, maxLength, dtype: opts.dtype ?? 'f32' });
  }

  /** Token embeddings: ids i32 [B, T] → [B, T, D] f32. */
  embed(ids: Tensor): Tensor {
    return embedding(this.embedTokens, ids);
  }

  private attention(x: Tensor, l: DecoderLayer, li: number, cos: Tensor, sin: Tensor, cache: KVCache | null, keyMask: Tensor | null): Tensor {
    const { numHeads: H, numKvHeads: Hkv, headDim: hd } = this.config;
    const [B, T] = x.shape as [number, number, number];
    const heads = (d: Dense, n: number) => transpose(reshape(apply(x, d), [B, T, n, hd]), 1, 2); // (B, n, T, hd)
    const q = rope(heads(l.q, H), cos, sin); // (B, H, T, hd)
    let k = rope(heads(l.k, Hkv), cos, sin); // (B, Hkv, T, hd)
    let v = heads(l.v, Hkv); // (B, Hkv, T, hd)
    if (cache) {
      cache.write(li, k, v);
      ({ k, v } = cache.read(li, T)); // (B, Hkv, past + T, hd)
    }
    const a = scaledDotProductAttention(q, k, v, { causal: true, keyMask }); // (B, H, T, hd); GQA inside
    return apply(reshape(transpose(a, 1, 2), [B, T, H * hd]), l.o); // (B, T, D)
  }

  private mlp(x: Tensor, l: DecoderLayer): Tensor {
    return apply(mul(this.act(apply(x, l.gate)), apply(x, l.up)), l.down); // (B, T, D)
  }

  forward(inputsEmbeds: Tensor, opts: LlamaForwardOptions = {}): LlamaOutput {
    const c = this.config;
    if (inputsEmbeds.ndim !== 3 || inputsEmbeds.shape[2] !== c.hiddenSize || inputsEmbeds.dtype !== 'f32') {
      throw new Error(`LLaMA forward: inputs_embeds must be f32 [B, T, ${c.hiddenSize}], got ${inputsEmbeds.dtype} ${fmtShape(inputsEmbeds.shape)}`);
    }
    const [B, T] = inputsEmbeds.shape as [number, number, number];
    const cache = opts.cache ?? null;
    const start = cache ? cache.length : 0;
    if (start + T > c.maxPositions) {
      throw new Error(`LLaMA forward: positions up to ${start + T} exceed max_position_embeddings ${c.maxPositions}`);
    }
    const mask = opts.attentionMask ?? null;
    if (mask && (mask.dtype !== 'bool' || mask.ndim !== 2 || mask.shape[0] !== B || mask.shape[1] !== start + T)) {
      throw new Error(`LLaMA forward: attention mask must be bool [${B}, ${start + T}] (cached + new positions), got ${mask.dtype} ${fmtShape(mask.shape)}`);
    }
    const pos = opts.positionIds ?? (mask ? positionsFromMask(mask, T) : arange(start, start + T)); // (B, T) or (T)
    if (opts.positionIds && (pos.dtype !== 'i32' || pos.ndim !== 2 || pos.shape[0] !== B || pos.shape[1] !== T)) {
      throw new Error(`LLaMA forward: position ids must be i32 [${B}, ${T}], got ${pos.dtype} ${fmtShape(pos.shape)}`);
    }
    const { cos, sin } = ropeTables(pos, c.headDim, c.ropeTheta); // (T, hd/2) or (B, T, hd/2) each
    let x = inputsEmbeds;
    this.layers.forEach((l, i) => {
      x = add(x, this.attention(rmsNorm(x, l.inputNorm, c.rmsNormEps), l, i, cos, sin, cache, mask));
      x = add(x, this.mlp(rmsNorm(x, l.postNorm, c.rmsNormEps), l));
      opts.onLayer?.(i + 1, this.layers.length);
    });
    cache?.advance(T);
    const hidden = rmsNorm(x, this.finalNorm, c.rmsNormEps); // (B, T, D)
    const which = opts.logits ?? 'last';
    const h = which === 'last' ? narrow(hidden, 1, T - 1, 1) : hidden;
    return { hidden, logits: which === 'none' ? null : linear(h, this.lmHead) }; // (B, T|1, V)
  }

  /** Greedy choice at the last position: logits [B, T, V] → ids [B] (first index on ties, as torch.argmax). */
  static argmaxLast(logits: Tensor): number[] {
    const T = logits.shape[1]!;
    return argmax(narrow(logits, 1, T - 1, 1), -1).toArray();
  }
}
