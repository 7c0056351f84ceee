/**
 * safetensors writer: exact bytes against a hand-assembled layout, alignment, round trips through the
 * reader, streaming (planned producers and async iterables), sharding with an index, and atomicity (a
 * failed write leaves no temporary file and the previous checkpoint intact).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { Tensor, f32ToF16Bits } from '../../src/index.js';
import { openSafetensors, readSafetensorsHeader, writeSafetensors, type PlannedTensor } from '../../src/io/index.js';
import { craftSafetensors, expected, f32Bytes, FIXTURES, matchesExpected, tempDir } from './helpers.js';

const root = tempDir();
let n = 0;
function folder(): string {
  const d = path.join(root, `w-${n++}`);
  mkdirSync(d);
  return d;
}
const f32 = (values: number[], shape = [values.length]) => new Tensor(new Float32Array(values), 'f32', shape);

test('bytes equal the hand-assembled layout: metadata first, larger items first, header padded to 8', async () => {
  const d = folder();
  const p = path.join(d, 'x.safetensors');
  const tensors = new Map<string, Tensor>([
    ['b', new Tensor(new Uint8Array([1, 2, 3]), 'u8', [3])],
    ['h', new Tensor(new Uint16Array([f32ToF16Bits(1)]), 'f16', [1])],
    ['w', f32([1, 2])],
  ]);
  const r = await writeSafetensors(p, tensors, { metadata: { format: 'pt' } });
  assert.deepEqual(r, { files: [p], index: null, totalBytes: 13 });
  let header = '{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
    '"h":{"dtype":"F16","shape":[1],"data_offsets":[8,10]},"b":{"dtype":"U8","shape":[3],"data_offsets":[10,13]}}';
  header += ' '.repeat((8 - ((8 + header.length) % 8)) % 8);
  const want = craftSafetensors(header, [...f32Bytes([1, 2]), 0x00, 0x3c, 1, 2, 3]);
  assert.deepEqual(new Uint8Array(readFileSync(p)), want);
  assert.deepEqual(readdirSync(d), ['x.safetensors'], 'no temporary file left');
});

test('every dtype round-trips bit for bit (Python-written fixture → writer → reader)', async () => {
  const src = openSafetensors(path.join(FIXTURES, 'dtypes.safetensors'));
  const p = path.join(folder(), 'rt.safetensors');
  await writeSafetensors(p, src.keys().map((k) => [k, src.get(k)] as const));
  const back = openSafetensors(p);
  for (const [name, e] of Object.entries(expected()['dtypes']!)) {
    // I64 is held as i32 by the engine and written back as I32.
    const want = e.dtype === 'I64' ? { ...e, dtype: 'I32' } : e;
    assert.equal(matchesExpected(back.get(name), want), null, name);
    assert.equal(back.info(name).storedAs, want.dtype);
  }
});

test('data starts at a multiple of 8 and each tensor at a multiple of its item size', async () => {
  const p = path.join(folder(), 'align.safetensors');
  await writeSafetensors(p, {
    flag: new Tensor(new Uint8Array([1, 0, 1]), 'bool', [3]),
    half: new Tensor(new Uint16Array(3), 'bf16', [3]),
    dbl: new Tensor(new Float64Array([0.1]), 'f64', [1]),
    'name with "quotes" and ünïcode': f32([7]),
  });
  const h = readSafetensorsHeader(p);
  assert.equal(h.dataStart % 8, 0);
  for (const e of h.entries.values()) assert.equal((h.dataStart + e.begin) % e.type.itemBytes, 0, e.name);
  assert.deepEqual(openSafetensors(p).get('name with "quotes" and ünïcode').toArray(), [7]);
});

test('a non-contiguous view is written in logical order', async () => {
  const base = f32([1, 2, 3, 4, 5, 6], [2, 3]);
  const transposed = base._view([3, 2], [1, 3], 0);
  const p = path.join(folder(), 't.safetensors');
  await writeSafetensors(p, { t: transposed, row: base._view([3], [1], 3) });
  const src = openSafetensors(p);
  assert.deepEqual(src.get('t').toArray(), [1, 4, 2, 5, 3, 6]);
  assert.deepEqual(src.get('row').toArray(), [4, 5, 6]);
});

test('planned tensors are produced one at a time, after the header is on disk', async () => {
  const d = folder();
  const produced: string[] = [];
  const planned: PlannedTensor[] = ['a', 'b', 'c'].map((name, i) => ({
    name, dtype: 'f32', shape: [2],
    produce: async () => {
      const temps = readdirSync(d).filter((f) => f.endsWith('.tmp'));
      assert.equal(temps.length, 1);
      assert.ok(statSync(path.join(d, temps[0]!)).size >= 8 + 100 + 8 * i, 'header and earlier tensors already written');
      produced.push(name);
      return f32([i, -i]);
    },
  }));
  await writeSafetensors(path.join(d, 'p.safetensors'), planned);
  assert.deepEqual(produced, ['a', 'b', 'c']);
  assert.deepEqual(openSafetensors(path.join(d, 'p.safetensors')).get('c').toArray(), [2, -2]);
});

const layers = (count: number) => Array.from({ length: count }, (_, i) => [`layer.${i}.w`, f32([i, i + 0.5, i + 0.25])] as const);

async function checkSharded(d: string, r: Awaited<ReturnType<typeof writeSafetensors>>): Promise<void> {
  const names = ['m-00001-of-00003.safetensors', 'm-00002-of-00003.safetensors', 'm-00003-of-00003.safetensors'];
  assert.deepEqual(r.files, names.map((f) => path.join(d, f)));
  assert.equal(r.index, path.join(d, 'm.safetensors.index.json'));
  assert.deepEqual(readdirSync(d).sort(), [...names, 'm.safetensors.index.json'].sort(), 'no temporary files left');
  const index = JSON.parse(readFileSync(r.index!, 'utf8'));
  // 5 tensors of 12 bytes, at most 2 per 24-byte shard.
  assert.deepEqual(index, {
    metadata: { total_size: 60 },
    weight_map: {
      'layer.0.w': names[0], 'layer.1.w': names[0], 'layer.2.w': names[1], 'layer.3.w': names[1], 'layer.4.w': names[2],
    },
  });
  assert.deepEqual(readSafetensorsHeader(r.files[0]!).metadata, { format: 'pt' });
  const src = openSafetensors(r.index!);
  for (const [name, t] of layers(5)) assert.deepEqual(src.get(name).toArray(), t.toArray(), name);
}

test('sharding by maximum size writes numbered shards and a sorted index (planned input)', async () => {
  const d = folder();
  const r = await writeSafetensors(path.join(d, 'm.safetensors'), new Map(layers(5)), { maxShardBytes: 24, metadata: { format: 'pt' } });
  await checkSharded(d, r);
});

test('sharding works the same from an async iterable (streamed input)', async () => {
  const d = folder();
  async function* gen() {
    for (const l of layers(5)) {
      await new Promise((res) => setImmediate(res));
      yield l;
    }
  }
  const r = await writeSafetensors(path.join(d, 'm.safetensors'), gen(), { maxShardBytes: 24, metadata: { format: 'pt' } });
  await checkSharded(d, r);
});

test('a tensor larger than the maximum gets a shard alone; everything fitting one shard writes no index', async () => {
  const d = folder();
  const r = await writeSafetensors(path.join(d, 'm.safetensors'), [['big', f32([1, 2, 3, 4])], ['s', f32([5])]], { maxShardBytes: 8 });
  assert.equal(r.files.length, 2);
  assert.deepEqual(readSafetensorsHeader(r.files[0]!).entries.get('big')!.end, 16);
  const d2 = folder();
  const r2 = await writeSafetensors(path.join(d2, 'm.safetensors'), new Map(layers(2)), { maxShardBytes: 1000 });
  assert.deepEqual(r2, { files: [path.join(d2, 'm.safetensors')], index: null, totalBytes: 24 });
});

test('rewriting in the other form removes the files it replaces', async () => {
  const d = folder();
  const target = path.join(d, 'm.safetensors');
  await writeSafetensors(target, new Map(layers(5)), { maxShardBytes: 24 });
  await writeSafetensors(target, new Map(layers(1)));
  assert.deepEqual(readdirSync(d), ['m.safetensors']);
  await writeSafetensors(target, new Map(layers(3)), { maxShardBytes: 24 });
  assert.deepEqual(readdirSync(d).sort(), ['m-00001-of-00002.safetensors', 'm-00002-of-00002.safetensors', 'm.safetensors.index.json']);
});

test('a failure while producing data leaves the old file intact and no temporary file', async () => {
  const d = folder();
  const target = path.join(d, 'm.safetensors');
  writeFileSync(target, 'old checkpoint');
  const planned: PlannedTensor[] = [
    { name: 'a', dtype: 'f32', shape: [1], produce: () => f32([1]) },
    { name: 'b', dtype: 'f32', shape: [1], produce: () => { throw new Error('producer failed'); } },
  ];
  await assert.rejects(writeSafetensors(target, planned), /producer failed/);
  async function* failing() {
    yield ['a', f32([1])] as const;
    throw new Error('stream failed');
  }
  await assert.rejects(writeSafetensors(target, failing(), { maxShardBytes: 2 }), /stream failed/);
  const mismatch: PlannedTensor[] = [{ name: 'a', dtype: 'f32', shape: [2], produce: () => f32([1]) }];
  await assert.rejects(writeSafetensors(target, mismatch), /tensor "a" was planned as f32 \[2\] but produced as f32 \[1\]/);
  assert.deepEqual(readdirSync(d), ['m.safetensors']);
  assert.equal(readFileSync(target, 'utf8'), 'old checkpoint');
});

test('invalid input is refused before anything is written', async () => {
  const d = folder();
  const target = path.join(d, 'm.safetensors');
  const q = new Tensor(new Uint8Array(34), 'q8_0', [1, 32]);
  await assert.rejects(writeSafetensors(target, { q }), /tensor "q" has dtype q8_0, which safetensors cannot store/);
  await assert.rejects(writeSafetensors(target, [['a', f32([1])], ['a', f32([2])]]), /tensor "a" is given twice/);
  await assert.rejects(writeSafetensors(target, { __metadata__: f32([1]) }), /invalid tensor name "__metadata__"/);
  await assert.rejects(writeSafetensors(target, {}, { metadata: { step: 3 as unknown as string } }), /__metadata__ value "step" is not a string/);
  await assert.rejects(writeSafetensors(target, {}, { maxShardBytes: 0 }), /maxShardBytes must be positive/);
  assert.deepEqual(readdirSync(d), []);
});
