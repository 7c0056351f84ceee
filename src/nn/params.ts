/**
 * Pulling parameters out of a WeightSource in the dtype the engine computes with them: matrices that
 * only `linear`/`embedding`/`conv2d` read stay in their stored dtype (f16/bf16 weights are never expanded),
 * while vectors that meet activations elementwise (norm weights, biases, class and position embeddings)
 * are converted to f32 once at load; they are a tiny fraction of a model.
 *
 * Not here: which names a model asks for (model files), file formats (src/io).
 */
import { isHalf, isQuant } from '../engine/dtype.js';
import { to } from '../engine/ops/view.js';
import type { Tensor } from '../engine/tensor.js';

/** What these helpers need of a weight source (src/io's WeightSource has it; nn does not import io). */
export interface TensorSource {
  get(name: string, shape?: readonly number[]): Tensor;
}

/** A matrix read by linear/embedding/conv2d: f32, f16, bf16, q8_0 or q4_0 as stored (f64 is narrowed to f32). */
export function matrix(src: TensorSource, name: string, shape: readonly number[]): Tensor {
  const t = src.get(name, shape);
  if (t.dtype === 'f32' || isHalf(t.dtype) || isQuant(t.dtype)) return t;
  if (t.dtype === 'f64') return to(t, 'f32');
  throw new Error(`tensor "${name}" has dtype ${t.dtype}; weights must be f32, f16, bf16, q8_0, q4_0 or f64`);
}

/** A parameter combined elementwise with f32 activations: converted to f32. */
export function vector(src: TensorSource, name: string, shape: readonly number[]): Tensor {
  const t = matrix(src, name, shape);
  return t.dtype === 'f32' ? t : to(t, 'f32');
}

/** `vector` when `present`, else null (optional biases). */
export function optionalVector(src: TensorSource, name: string, shape: readonly number[], present: boolean): Tensor | null {
  return present ? vector(src, name, shape) : null;
}
