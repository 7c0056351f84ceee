/**
 * safetensors reader: a file written byte by byte by the Python generator (every dtype, bit-exact), header
 * validation errors on hand-corrupted files (each must name the file, the tensor and the byte range),
 * unaligned offsets, I64/BOOL conversion checks, and lazy reading of a sparse multi-GiB file.
 */
import assert from 'node:assert/strict';
import { appendFileSync, openSync, closeSync, statSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { openSafetensors, SafetensorsFile } from '../../src/io/index.js';
import { craftSafetensors, expected, f32Bytes, FIXTURES, matchesExpected, tempDir } from './helpers.js';

const dir = tempDir();
let counter = 0;
function file(bytes: Uint8Array): string {
  const p = path.join(dir, `case-${counter++}.safetensors`);
  writeFileSync(p, bytes);
  return p;
}
const w = (dtype: string, shape: number[], begin: number, end: number) => ({ dtype, shape, data_offsets: [begin, end] });

test('reads every dtype of a file written by hand in Python, bit for bit', () => {
  const p = path.join(FIXTURES, 'dtypes.safetensors');
  const src = openSafetensors(p);
  const exp = expected()['dtypes']!;
  // Header order as the generator wrote it.
  assert.deepEqual(src.keys(), ['f32', 'f16', 'bf16', 'f64', 'i64', 'i32', 'u8', 'bool', 'scalar', 'empty']);
  assert.deepEqual(src.keys().sort(), Object.keys(exp).sort());
  for (const [name, e] of Object.entries(exp)) {
    const t = src.get(name);
    assert.equal(matchesExpected(t, e), null, name);
    assert.equal(t.name, name);
  }
  assert.deepEqual({ ...new SafetensorsFile(p).metadata }, { format: 'pt', note: 'hand-written' });
  assert.deepEqual(src.info('i64'), { dtype: 'i32', shape: [2, 3], storedAs: 'I64' });
  assert.deepEqual(src.unused(), []);
});

test('unaligned data offsets are read by copying', () => {
  const data = [7, 8, 9, ...f32Bytes([1.5, -2.25]), 0x00, 0x3c];
  const p = file(craftSafetensors({ a: w('U8', [3], 0, 3), b: w('F32', [2], 3, 11), c: w('F16', [1], 11, 13) }, data));
  const src = openSafetensors(p);
  assert.deepEqual(src.get('a').toArray(), [7, 8, 9]);
  assert.deepEqual(src.get('b').toArray(), [1.5, -2.25]);
  assert.deepEqual(src.get('c').toArray(), [1]);
});

interface BadCase { name: string; bytes: Uint8Array; error: RegExp }
const lenOnly = (n: bigint, extra: number[] = []): Uint8Array => {
  const b = new Uint8Array(8 + extra.length);
  new DataView(b.buffer).setBigUint64(0, n, true);
  b.set(extra, 8);
  return b;
};
const withText = (text: Uint8Array, data: number[] = []) => craftSafetensors(Buffer.from(text).toString('latin1'), data);
const BAD: BadCase[] = [
  { name: 'file shorter than the length field', bytes: new Uint8Array(5), error: /5 bytes, too short/ },
  { name: 'absurd header length', bytes: lenOnly(1n << 40n), error: /header length 1099511627776 \(bytes 0\.\.8\) exceeds/ },
  { name: 'header length beyond the file', bytes: lenOnly(100n, [0x7b, 0x7d]), error: /header length 100 \(bytes 8\.\.108\) goes beyond the end of the 10-byte file/ },
  { name: 'malformed JSON', bytes: craftSafetensors('{"a":'), error: /header \(bytes 8\.\.13\) is malformed JSON/ },
  { name: 'invalid UTF-8', bytes: (() => { const b = craftSafetensors('{"x"}'); b[10] = 0xff; return b; })(), error: /bytes 8\.\.13\) is not valid UTF-8/ },
  { name: 'not an object', bytes: craftSafetensors('[1,2]'), error: /is not a JSON object/ },
  {
    name: 'duplicate tensor names',
    bytes: craftSafetensors(`{"w":${JSON.stringify(w('F32', [1], 0, 4))},"w":${JSON.stringify(w('F32', [1], 4, 8))}}`, f32Bytes([1, 2])),
    error: /duplicate tensor name "w"/,
  },
  {
    name: 'duplicate names spelled with an escape',
    bytes: craftSafetensors(`{"a\\u0062":${JSON.stringify(w('F32', [1], 0, 4))},"ab":${JSON.stringify(w('F32', [1], 4, 8))}}`, f32Bytes([1, 2])),
    error: /duplicate tensor name "ab"/,
  },
  {
    name: 'duplicate key inside an entry',
    bytes: craftSafetensors('{"w":{"dtype":"F32","shape":[1],"dtype":"F16","data_offsets":[0,4]}}', f32Bytes([1])),
    error: /duplicate key inside "w": "dtype"/,
  },
  { name: 'unknown dtype', bytes: craftSafetensors({ w: w('F7', [1], 0, 4) }, f32Bytes([1])), error: /tensor "w": unknown dtype "F7"/ },
  { name: 'bad shape', bytes: craftSafetensors({ w: w('F32', [-1], 0, 4) }, f32Bytes([1])), error: /tensor "w": shape \[-1\] is not a list/ },
  { name: 'offsets not a pair', bytes: craftSafetensors({ w: { dtype: 'F32', shape: [1], data_offsets: [0] } }, f32Bytes([1])), error: /tensor "w": data_offsets \[0\] is not a pair/ },
  {
    name: 'offsets outside the data section',
    bytes: craftSafetensors({ w: w('F32', [4], 0, 16) }, f32Bytes([1, 2])),
    error: /tensor "w": data_offsets \[0, 16\] \(file bytes 63\.\.79\) lie outside the data section \(8 bytes, file bytes 63\.\.71\)/,
  },
  { name: 'offsets reversed', bytes: craftSafetensors({ w: w('F32', [0], 4, 0) }, f32Bytes([1])), error: /tensor "w": data_offsets \[4, 0\] .* ends before it begins/ },
  {
    name: 'dtype × shape size mismatch',
    bytes: craftSafetensors({ w: w('F32', [3], 0, 8) }, f32Bytes([1, 2])),
    error: /tensor "w": F32 × shape \[3\] needs 12 bytes but data_offsets \[0, 8\] \(file bytes 62\.\.70\) hold 8/,
  },
  {
    name: 'overlapping ranges',
    bytes: craftSafetensors({ a: w('F32', [2], 0, 8), b: w('F32', [2], 4, 12) }, f32Bytes([1, 2, 3])),
    error: /tensors "a" \(data_offsets \[0, 8\]\) and "b" \(data_offsets \[4, 12\]\) overlap \(file bytes \d+\.\.\d+\)/,
  },
  {
    name: 'gap between tensors',
    bytes: craftSafetensors({ a: w('F32', [1], 0, 4), b: w('F32', [1], 8, 12) }, f32Bytes([1, 2, 3])),
    error: /gap of 4 unused bytes after tensor "a", before tensor "b" \(file bytes \d+\.\.\d+\)/,
  },
  {
    name: 'gap at the start',
    bytes: craftSafetensors({ a: w('F32', [1], 4, 8) }, f32Bytes([1, 2])),
    error: /gap of 4 unused bytes at the start of the data section, before tensor "a"/,
  },
  {
    name: 'trailing bytes',
    bytes: craftSafetensors({ a: w('F32', [1], 0, 4) }, f32Bytes([1, 2])),
    error: /4 trailing bytes after the last tensor "a" are not covered/,
  },
  { name: 'metadata value not a string', bytes: craftSafetensors({ __metadata__: { step: 3 } }), error: /__metadata__ value "step" is 3/ },
];

