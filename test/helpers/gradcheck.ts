/**
 * Finite-difference gradient check in f64: compares autograd gradients of L = Σ w ⊙ f(inputs) (w fixed
 * random weights, so every output element matters) against central differences, input by input.
 */
import { Rng, Tensor, backward, mul, noGrad, sum, tensor, withBackend } from '../../src/index.js';
import { assertClose } from './assert.js';

export interface GradcheckOptions {
  eps?: number;
  atol?: number;
  rtol?: number;
  seed?: number;
  /** Indices of inputs to check (default: all that require grad). */
  only?: number[];
}

/** Inputs must be f64 leaves; those with requiresGrad are checked. Runs on the ts backend. */
export function gradcheck(fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[], opts: GradcheckOptions = {}): void {
  const { eps = 1e-6, atol = 1e-7, rtol = 1e-5, seed = 7 } = opts;
  withBackend('ts', () => {
    for (const x of inputs) {
      if (x.dtype !== 'f64' && x.requiresGrad) throw new Error(`gradcheck: input ${x} must be f64`);
      x.grad = null;
    }
    const out0 = fn(...inputs);
    const rng = new Rng(seed);
    const w = tensor(Array.from({ length: out0.numel }, () => rng.normal()), { dtype: 'f64', shape: out0.shape });
    const loss = (o: Tensor) => sum(mul(o, w));
    backward(loss(out0));
    const check = opts.only ?? inputs.map((x, i) => (x.requiresGrad ? i : -1)).filter((i) => i >= 0);
    for (const i of check) {
      const x = inputs[i]!;
      const analytic = x.grad ? x.grad.toArray() : new Array<number>(x.numel).fill(0);
      const numeric = new Array<number>(x.numel);
      const offs = x.elementOffsets();
      noGrad(() => {
        for (let k = 0; k < x.numel; k++) {
          const o = offs[k]!;
          const orig = x.data[o]!;
          x.data[o] = orig + eps;
          const lp = loss(fn(...inputs)).item();
          x.data[o] = orig - eps;
          const lm = loss(fn(...inputs)).item();
          x.data[o] = orig;
          numeric[k] = (lp - lm) / (2 * eps);
        }
      });
      assertClose(analytic, numeric, { atol, rtol }, `gradient of input ${i} (${x.shape.join('x')})`);
    }
  });
}
