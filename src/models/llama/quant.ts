/**
 * Which LLaMA tensors become which quantized type when a model is quantized at load (`quant: 'q8_0' |
 * 'q4_0'`), written once so that in-memory quantization and GGUF files agree: every decoder linear weight
 * (q/k/v/o, gate/up/down) takes the requested type; the token embedding takes it too; the output head
 * is q8_0 for both (llama.cpp keeps the head, which decides every sampled token, at higher precision);
 * norms and biases stay f32.
 *
 * Tied head (the head is the embedding matrix): one matrix serves both, and it takes the head's type —
 * q8_0 also under q4_0. That is llama.cpp's rule for tied embeddings ("the token embeddings get the
 * quantization of the output tensor"), so a tied model quantized here and one quantized by llama.cpp
 * agree, and the precision goes where it matters: a q4_0 head would shift every logit, while the
 * embedding rows only feed the first layer. The cost is 0.5 byte more per value of one V × D matrix.
 *
 * Not here: the quantization itself (nn/params.ts `quantizeWeight`, engine/quant.ts blocks).
 */
import type { QuantDType } from '../../engine/dtype.js';

/** The `quant` load option. */
export type WeightQuant = 'q8_0' | 'q4_0';

export const WEIGHT_QUANTS: readonly WeightQuant[] = ['q8_0', 'q4_0'];

/** Per-tensor types under `quant`. */
export interface QuantPlan {
  /** q/k/v/o and gate/up/down weights. */
  linear: QuantDType;
  /** embed_tokens (an untied model's). */
  embedding: QuantDType;
  /** lm_head, and the shared matrix of a tied model. */
  head: QuantDType;
}

export function quantPlan(quant: WeightQuant): QuantPlan {
  return { linear: quant, embedding: quant, head: 'q8_0' };
}

/** `v` as a WeightQuant, or an error naming `what` (the option or flag) and the accepted values. */
export function checkWeightQuant(v: unknown, what: string): WeightQuant {
  if (typeof v === 'string' && (WEIGHT_QUANTS as readonly string[]).includes(v)) return v as WeightQuant;
  throw new Error(`${what} must be ${WEIGHT_QUANTS.join(' or ')}, got ${JSON.stringify(v)}`);
}
