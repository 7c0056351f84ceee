/**
 * Scalar math that JavaScript lacks: erf (for exact GELU). Accurate to ~1e-15 relative so that f64
 * finite-difference gradient checks of gelu are meaningful.
 */

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

/**
 * erf(x) = 2/√π · e^(−x²) · Σ_{n≥0} x·(2x²)^n / (2n+1)!!  — a series of positive terms (no cancellation),
 * summed until it stops changing; |x| ≥ 6 is ±1 to double precision.
 */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax >= 6) return Math.sign(x);
  const x2 = 2 * ax * ax;
  let term = ax;
  let sum = ax;
  for (let n = 0; n < 500; n++) {
    term *= x2 / (2 * n + 3);
    const next = sum + term;
    if (next === sum) break;
    sum = next;
  }
  const r = TWO_OVER_SQRT_PI * Math.exp(-ax * ax) * sum;
  return x < 0 ? -r : r;
}
