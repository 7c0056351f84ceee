/**
 * Pulling parameters out of a WeightSource in the dtype the engine computes with them: matrices that
 * only `linear`/`embedding`/`conv2d` read stay in their stored dtype (f16/bf16 weights are never expanded),
 * while vectors that meet activations elementwise (norm weights, biases, class and position embeddings)
 * are converted to f32 once at load; they are a tiny fraction of a model.
 *
 * `quantizeWeight` turns such a matrix into q8_0/q4_0 blocks at load (the `quant` load option), a slice of
 * rows at a time so that no f32 copy of a whole matrix ever exists, and gives the source's file-mapped
 * pages back to the OS afterwards so that the float weights stop counting in the process's memory.
 *
 * Not here: which names a model asks for (model files), which tensors get which type (the model's load),
 * file formats (src/io), the block formats (engine/quant.ts).
 */
import { dispatch } from '../engine/backend.js';
import { isFloat, isHalf, isQuant, QK, type QuantDType } from '../engine/dtype.js';
import { releaseMappedPages } from '../engine/file-map.js';
import { empty } from '../engine/ops/factory.js';
import { narrow, to } from '../engine/ops/view.js';
import { fmtShape } from '../engine/shape.js';
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

/** f32 values per slice of rows converted and quantized at once (4 MiB: reused heap memory, no page faults). */
const SLICE_VALUES = 1 << 20;

/**
 * A float matrix [N, K] (f32/f64/f16/bf16, e.g. from `matrix`) as `dtype` blocks, bit for bit what
 * `quantize(to(w, 'f32'), dtype)` gives (blocks never span rows, so slicing the rows changes nothing).
 * K must be a multiple of 32; the error names the tensor (`name`, else the tensor's own name).
 * When the source is a view of a mapped file its pages are released afterwards: it stays readable but
 * should not be kept.
 */
export function quantizeWeight(w: Tensor, dtype: QuantDType, name = w.name ?? 'weight'): Tensor {
  if (isQuant(w.dtype)) {
    throw new Error(`tensor "${name}" is stored as ${w.dtype} and cannot be quantized again to ${dtype}: quantizing at load applies to float weights`);
  }
  if (!(isFloat(w.dtype) || isHalf(w.dtype)) || w.ndim !== 2) {
    throw new Error(`tensor "${name}" (${w.dtype} ${fmtShape(w.shape)}) cannot be quantized to ${dtype}: expected a float matrix [out, in]`);
  }
  const [N, K] = w.shape as [number, number];
  if (K % QK !== 0) {
    throw new Error(`tensor "${name}" ${fmtShape(w.shape)} cannot be quantized to ${dtype}: its ${K} input features are not a multiple of ${QK} (the ${dtype} block size)`);
  }
  const out = empty([N, K], dtype);
  const rows = Math.min(N, Math.max(1, Math.floor(SLICE_VALUES / K)));
  const direct = w.dtype === 'f32' && w.strides[1] === 1;
  // One f32 buffer reused for every slice: converting leaves no garbage behind, whatever the collector does.
  const scratch = direct ? null : empty([rows, K], 'f32');
  for (let r = 0; r < N; r += rows) {
    const n = Math.min(rows, N - r);
    let x = narrow(w, 0, r, n);
    if (scratch) {
      const into = n === rows ? scratch : narrow(scratch, 0, 0, n);
      dispatch('copy', into, x); // the copy kernel converts any float dtype to f32
      x = into;
    }
    // The quantize kernel's contract (validated above): out [n, K] q8_0/q4_0, x [n, K] f32 with unit-stride rows.
    dispatch('quantize', narrow(out, 0, r, n), x);
  }
  releaseMappedPages(w.data.buffer);
  return out;
}
