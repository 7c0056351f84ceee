/**
 * Numeric assertions for tests: elementwise closeness with stated tolerances, reporting the worst element.
 */
import assert from 'node:assert/strict';
import { Tensor } from '../../src/index.js';

export interface Tol {
  atol?: number;
  rtol?: number;
}

function values(x: Tensor | ArrayLike<number>): number[] {
  return x instanceof Tensor ? x.toArray() : Array.from(x);
}

/** |a − e| ≤ atol + rtol·|e| for every element (NaN matches NaN); shapes must agree for tensors. */
export function assertClose(actual: Tensor | ArrayLike<number>, expected: Tensor | ArrayLike<number>, tol: Tol = {}, msg = ''): void {
  const { atol = 1e-6, rtol = 1e-5 } = tol;
  if (actual instanceof Tensor && expected instanceof Tensor) {
    assert.deepEqual([...actual.shape], [...expected.shape], `${msg} shape`);
  }
  const a = values(actual);
  const e = values(expected);
  assert.equal(a.length, e.length, `${msg} length`);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = e[i]!;
    if (Number.isNaN(x) && Number.isNaN(y)) continue;
    if (x === y) continue;
    const excess = Math.abs(x - y) - (atol + rtol * Math.abs(y));
    if (!(excess <= 0) && (worst < 0 || excess > worstExcess || Number.isNaN(excess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    assert.fail(`${msg}: element ${worst} is ${a[worst]}, expected ${e[worst]} (atol ${atol}, rtol ${rtol}; ${a.length} elements)`);
  }
}

/** Bitwise equality of the logical values. */
export function assertExact(actual: Tensor | ArrayLike<number>, expected: Tensor | ArrayLike<number>, msg = ''): void {
  assertClose(actual, expected, { atol: 0, rtol: 0 }, msg);
}
