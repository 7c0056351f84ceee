/**
 * The `quant` load option of a LLaMA decoder: quantize its weights to q8_0 or q4_0 as they are read. Which
 * tensor gets which type is not decided here but by the caller's `weightType` (LLaVA passes the one table
 * that `llava quantize` writes GGUF files with, models/llava/weight-types.ts: decoder linears and the token
 * embedding in the requested type, the head — and a tied embedding/head matrix — q8_0, norms f32), so a
 * model quantized at load and one read from such a file hold the same bytes.
 *
 * Not here: the quantization itself (nn/params.ts `quantizeWeight`, engine/quant.ts blocks).
 */
import type { QuantDType } from '../../engine/dtype.js';

/** The `quant` load option. */
export type WeightQuant = 'q8_0' | 'q4_0';

export const WEIGHT_QUANTS: readonly WeightQuant[] = ['q8_0', 'q4_0'];

/** What a LLaMA matrix is, for choosing its type: `tied-embedding` is a head tied to the token embedding. */
export type LlamaMatrixRole = 'matrix' | 'token-embedding' | 'tied-embedding' | 'head';

/** The type a matrix is quantized to (`name`: its checkpoint name, for errors), or undefined to keep it as stored. */
export type WeightTypeFn = (role: LlamaMatrixRole, name: string, shape: readonly [number, number]) => QuantDType | undefined;

/** `v` as a WeightQuant, or an error naming `what` (the option or flag) and the accepted values. */
export function checkWeightQuant(v: unknown, what: string): WeightQuant {
  if (typeof v === 'string' && (WEIGHT_QUANTS as readonly string[]).includes(v)) return v as WeightQuant;
  throw new Error(`${what} must be ${WEIGHT_QUANTS.join(' or ')}, got ${JSON.stringify(v)}`);
}
