/**
 * Factory behaviour that must match torch: arange's default dtype and float steps, bool conversion of
 * NaN (nonzero is true).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { arange, full, tensor, to } from '../../../src/index.js';

test('arange picks i32 for integer arguments and f32 otherwise', () => {
  const i = arange(5, 0, -2);
  assert.equal(i.dtype, 'i32');
  assert.deepEqual(i.toArray(), [5, 3, 1]);
  const f = arange(0, 1, 0.25);
  assert.equal(f.dtype, 'f32');
  assert.deepEqual(f.toArray(), [0, 0.25, 0.5, 0.75]);
  assert.equal(arange(0.5, 3).dtype, 'f32');
  assert.deepEqual(arange(0.5, 3).toArray(), [0.5, 1.5, 2.5]);
  assert.equal(arange(4, undefined, 1, 'f64').dtype, 'f64');
});

test('NaN converts to bool true, as any nonzero value', () => {
  assert.deepEqual(to(tensor([0, 0.5, NaN, -0]), 'bool').toArray(), [0, 1, 1, 0]);
  assert.deepEqual(tensor([NaN, 0], { dtype: 'bool' }).toArray(), [1, 0]);
  assert.deepEqual(full([2], NaN, 'bool').toArray(), [1, 1]);
});