for (const c of BAD) {
  test(`rejects a header with ${c.name}, naming the file`, () => {
    const p = file(c.bytes);
    assert.throws(() => openSafetensors(p), (e: Error) => {
      assert.match(e.message, c.error);
      assert.ok(e.message.startsWith(p), `message names the file: ${e.message}`);
      return true;
    });
  });
}

test('I64 is read as i32; a value outside int32 is an error naming the tensor and element', () => {
  const ok = new BigInt64Array([-(2n ** 31n), 2n ** 31n - 1n, -1n]);
  const bad = new BigInt64Array([5n, 2n ** 32n]);
  const data = [...new Uint8Array(ok.buffer), ...new Uint8Array(bad.buffer)];
  const src = openSafetensors(file(craftSafetensors({ ok: w('I64', [3], 0, 24), bad: w('I64', [2], 24, 40) }, data)));
  assert.deepEqual(src.get('ok').toArray(), [-(2 ** 31), 2 ** 31 - 1, -1]);
  assert.throws(() => src.get('bad'), /tensor "bad" .*\(I64\) element 1 is 4294967296, outside the int32 range/);
});

test('BOOL bytes other than 0 and 1 are an error naming the tensor', () => {
  const src = openSafetensors(file(craftSafetensors({ m: w('BOOL', [3], 0, 3) }, [1, 0, 2])));
  assert.throws(() => src.get('m'), /tensor "m" .*\(BOOL\) element 2 has byte value 2/);
});

