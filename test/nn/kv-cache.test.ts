/**
 * KVCache.read hands out views of its buffers in the cache's own dtype (an f16 cache is not converted to
 * f32 on every forward): the views hold exactly what was written (rounded to f16), cover [0, length + T),
 * and share storage with the cache, so positions written later show through a view taken earlier.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tensor, to } from '../../src/index.js';
import { KVCache } from '../../src/nn/kv-cache.js';

const kv = (T: number, base: number) => tensor(Array.from({ length: 2 * T * 3 }, (_, i) => base + i / 3), { shape: [1, 2, T, 3] });

test('read returns f16 (and f32) views of the cache with no copy', () => {
  for (const dtype of ['f16', 'f32'] as const) {
    const cache = new KVCache({ layers: 2, batch: 1, kvHeads: 2, headDim: 3, maxLength: 8, dtype });
    const [k0, v0] = [kv(2, 0.1), kv(2, 7.3)];
    cache.write(1, k0, v0);
    const { k, v } = cache.read(1, 2);
    assert.equal(k.dtype, dtype);
    assert.equal(v.dtype, dtype);
    assert.deepEqual(k.shape, [1, 2, 2, 3]);
    assert.deepEqual(k.toArray(), to(to(k0, dtype), 'f32').toArray());
    assert.deepEqual(v.toArray(), to(to(v0, dtype), 'f32').toArray());
    // The next forward writes at [2, 3): a view taken now over 3 positions sees it once written.
    cache.advance(2);
    const later = cache.read(1, 1);
    cache.write(1, kv(1, 50), kv(1, 60));
    assert.equal(later.k.narrow(2, 2, 1).toArray()[0], 50, `${dtype}: the view shares the cache's storage`);
    assert.throws(() => cache.read(2, 1), /KVCache: layer 2 out of range \(2 layers\)/);
  }
});
