/**
 * One finite-difference gradient check of a registered op (see gradcheck.test.ts, which fails when a
 * differentiable op of the registry has none).
 */
export interface GradCase {
  /** Name in the op registry. */
  op: string;
  /** What the case exercises: broadcasting, a permuted input, a tensor used twice, … */
  name: string;
  /** ts kernels owned elsewhere that the case needs (skipped with the reason until they exist). */
  needs?: ('linear' | 'embedding')[];
  /** Runs gradcheck (throws on mismatch). */
  run: () => void;
}
