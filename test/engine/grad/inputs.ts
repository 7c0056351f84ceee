/**
 * Seeded f64 leaf inputs for gradient checks: plain, positive, and non-contiguous (permuted, narrowed)
 * layouts. All are leaves (no graph) with requiresGrad set.
 */
import { noGrad, rand, randn, type Tensor } from '../../../src/index.js';

function leaf(t: Tensor): Tensor {
  t.requiresGrad = true;
  return t;
}

/** Standard normal f64 values. */
export function g64(shape: number[], seed: number): Tensor {
  return leaf(randn(shape, { seed, dtype: 'f64' }));
}

/** Values in [lo, lo + span): for ops defined on positive numbers, away from kinks. */
export function pos64(shape: number[], seed: number, lo = 0.5, span = 1.5): Tensor {
  const t = rand(shape, { seed, dtype: 'f64' });
  for (let i = 0; i < t.data.length; i++) t.data[i] = lo + span * t.data[i]!;
  return leaf(t);
}

/** A transposed view of shape `shape` (the last two dims swapped in storage). */
export function perm64(shape: number[], seed: number): Tensor {
  const n = shape.length;
  const stored = [...shape];
  [stored[n - 2], stored[n - 1]] = [stored[n - 1]!, stored[n - 2]!];
  return leaf(noGrad(() => randn(stored, { seed, dtype: 'f64' }).transpose(n - 2, n - 1)));
}

/** A view narrowed along the last dim (row stride larger than the row), of shape `shape`. */
export function narrow64(shape: number[], seed: number): Tensor {
  const n = shape.length;
  const stored = [...shape];
  stored[n - 1] = shape[n - 1]! + 3;
  return leaf(noGrad(() => randn(stored, { seed, dtype: 'f64' }).narrow(n - 1, 1, shape[n - 1]!)));
}
