/**
 * One row of the backend consistency table: an op on one dtype with deterministic inputs. The suite runs
 * `run` on `ts` and on every other backend (native at each ISA level) and compares the outputs.
 */
import type { DType, Tensor } from '../../../src/index.js';

export interface OpCase {
  /** Name in the op registry. */
  op: string;
  /** The dtype row of the op this case covers (the op's primary input / weight dtype). */
  dtype: DType;
  /** What is special about the case: "odd sizes", "broadcast", "transposed view", "size 1", … */
  name: string;
  /** Builds inputs (seeded) and calls the op; the result(s) are compared across backends. */
  run: () => Tensor | Tensor[];
  /** Tolerance against `ts` (default atol 1e-5, rtol 1e-5); `exact` demands equal values. */
  atol?: number;
  rtol?: number;
  exact?: boolean;
  /**
   * Kernels that the native backend must run itself for this case at ISA levels scalar and avx2 (no
   * fallback to ts allowed), e.g. ['binary']. Empty: fallback is acceptable (f64 rows, rare dtypes).
   */
  nativeKernels?: string[];
}
