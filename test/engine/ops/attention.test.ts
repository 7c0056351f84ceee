/**
 * rope, ropeTables and scaledDotProductAttention: rotations of unit vectors, the HF LLaMA f32 table
 * formula, attention outputs derivable by hand (one key, known probabilities, GQA head mapping, causal
 * with a KV-cache prefix, masks), and errors.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { arange, full, rope, ropeTables, scaledDotProductAttention as sdpa, tensor, zeros } from '../../../src/index.js';
import { assertClose } from '../../helpers/assert.js';

test('rope rotates each (x[i], x[i + D/2]) pair by its angle', () => {
  const c = Math.cos(Math.PI / 3);
  const s = Math.sin(Math.PI / 3);
  const cos = tensor([[c, 1]], { dtype: 'f64' });
  const sin = tensor([[s, 0]], { dtype: 'f64' });
  // D = 4: pairs (0, 2) rotate by π/3, pairs (1, 3) by 0.
  const e0 = tensor([1, 0, 0, 0], { dtype: 'f64', shape: [1, 1, 1, 4] });
  const e2 = tensor([0, 0, 1, 0], { dtype: 'f64', shape: [1, 1, 1, 4] });
  const e1 = tensor([0, 1, 0, 0], { dtype: 'f64', shape: [1, 1, 1, 4] });
  assertClose(rope(e0, cos, sin), [c, 0, s, 0], { atol: 1e-15 });
  assertClose(rope(e2, cos, sin), [-s, 0, c, 0], { atol: 1e-15 });
  assertClose(rope(e1, cos, sin), [0, 1, 0, 0], { atol: 0 });
});

test('rope takes per-batch tables [B, T, D/2] and head-split (non-contiguous) x', () => {
  const cos = tensor([[[0]], [[-1]]]); // batch 0: +90°, batch 1: 180°
  const sin = tensor([[[1]], [[0]]]);
  const x = tensor([[[[1, 2]]], [[[1, 2]]]]).permute(0, 2, 1, 3); // [2, 1, 1, 2]
  assertClose(rope(x, cos, sin), [-2, 1, -1, -2]);
});

test('ropeTables follow the HF LLaMA f32 formula', () => {
  const f = Math.fround;
  const { cos, sin } = ropeTables(tensor([0, 1, 7], { dtype: 'i32' }), 4, 10000);
  assert.deepEqual(cos.shape, [3, 2]);
  assert.equal(cos.dtype, 'f32');
  const inv = [1, f(1 / f(Math.pow(10000, 0.5)))]; // fl(1/100)
  const angles = [0, 1, 7].flatMap((p) => inv.map((v) => f(p * v)));
  assertClose(cos, angles.map((a) => f(Math.cos(a))), { atol: 0, rtol: 0 });
  assertClose(sin, angles.map((a) => f(Math.sin(a))), { atol: 0, rtol: 0 });
  const batched = ropeTables(tensor([[0, 1], [5, 6]], { dtype: 'i32' }), 2, 500000);
  assert.deepEqual(batched.cos.shape, [2, 2, 1]);
  assertClose(batched.sin, [0, Math.sin(1), Math.sin(5), Math.sin(6)].map(f), { atol: 0, rtol: 0 });
  assert.throws(() => ropeTables(arange(3, undefined, 1, 'f32'), 4), /ropeTables: positions must be i32/);
  assert.throws(() => ropeTables(arange(3), 5), /ropeTables: headDim must be a positive even integer, got 5/);
});

test('attention with one key returns its value', () => {
  const q = tensor([[[[0.3, -2]]]]);
  const k = tensor([[[[5, 1]]]]);
  const v = tensor([[[[7, -1, 2]]]]);
  assertClose(sdpa(q, k, v), [7, -1, 2]);
});

test('attention with scores [0, ln 3] weights the values 1/4, 3/4', () => {
  const q = tensor([[[[1, 0]]]]);
  const k = tensor([[[[0, 9], [Math.log(3), -4]]]]);
  const v = tensor([[[[4, 0], [0, 8]]]]);
  assertClose(sdpa(q, k, v, { scale: 1 }), [1, 6]);
  // Default scale 1/sqrt(D): scores [0, ln 9] with D = 4 and q = [2, 0, 0, 0] → weights 1/10, 9/10.
  const q4 = tensor([[[[2, 0, 0, 0]]]]);
  const k4 = tensor([[[[0, 0, 0, 0], [Math.log(9), 0, 0, 0]]]]);
  assertClose(sdpa(q4, k4, v), [0.4, 7.2]);
});

test('GQA: query head h uses kv head floor(h·Hkv/Hq)', () => {
  const q = zeros([1, 4, 1, 2]);
  const k = zeros([1, 2, 1, 2]);
  const v = tensor([[[[10]], [[20]]]]); // one key per kv head
  assertClose(sdpa(q, k, v), [10, 10, 20, 20]);
});

test('causal attention puts the queries at the last positions (KV-cache prefix)', () => {
  // q = 0: every visible key gets the same weight, so outputs are means of the visible values.
  const v = tensor([[[[1], [2], [6]]]]);
  const k = zeros([1, 1, 3, 2]);
  assertClose(sdpa(zeros([1, 1, 2, 2]), k, v, { causal: true }), [1.5, 3]);
  assertClose(sdpa(zeros([1, 1, 3, 2]), k, v, { causal: true }), [1, 1.5, 3]);
  assertClose(sdpa(zeros([1, 1, 1, 2]), k, v, { causal: true }), [3]);
});

test('a key mask hides keys; a query that sees no key yields zeros', () => {
  const v = tensor([[[[1], [2], [6]]], [[[1], [2], [6]]]]);
  const k = zeros([2, 1, 3, 2]);
  const keyMask = tensor([[1, 0, 1], [0, 0, 1]], { dtype: 'bool' });
  assertClose(sdpa(zeros([2, 1, 1, 2]), k, v, { keyMask }), [3.5, 6]);
  // Causal too: in batch 1 the first query (position 1) sees keys 0, 1, both masked.
  assertClose(sdpa(zeros([2, 1, 2, 2]), k, v, { keyMask, causal: true }), [1, 3.5, 0, 6]);
});

test('attention errors name the op and the shapes', () => {
  const q = zeros([1, 3, 2, 4]);
  assert.throws(() => sdpa(q, zeros([1, 2, 2, 4]), zeros([1, 2, 2, 4])), /scaledDotProductAttention: query heads \(3\) must be a multiple of kv heads \(2\): q f32 \[1, 3, 2, 4\], k f32 \[1, 2, 2, 4\]/);
  assert.throws(() => sdpa(q, zeros([1, 1, 2, 5]), zeros([1, 1, 2, 4])), /q and k head dims differ/);
  assert.throws(() => sdpa(q, zeros([1, 1, 2, 4]), zeros([1, 1, 3, 4])), /k and v must have the same heads and length/);
  assert.throws(() => sdpa(q, zeros([1, 1, 1, 4]), zeros([1, 1, 1, 4]), { causal: true }), /causal attention needs at least as many keys \(1\) as queries \(2\)/);
  assert.throws(() => sdpa(q, zeros([1, 1, 2, 4]), zeros([1, 1, 2, 4]), { keyMask: full([1, 2], 1) }), /keyMask must be bool \[1, 2\], got f32 \[1, 2\]/);
  assert.throws(() => sdpa(q, zeros([1, 1, 2, 4], 'f64'), zeros([1, 1, 2, 4])), /k and v must share q's dtype or one half dtype \(f16\/bf16\): q f32 \[1, 3, 2, 4\], k f64/);
  assert.throws(() => sdpa(q, zeros([1, 1, 2, 4], 'f16'), zeros([1, 1, 2, 4])), /k and v must share q's dtype or one half dtype/);
  assert.throws(() => sdpa(q, zeros([1, 1, 2, 4], 'f16'), zeros([1, 1, 2, 4], 'bf16')), /k and v must share q's dtype or one half dtype/);
  assert.throws(() => sdpa(zeros([1, 1, 2, 4], 'f16'), zeros([1, 1, 2, 4], 'f16'), zeros([1, 1, 2, 4], 'f16')), /scaledDotProductAttention: q must be f32 or f64: q f16/);
  assert.throws(() => rope(zeros([1, 1, 2, 3]), zeros([2, 1]), zeros([2, 1])), /rope: x must be f32\/f64 \[B, H, T, D\] with D even, got f32 \[1, 1, 2, 3\]/);
  assert.throws(() => rope(zeros([1, 1, 2, 4]), zeros([3, 2]), zeros([2, 2])), /rope: cos must be f32 \[2, 2\] or \[1, 2, 2\] for x f32 \[1, 1, 2, 4\], got f32 \[3, 2\]/);
});
