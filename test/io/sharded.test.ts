/**
 * Sharded safetensors checkpoints (index + shards assembled by hand) and the file-backed WeightSource
 * behaviour: union of shard keys, prefix views, unused keys, errors naming the shard, and every index
 * inconsistency refused with both files named.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { openSafetensors } from '../../src/io/index.js';
import { craftSafetensors, f32Bytes, tempDir } from './helpers.js';

const root = tempDir();
let n = 0;
const w = (dtype: string, shape: number[], begin: number, end: number) => ({ dtype, shape, data_offsets: [begin, end] });

/** A folder with two shards (a.*, b.*) and an index; `index` overrides the weight_map / whole index. */
function sharded(index?: (wm: Record<string, string>) => unknown): string {
  const dir = path.join(root, `ckpt-${n++}`);
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'model-00001-of-00002.safetensors'),
    craftSafetensors({ 'a.weight': w('F32', [2], 0, 8), 'a.bias': w('F32', [1], 8, 12) }, f32Bytes([1, 2, 3])));
  writeFileSync(path.join(dir, 'model-00002-of-00002.safetensors'),
    craftSafetensors({ 'b.weight': w('F32', [1, 2], 0, 8) }, f32Bytes([4, 5])));
  const wm: Record<string, string> = {
    'a.weight': 'model-00001-of-00002.safetensors',
    'a.bias': 'model-00001-of-00002.safetensors',
    'b.weight': 'model-00002-of-00002.safetensors',
  };
  const body = index ? index(wm) : { metadata: { total_size: 20 }, weight_map: wm };
  const p = path.join(dir, 'model.safetensors.index.json');
  writeFileSync(p, typeof body === 'string' ? body : JSON.stringify(body));
  return p;
}

test('a sharded checkpoint serves the union of its shards through prefix views', () => {
  const src = openSafetensors(sharded());
  assert.deepEqual(src.keys().sort(), ['a.bias', 'a.weight', 'b.weight']);
  const a = src.prefix('a');
  assert.deepEqual(a.keys().sort(), ['bias', 'weight']);
  assert.deepEqual(a.get('weight', [2]).toArray(), [1, 2]);
  assert.deepEqual(src.get('b.weight').toArray(), [4, 5]);
  assert.deepEqual(src.unused(), ['a.bias']);
  assert.deepEqual(a.unused(), ['bias']);
  assert.throws(() => src.get('b.weight', [2]), /tensor "b\.weight" in .*model-00002-of-00002\.safetensors has shape \[1, 2\], expected \[2\]/);
  assert.throws(() => a.get('missing'), /missing tensor "a\.missing"/);
  assert.deepEqual(src.prefix('b').info('weight'), { dtype: 'f32', shape: [1, 2], storedAs: 'F32' });
});

test('a tensor found in a shard but not in the weight_map is still served', () => {
  const src = openSafetensors(sharded((wm) => ({ weight_map: { 'a.weight': wm['a.weight'], 'b.weight': wm['b.weight'] } })));
  assert.deepEqual(src.get('a.bias').toArray(), [3]);
});

const BAD: { name: string; index: (wm: Record<string, string>) => unknown; error: RegExp }[] = [
  { name: 'a mapped name absent from its shard', index: (wm) => ({ weight_map: { ...wm, 'c.weight': wm['a.weight'] } }), error: /tensor "c\.weight" is mapped to .*model-00001-of-00002\.safetensors, which does not contain it/ },
  { name: 'a name mapped to the wrong shard', index: (wm) => ({ weight_map: { ...wm, 'a.bias': wm['b.weight'] } }), error: /tensor "a\.bias" is mapped to .*model-00002-of-00002\.safetensors/ },
  { name: 'a shard path leaving the folder', index: (wm) => ({ weight_map: { ...wm, 'a.bias': '../other.safetensors' } }), error: /"a\.bias" points outside the checkpoint folder/ },
  { name: 'an absolute shard path', index: (wm) => ({ weight_map: { ...wm, 'a.bias': '/etc/passwd' } }), error: /"a\.bias" points outside the checkpoint folder/ },
  { name: 'a missing shard file', index: (wm) => ({ weight_map: { ...wm, 'c.weight': 'model-00003-of-00003.safetensors' } }), error: /shard .*model-00003-of-00003\.safetensors listed in the weight_map does not exist/ },
  { name: 'no weight_map', index: () => ({ metadata: {} }), error: /missing "weight_map" object/ },
  { name: 'an empty weight_map', index: () => ({ weight_map: {} }), error: /weight_map is empty/ },
  { name: 'malformed JSON', index: () => '{"weight_map": {', error: /index\.json is malformed JSON/ },
  {
    name: 'a duplicate name in the weight_map',
    index: () => '{"weight_map": {"a.weight": "model-00001-of-00002.safetensors", "a.weight": "model-00002-of-00002.safetensors"}}',
    error: /duplicate key inside "weight_map": "a\.weight"/,
  },
];

for (const c of BAD) {
  test(`an index with ${c.name} is refused`, () => {
    const p = sharded(c.index);
    assert.throws(() => openSafetensors(p), (e: Error) => {
      assert.match(e.message, c.error);
      assert.ok(e.message.includes(p), `names the index: ${e.message}`);
      return true;
    });
  });
}

test('a tensor present in two shards is refused, naming both', () => {
  const p = sharded((wm) => ({ weight_map: wm }));
  writeFileSync(path.join(path.dirname(p), 'model-00002-of-00002.safetensors'),
    craftSafetensors({ 'a.bias': w('F32', [1], 0, 4), 'b.weight': w('F32', [1, 2], 4, 12) }, f32Bytes([9, 4, 5])));
  assert.throws(() => openSafetensors(p), /tensor "a\.bias" is in both .*00001-of-00002\.safetensors and .*00002-of-00002\.safetensors/);
});
