/**
 * The CLIP ViT vision tower as LLaVA uses it (HF `CLIPVisionModel` without its pooled head): patch
 * convolution without bias, class token, learned absolute positions, `pre_layrnorm`, then pre-norm encoder
 * layers (LayerNorm → bidirectional multi-head attention → residual, LayerNorm → fc1 → quick_gelu → fc2 →
 * residual). `post_layernorm` is never applied: LLaVA reads hidden states, not the pooled output.
 *
 * Hidden-state numbering follows HF: index 0 is the embeddings after `pre_layrnorm`, index i the output of
 * encoder layer i−1. The tower is built with only the layers the caller needs and stops there.
 *
 * Not here: feature selection and concatenation (models/llava), weight file formats (src/io).
 */
import { add, cat, conv2d, expand, layerNorm, linear, permute, reshape, scaledDotProductAttention, transpose } from '../../engine/ops/index.js';
import type { Tensor } from '../../engine/tensor.js';
import { fmtShape } from '../../engine/shape.js';
import type { WeightSource } from '../../io/source.js';
import { activation, type Activation } from '../../nn/activations.js';
import { matrix, vector } from '../../nn/params.js';
import type { ClipVisionConfig } from './config.js';

interface Norm { w: Tensor; b: Tensor }

interface EncoderLayer {
  ln1: Norm;
  q: [Tensor, Tensor]; k: [Tensor, Tensor]; v: [Tensor, Tensor]; o: [Tensor, Tensor];
  ln2: Norm;
  fc1: [Tensor, Tensor]; fc2: [Tensor, Tensor];
}

function norm(src: WeightSource, name: string, d: number): Norm {
  return { w: vector(src, `${name}.weight`, [d]), b: vector(src, `${name}.bias`, [d]) };
}

function dense(src: WeightSource, name: string, out: number, inp: number): [Tensor, Tensor] {
  return [matrix(src, `${name}.weight`, [out, inp]), vector(src, `${name}.bias`, [out])];
}

export class ClipVisionTower {
  private constructor(
    readonly config: ClipVisionConfig,
    private readonly patchWeight: Tensor,
    private readonly classEmbedding: Tensor,
    private readonly positionEmbedding: Tensor,
    private readonly preLn: Norm,
    private readonly layers: EncoderLayer[],
    private readonly act: Activation,
  ) {}

  /** Highest hidden-state index this tower can produce (= encoder layers loaded). */
  get depth(): number {
    return this.layers.length;
  }

  /**
   * Load from `src` positioned at `vision_model` with encoder layers [0, layersNeeded). Keys of the layers
   * after that and of `post_layernorm` stay unread: the caller's layout map declares them ignorable.
   */
  static load(src: WeightSource, cfg: ClipVisionConfig, layersNeeded: number): ClipVisionTower {
    if (!Number.isInteger(layersNeeded) || layersNeeded < 0 || layersNeeded > cfg.numLayers) {
      throw new Error(`CLIP vision tower: ${layersNeeded} layers requested, the config has ${cfg.numLayers}`);
    }
    const { hiddenSize: d, intermediateSize: f, numChannels: c, patchSize: p } = cfg;
    const emb = src.prefix('embeddings');
    const layers: EncoderLayer[] = [];
    for (let i = 0; i < layersNeeded; i++) {
      const l = src.prefix(`encoder.layers.${i}`);
      layers.push({
        ln1: norm(l, 'layer_norm1', d),
        q: dense(l, 'self_attn.q_proj', d, d),
        k: dense(l, 'self_attn.k_proj', d, d),
        v: dense(l, 'self_attn.v_proj', d, d),
        o: dense(l, 'self_attn.out_proj', d, d),
        ln2: norm(l, 'layer_norm2', d),
        fc1: dense(l, 'mlp.fc1', f, d),
        fc2: dense(l, 'mlp.fc2', d, f),
      });
    }
    return new ClipVisionTower(
      cfg,
      matrix(emb, 'patch_embedding.weight', [d, c, p, p]),
      vector(emb, 'class_embedding', [d]),
      vector(emb, 'position_embedding.weight', [cfg.numPatches + 1, d]),
      norm(src, 'pre_layrnorm', d),
      layers,
      activation(cfg.hiddenAct, 'vision_config.hidden_act'),
    );
  }

