import assert from 'node:assert/strict';
import { test } from 'node:test';
import { add, mul, noGrad, sum, tensor, exp, opRegistry } from '../../src/index.js';
import { assertClose } from '../helpers/assert.js';
import { gradcheck } from '../helpers/gradcheck.js';

test('a tensor used twice accumulates both gradients', () => {
  const x = tensor([1, 2, 3], { requiresGrad: true });
  const y = sum(mul(x, x)); // d/dx = 2x through two uses of x
  y.backward();
  assertClose(x.grad!, [2, 4, 6]);
});

test('gradients accumulate across backward calls into .grad', () => {
  const x = tensor([1, -2], { requiresGrad: true });
  sum(mul(x, 3)).backward();
  sum(mul(x, 3)).backward();
  assertClose(x.grad!, [6, 6]);
});

test('noGrad records nothing and detach cuts the graph', () => {
  const x = tensor([1, 2], { requiresGrad: true });
  const y = noGrad(() => mul(x, 2));
  assert.equal(y.node, null);
  assert.throws(() => sum(y).backward(), /does not require grad/);
  const m = mul(x, 2);
  const z = m.detach();
  assert.equal(z.node, null);
  assert.equal(z.data, m.data, 'detach shares storage');
  assert.throws(() => sum(z).backward(), /does not require grad/);
});

test('saved tensors are released after backward; a second backward is refused', () => {
  const x = tensor([0.5, 1.5], { requiresGrad: true });
  const e = exp(x);
  const y = sum(e);
  assert.ok(e.node!.saved.length > 0);
  y.backward();
  assert.equal(e.node!.saved.length, 0);
  assert.equal(e.node!.backward, null);
  assert.throws(() => y.backward(), /already released/);
});

test('broadcasting add/mul gradients reduce back to input shapes (f64 finite differences)', () => {
  const a = tensor([[0.3, -1.2, 2.0], [0.7, 0.1, -0.4]], { dtype: 'f64', requiresGrad: true });
  const b = tensor([1.5, -0.5, 0.25], { dtype: 'f64', requiresGrad: true });
  gradcheck((p, q) => mul(add(p, q), p), [a, b]);
});

test('every registered op declares dtypes', () => {
  for (const [name, def] of opRegistry()) assert.ok(def.dtypes.length > 0, name);
});
