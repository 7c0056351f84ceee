/**
 * Backend consistency suite: every row of the op table (test/engine/cases) on every backend against `ts`,
 * at each native ISA level (avx2 when the CPU has it, and the forced scalar path). The table is checked
 * against the op registry: an op × dtype without a row fails.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  Tensor, availableBackends, fallbackStats, fastNativeIsas, opRegistry, resetFallbackStats, setNativeIsa, withBackend,
  type IsaLevel,
} from '../../src/index.js';
import { assertClose } from '../helpers/assert.js';
import { allCases } from './cases/index.js';

function outputs(r: Tensor | Tensor[]): Tensor[] {
  return Array.isArray(r) ? r : [r];
}

test('the table has a row for every registered op × dtype', () => {
  const missing: string[] = [];
  for (const [name, def] of opRegistry()) {
    for (const dtype of def.dtypes) {
      if (!allCases.some((c) => c.op === name && c.dtype === dtype)) missing.push(`${name} × ${dtype}`);
    }
  }
  assert.deepEqual(missing, [], `ops without a consistency row: ${missing.join(', ')}`);
});

test('every row names a registered op and one of its dtypes', () => {
  for (const c of allCases) {
    const def = opRegistry().get(c.op);
    assert.ok(def, `row '${c.name}' names unknown op '${c.op}'`);
    assert.ok(def.dtypes.includes(c.dtype), `row '${c.name}': op '${c.op}' does not declare dtype ${c.dtype}`);
  }
});

const hasNative = availableBackends().includes('native');
const levels: IsaLevel[] = hasNative ? [...fastNativeIsas(), 'scalar'] : ['scalar'];

for (const level of levels) {
  describe(`native (${level}) against ts`, { skip: !hasNative && 'native addon not loaded' }, () => {
    for (const c of allCases) {
      test(`${c.op} ${c.dtype}: ${c.name}`, () => {
        const expected = withBackend('ts', () => outputs(c.run()));
        setNativeIsa(level);
        resetFallbackStats();
        let actual: Tensor[];
        try {
          actual = withBackend('native', () => outputs(c.run()));
        } finally {
          setNativeIsa();
        }
        const fell = [...fallbackStats().keys()];
        for (const k of c.nativeKernels ?? []) {
          const hit = fell.filter((f) => f.startsWith(`native:${k}:`));
          assert.deepEqual(hit, [], `native fell back to ts for kernel '${k}'`);
        }
        assert.equal(actual.length, expected.length);
        actual.forEach((a, i) => {
          assert.equal(a.dtype, expected[i]!.dtype, `output ${i} dtype`);
          if (c.exact) assertClose(a, expected[i]!, { atol: 0, rtol: 0 }, `output ${i}`);
          else assertClose(a, expected[i]!, { atol: c.atol ?? 1e-5, rtol: c.rtol ?? 1e-5 }, `output ${i}`);
        });
      });
    }
  });
}