  /** [CLS; patches] + positions, then pre_layrnorm: hidden state 0. pixelValues [B, C, S, S] → [B, 1 + N, d]. */
  embed(pixelValues: Tensor): Tensor {
    const { numChannels: c, imageSize: s, hiddenSize: d, numPatches: n, layerNormEps } = this.config;
    if (pixelValues.ndim !== 4 || pixelValues.shape[1] !== c || pixelValues.shape[2] !== s || pixelValues.shape[3] !== s) {
      throw new Error(`CLIP vision tower: pixel values must be [B, ${c}, ${s}, ${s}], got ${fmtShape(pixelValues.shape)}`);
    }
    const B = pixelValues.shape[0]!;
    const grid = conv2d(pixelValues, this.patchWeight, null, { stride: this.config.patchSize }); // (B, d, g, g)
    const patches = reshape(permute(grid, [0, 2, 3, 1]), [B, n, d]); // (B, g, g, d) → (B, N, d), patch index = row·g + col
    const cls = expand(reshape(this.classEmbedding, [1, 1, d]), [B, 1, d]); // (B, 1, d)
    const x = add(cat([cls, patches], 1), this.positionEmbedding); // (B, 1 + N, d)
    return layerNorm(x, this.preLn.w, this.preLn.b, layerNormEps);
  }

  private attention(x: Tensor, l: EncoderLayer): Tensor {
    const { numHeads: H, headDim: hd } = this.config;
    const [B, T] = x.shape as [number, number, number];
    const heads = (w: [Tensor, Tensor]) => transpose(reshape(linear(x, w[0], w[1]), [B, T, H, hd]), 1, 2); // (B, H, T, hd)
    const a = scaledDotProductAttention(heads(l.q), heads(l.k), heads(l.v)); // (B, H, T, hd), no mask
    return linear(reshape(transpose(a, 1, 2), [B, T, H * hd]), l.o[0], l.o[1]); // (B, T, d)
  }

  private layer(x: Tensor, l: EncoderLayer): Tensor {
    const eps = this.config.layerNormEps;
    x = add(x, this.attention(layerNorm(x, l.ln1.w, l.ln1.b, eps), l));
    const h = layerNorm(x, l.ln2.w, l.ln2.b, eps);
    return add(x, linear(this.act(linear(h, l.fc1[0], l.fc1[1])), l.fc2[0], l.fc2[1]));
  }

  /**
   * Hidden states at the requested indices (0 = embeddings after pre_layrnorm, i = output of layer i−1),
   * each [B, 1 + N, d], in the order asked. Runs only as many layers as the largest index needs; `onLayer`
   * is called after each with (layers done, layers run) and may throw to abandon the forward.
   */
  hiddenStates(pixelValues: Tensor, indices: readonly number[], onLayer?: (done: number, total: number) => void): Tensor[] {
    const last = Math.max(...indices);
    if (indices.some((i) => !Number.isInteger(i) || i < 0) || last > this.layers.length) {
      throw new Error(`CLIP vision tower: hidden states [${indices.join(', ')}] requested, this tower has indices 0..${this.layers.length}`);
    }
    const out = new Map<number, Tensor>();
    const wanted = new Set(indices);
    let x = this.embed(pixelValues);
    if (wanted.has(0)) out.set(0, x);
    for (let i = 1; i <= last; i++) {
      x = this.layer(x, this.layers[i - 1]!);
      if (wanted.has(i)) out.set(i, x);
      onLayer?.(i, last);
    }
    return indices.map((i) => out.get(i)!);
  }
}
