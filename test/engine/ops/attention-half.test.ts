/**
 * scaledDotProductAttention over f16/bf16 keys and values (a half KV cache read in place) on the `ts`
 * reference: the result is bit for bit that of f32 keys and values holding the same (decoded) numbers, the
 * gradient reaches q exactly as it would through those f32 copies, and half k/v are frozen (no gradient,
 * even when marked). Native agreement is in test/engine/consistency.test.ts (cases/nn.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randn, scaledDotProductAttention as sdpa, tensor, to, withBackend, type Tensor } from '../../../src/index.js';

const rand = (shape: number[], seed: number) => randn(shape, { seed, dtype: 'f32' });

function bitsEqual(a: Tensor, b: Tensor, msg: string): void {
  assert.equal(a.dtype, b.dtype, msg);
  assert.deepEqual(a.shape, b.shape, msg);
  const x = new Uint32Array(Float32Array.from(a.toArray()).buffer);
  const y = new Uint32Array(Float32Array.from(b.toArray()).buffer);
  assert.deepEqual(x, y, msg);
}

test('ts: half k/v give bitwise the f32 result on k/v rounded to that half dtype', () => {
  withBackend('ts', () => {
    for (const half of ['f16', 'bf16'] as const) {
      const keyMask = tensor([Array.from({ length: 70 }, (_, j) => (j % 5 === 2 ? 0 : 1))], { dtype: 'bool' });
      const q = rand([1, 4, 3, 24], 1);
      // Narrowed views of a preallocated buffer, as a KV cache hands them out.
      const kh = to(rand([1, 2, 90, 24], 2), half).narrow(2, 0, 70);
      const vh = to(rand([1, 2, 90, 24], 3), half).narrow(2, 0, 70);
      const got = sdpa(q, kh, vh, { causal: true, keyMask });
      const want = sdpa(q, to(kh, 'f32'), to(vh, 'f32'), { causal: true, keyMask });
      assert.equal(got.dtype, 'f32');
      bitsEqual(got, want, `${half} forward`);
      // The values really were rounded: f32 keys that are not representable give another result.
      const raw = sdpa(q, rand([1, 2, 90, 24], 2).narrow(2, 0, 70), rand([1, 2, 90, 24], 3).narrow(2, 0, 70), { causal: true, keyMask });
      assert.notDeepEqual(raw.toArray(), got.toArray(), `${half}: rounding is visible`);
    }
  });
});

test('ts: the gradient reaches q through half k/v; half k/v are frozen', () => {
  withBackend('ts', () => {
    const g = rand([1, 4, 2, 16], 7);
    const run = (k: Tensor, v: Tensor) => {
      const q = rand([1, 4, 2, 16], 4);
      q.requiresGrad = true;
      const out = sdpa(q, k, v, { causal: true });
      out.backward(g);
      return { out, gq: q.grad! };
    };
    const kh = to(rand([1, 2, 9, 16], 5), 'f16');
    const vh = to(rand([1, 2, 9, 16], 6), 'f16');
    kh.requiresGrad = vh.requiresGrad = true;
    const half = run(kh, vh);
    const full = run(to(kh, 'f32'), to(vh, 'f32'));
    bitsEqual(half.out, full.out, 'forward');
    bitsEqual(half.gq, full.gq, 'gradient of q');
    assert.equal(kh.grad, null, 'no gradient into half keys');
    assert.equal(vh.grad, null, 'no gradient into half values');
  });
});
