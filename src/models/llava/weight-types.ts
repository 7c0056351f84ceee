/**
 * The one table of storage types per weight for a quantization scheme, used by `llava quantize` (GGUF files)
 * and by quantization at load time, so a model quantized either way holds the same bytes:
 *
 * | role                                   | f16  | q8_0 | q4_0 |
 * |----------------------------------------|------|------|------|
 * | norms, biases, class/position embedding | f32  | f32  | f32  |
 * | patch embedding (convolution)           | f16  | f16  | f16  |
 * | token embedding                          | f16  | q8_0 | q4_0 |
 * | output head (and a tied embedding)       | f16  | q8_0 | q8_0 |
 * | every other matrix (text, vision, projector) | f16 | q8_0 | q4_0 |
 *
 * A matrix whose rows are not a whole number of 32-element blocks stays f16. A head tied to the token
 * embedding is one tensor: it gets the head's type (llama.cpp does the same when a file has no output
 * tensor). The vision tower and projector ("mmproj") use f16 or q8_0 only.
 *
 * Not here: the quantization itself (engine/quant.ts), file layouts (gguf-*.ts).
 */
import { QK } from '../../engine/dtype.js';

export type QuantScheme = 'f16' | 'q8_0' | 'q4_0';
export type MmprojScheme = 'f16' | 'q8_0';
export type WeightStorage = 'f32' | 'f16' | 'q8_0' | 'q4_0';

export type WeightRole =
  | 'norm' | 'bias' | 'class-embedding' | 'position-embedding'
  | 'patch-embedding' | 'token-embedding' | 'tied-embedding' | 'head' | 'matrix';

export const QUANT_SCHEMES: readonly QuantScheme[] = ['f16', 'q8_0', 'q4_0'];
export const MMPROJ_SCHEMES: readonly MmprojScheme[] = ['f16', 'q8_0'];

/** Storage type of a weight of `role` and row-major `shape` under `scheme`. */
export function weightStorage(role: WeightRole, scheme: QuantScheme, shape: readonly number[]): WeightStorage {
  switch (role) {
    case 'norm': case 'bias': case 'class-embedding': case 'position-embedding': return 'f32';
    case 'patch-embedding': return 'f16';
    default: break;
  }
  let want: WeightStorage = scheme;
  if (scheme === 'q4_0' && (role === 'head' || role === 'tied-embedding')) want = 'q8_0';
  const row = shape[shape.length - 1] ?? 1;
  if (want !== 'f16' && (shape.length < 2 || row % QK !== 0)) return 'f16';
  return want;
}

export function parseQuantScheme(v: string, flag: string): QuantScheme {
  if ((QUANT_SCHEMES as readonly string[]).includes(v)) return v as QuantScheme;
  throw new Error(`${flag} must be one of ${QUANT_SCHEMES.join(', ')}, got ${JSON.stringify(v)}`);
}

export function parseMmprojScheme(v: string, flag: string): MmprojScheme {
  if ((MMPROJ_SCHEMES as readonly string[]).includes(v)) return v as MmprojScheme;
  throw new Error(`${flag} must be one of ${MMPROJ_SCHEMES.join(', ')}, got ${JSON.stringify(v)}`);
}
