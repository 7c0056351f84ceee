/**
 * Finite-difference gradient checks (f64, ts backend) for every differentiable op in the registry; the
 * first test fails when a differentiable op (one with a backward, or a composite) has no check.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { opRegistry } from '../../src/index.js';
import { tsKernelsPending } from '../helpers/kernels.js';
import { basicCases } from './grad/basic.js';
import { nnCases } from './grad/nn.js';

const cases = [...basicCases, ...nnCases];

test('every differentiable op of the registry has a gradient check', () => {
  const missing: string[] = [];
  for (const [name, def] of opRegistry()) {
    const differentiable = def.differentiable ?? (typeof def.backward === 'function' || def.composite === true);
    if (differentiable && !cases.some((c) => c.op === name)) missing.push(name);
  }
  assert.deepEqual(missing, [], `differentiable ops without a gradient check: ${missing.join(', ')}`);
  for (const c of cases) assert.ok(opRegistry().has(c.op), `gradient check '${c.name}' names unknown op '${c.op}'`);
});

for (const c of cases) {
  const skip = tsKernelsPending(c.needs ?? []);
  test(`gradcheck ${c.op}: ${c.name}`, { skip }, () => c.run());
}
