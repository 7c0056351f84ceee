/**
 * LLaVA: CLIP vision tower → feature selection → projector → image features spliced into the token
 * embeddings → LLaMA. The pieces are separate objects (tower, projector, decoder) joined here; every step
 * returns its tensor so that callers can dump or compare intermediates.
 *
 * Feature selection: the configured hidden states of the tower (one index, or several concatenated on
 * the channel axis, in the configured order), with the class token dropped (`default`/`patch`) or kept
 * (`full`/`cls_patch`).
 *
 * Batches: each sequence is merged on its own (its images in order, or none), then the merged rows are
 * left-padded with zero vectors (as the original LLaVA re-pads; the values never matter because the
 * attention mask hides them) into one [B, L, D] tensor with its bool attention mask.
 *
 * Not here: finding and reading weights (load.ts), the decoding loop (greedy.ts), preprocessing and
 * tokenization (src/vision, src/tokenizer).
 */
import { cat, embedding, narrow, tensor, zeros } from '../../engine/ops/index.js';
import type { Tensor } from '../../engine/tensor.js';
import type { ClipVisionTower } from '../clip/vision.js';
import type { LlamaForCausalLM, LlamaForwardOptions } from '../llama/model.js';
import type { LlavaConfig } from './config.js';
import { leftPadding, planMerge, textIds, type MergePlan } from './merge.js';
import type { Projector } from './projector.js';

export interface ImageFeatures {
  /** Tower features after selection [M, N, featureDim]. */
  selected: Tensor;
  /** After the projector [M, N, hidden]. */
  projected: Tensor;
}

export interface BatchedEmbeds {
  /** [B, L, D], L the longest merged row; shorter rows start with zero vectors. */
  inputsEmbeds: Tensor;
  /** bool [B, L]: 0 on the pads. */
  attentionMask: Tensor;
  /** Merged length of each row. */
  lengths: number[];
}

export class LlavaModel {
  constructor(
    readonly config: LlavaConfig,
    readonly visionTower: ClipVisionTower,
    readonly projector: Projector,
    readonly languageModel: LlamaForCausalLM,
  ) {}

  /** pixelValues [M, C, S, S] → selected and projected features of the M images (`onLayer`: per tower layer). */
  imageFeatures(pixelValues: Tensor, onLayer?: (done: number, total: number) => void): ImageFeatures {
    const hs = this.visionTower.hiddenStates(pixelValues, this.config.featureLayers, onLayer); // each (M, 1 + P, d)
    const picked = this.config.selectStrategy === 'default' ? hs.map((h) => narrow(h, 1, 1, h.shape[1]! - 1)) : hs; // (M, N, d)
    const selected = picked.length === 1 ? picked[0]! : cat(picked, 2); // (M, N, d · layers)
    return { selected, projected: this.projector.forward(selected) }; // (M, N, D)
  }

  /** Where the images go in `ids` (placeholders checked against the number of images). */
  plan(ids: readonly number[], numImages: number): MergePlan {
    const c = this.config;
    return planMerge(ids, { placeholderIds: c.placeholderIds, featuresPerImage: c.featuresPerImage, numImages });
  }

  /**
   * inputs_embeds [1, L, D] for one sequence: text ids embedded in one call, each image's projected
   * features [N, D] spliced where its placeholder was. `projected` is [M, N, D] (M may be 0 with null).
   */
  inputsEmbeds(ids: readonly number[], projected: Tensor | null): Tensor {
    const numImages = projected ? projected.shape[0]! : 0;
    const plan = this.plan(ids, numImages);
    const V = this.config.text.vocabSize;
    const text = textIds(ids, plan);
    const bad = text.findIndex((id) => !Number.isInteger(id) || id < 0 || id >= V);
    if (bad >= 0) {
      throw new Error(`input ids: ${text[bad]} is not a token id of this model (vocabulary 0..${V - 1}; image placeholders are ${this.config.placeholderIds.join(' or ')})`);
    }
    const embedded = text.length ? embedding(this.languageModel.embedTokens, tensor(text, { dtype: 'i32' })) : null; // (Ntext, D)
    const pieces: Tensor[] = [];
    let at = 0;
    for (const g of plan.segments) {
      if (g.kind === 'text') {
        pieces.push(narrow(embedded!, 0, at, g.end - g.start)); // (n, D)
        at += g.end - g.start;
      } else {
        pieces.push(narrow(projected!, 0, g.image, 1).reshape(this.config.featuresPerImage, -1)); // (N, D)
      }
    }
    let merged = cat(pieces, 0); // (L, D)
    const max = this.config.maxSequenceLength;
    if (max !== null && merged.shape[0]! > max) merged = narrow(merged, 0, 0, max); // original LLaVA truncates
    return merged.unsqueeze(0); // (1, L, D)
  }

  /**
   * Left-padded inputs_embeds [B, L, D] and attention mask bool [B, L] for several sequences, each with
   * its own projected image features [M_b, N, D] (or null), merged as `inputsEmbeds` does.
   */
  inputsEmbedsBatch(rows: readonly { ids: readonly number[]; projected: Tensor | null }[]): BatchedEmbeds {
    const empty = rows.findIndex((r) => r.ids.length === 0);
    if (empty >= 0) throw new Error(`batch: sequence ${empty} has no input ids`);
    const merged = rows.map((r) => this.inputsEmbeds(r.ids, r.projected)); // each (1, L_b, D)
    const lengths = merged.map((m) => m.shape[1]!);
    const { pads, mask } = leftPadding(lengths);
    const D = this.config.text.hiddenSize;
    const padded = merged.map((m, b) => (pads[b] ? cat([zeros([1, pads[b]!, D]), m], 1) : m)); // each (1, L, D)
    return {
      inputsEmbeds: padded.length === 1 ? padded[0]! : cat(padded, 0), // (B, L, D)
      attentionMask: tensor(mask, { dtype: 'bool' }), // (B, L)
      lengths,
    };
  }

  /** The decoder over prepared embeddings (see LlamaForCausalLM.forward). */
  decode(inputsEmbeds: Tensor, opts: LlamaForwardOptions = {}) {
    return this.languageModel.forward(inputsEmbeds, opts);
  }
}