test('a dtype with no engine equivalent validates, is described, and refuses to load', () => {
  const src = openSafetensors(file(craftSafetensors({ q: w('I8', [2], 0, 2), f: w('F32', [1], 2, 6) }, [1, 2, ...f32Bytes([3])])));
  assert.deepEqual(src.info('q'), { dtype: null, shape: [2], storedAs: 'I8' });
  assert.deepEqual(src.get('f').toArray(), [3]);
  assert.throws(() => src.get('q'), /tensor "q" .*stored as I8, which has no engine dtype/);
});

test('a file replaced after opening is an error, not a read of other bytes', () => {
  const p = file(craftSafetensors({ a: w('F32', [1], 0, 4) }, f32Bytes([1])));
  const src = openSafetensors(p);
  appendFileSync(p, new Uint8Array(4));
  assert.throws(() => src.get('a'), /file size changed from \d+ to \d+ bytes/);
});

test('opening a sparse 6 GiB file reads only the header; a small tensor past 4 GiB is read by offset', () => {
  const big = 3 * 2 ** 31; // bytes of F16 [3, 2^30]
  const header = craftSafetensors({ big: w('F16', [3, 2 ** 30], 0, big), small: w('F32', [2], big, big + 8) });
  const p = path.join(dir, 'sparse.safetensors');
  const fd = openSync(p, 'w');
  writeSync(fd, header, 0, header.length, 0);
  writeSync(fd, f32Bytes([0.5, -4]), 0, 8, header.length + big);
  closeSync(fd);
  const st = statSync(p);
  assert.equal(st.size, header.length + big + 8);
  assert.ok(st.blocks * 512 < 1 << 20, 'the file is sparse on disk');

  const rss0 = process.memoryUsage().rss;
  const src = openSafetensors(p);
  assert.deepEqual(src.keys(), ['big', 'small']);
  assert.deepEqual(src.info('big'), { dtype: 'f16', shape: [3, 2 ** 30], storedAs: 'F16' });
  assert.deepEqual(src.get('small', [2]).toArray(), [0.5, -4]);
  // The shape check happens before reading: a wrong shape costs nothing even for the 6 GiB tensor.
  assert.throws(() => src.get('big', [3, 4]), /tensor "big" in .*sparse\.safetensors has shape \[3, 1073741824\], expected \[3, 4\]/);
  assert.ok(process.memoryUsage().rss - rss0 < 200 << 20, 'no large allocation happened');
  assert.deepEqual(src.unused(), ['big']);
});
