/**
 * GGUF reader and writer: a file assembled byte by byte in this test (independently of the writer) is read
 * correctly and is exactly what the writer produces for the same content; metadata of every value type
 * round-trips; every tensor type round-trips bit for bit, mapped and read; a table of corruptions each fails
 * with an error naming the field and the byte offset; every truncation of a valid file fails cleanly; a
 * failed write leaves nothing behind; a file written by llama.cpp's Python writer (fixtures/io/make_gguf.py)
 * reads back with the values it was given.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import '../../src/backends/index.js';
import { contiguous, quantize, tensor, to, transpose } from '../../src/engine/ops/index.js';
import { Tensor } from '../../src/engine/tensor.js';
import { GgufFile, openGguf, writeGguf, type GgufMetadata, type GgufTensorPlan, type GgufValue } from '../../src/io/index.js';
import { FIXTURES, tempDir } from './helpers.js';

const dir = tempDir();
let counter = 0;
const fresh = (ext = 'gguf') => path.join(dir, `case-${counter++}.${ext}`);

/** Little-endian byte assembly for hand-made files. */
class B {
  parts: number[] = [];
  u8(v: number) { this.parts.push(v & 0xff); return this; }
  u32(v: number) { for (let i = 0; i < 4; i++) this.parts.push((v >>> (8 * i)) & 0xff); return this; }
  u64(v: number | bigint) { let x = BigInt(v); for (let i = 0; i < 8; i++) { this.parts.push(Number(x & 0xffn)); x >>= 8n; } return this; }
  str(s: string) { const b = Buffer.from(s, 'utf8'); this.u64(b.length); this.parts.push(...b); return this; }
  f32(v: number) { const b = Buffer.alloc(4); b.writeFloatLE(v); this.parts.push(...b); return this; }
  raw(xs: number[]) { this.parts.push(...xs); return this; }
  pad(a: number) { while (this.parts.length % a) this.parts.push(0); return this; }
  get length() { return this.parts.length; }
  bytes() { return Uint8Array.from(this.parts); }
}

/** A small valid file: 2 keys, tensors "a" F32 [2, 3] and "b" F16 [4], both at aligned offsets. */
function handMade(): { bytes: Uint8Array; infoEnd: number } {
  const b = new B().raw([0x47, 0x47, 0x55, 0x46]).u32(3).u64(2).u64(2);
  b.str('general.architecture').u32(8).str('llama');
  b.str('x.values').u32(9).u32(5).u64(2).u32(-7 >>> 0).u32(9);
  b.str('a').u32(2).u64(3).u64(2).u32(0).u64(0);
  b.str('b').u32(1).u64(4).u32(1).u64(32);
  const infoEnd = b.length;
  b.pad(32);
  for (const v of [1, 2, 3, 4, 5, 6]) b.f32(v);
  b.pad(32);
  b.raw([0x00, 0x3c, 0x00, 0x40, 0x00, 0xc0, 0x00, 0x00]); // f16 1, 2, -2, 0
  b.pad(32);
  return { bytes: b.bytes(), infoEnd };
}

test('reads a hand-assembled file, and the writer produces exactly its bytes', async () => {
  const { bytes } = handMade();
  const p = fresh();
  writeFileSync(p, bytes);
  const src = openGguf(p);
  assert.deepEqual(src.keys(), ['a', 'b']);
  assert.deepEqual(src.info('a'), { dtype: 'f32', shape: [2, 3], storedAs: 'F32' });
  assert.deepEqual(src.get('a').toArray(), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(src.get('b').toArray(), [1, 2, -2, 0]);
  assert.deepEqual(src.metadata.get('general.architecture'), { type: 'string', value: 'llama' });
  assert.deepEqual(src.metadata.get('x.values'), { type: 'array', itemType: 'i32', value: [-7, 9] });

  const out = fresh();
  const meta: [string, GgufValue][] = [['general.architecture', { type: 'string', value: 'llama' }], ['x.values', { type: 'array', itemType: 'i32', value: [-7, 9] }]];
  await writeGguf(out, meta, [
    { name: 'a', type: 'F32', shape: [2, 3], produce: () => tensor([[1, 2, 3], [4, 5, 6]]) },
    { name: 'b', type: 'F16', shape: [4], produce: () => new Tensor(Uint16Array.from([0x3c00, 0x4000, 0xc000, 0]), 'f16', [4]) },
  ]);
  assert.deepEqual(new Uint8Array(readFileSync(out)), bytes);
});

test('metadata of every value type round-trips exactly', async () => {
  const meta: GgufMetadata = new Map<string, GgufValue>([
    ['u8', { type: 'u8', value: 255 }], ['i8', { type: 'i8', value: -128 }],
    ['u16', { type: 'u16', value: 65535 }], ['i16', { type: 'i16', value: -32768 }],
    ['u32', { type: 'u32', value: 4294967295 }], ['i32', { type: 'i32', value: -2147483648 }],
    ['f32', { type: 'f32', value: Math.fround(0.1) }], ['f64', { type: 'f64', value: 0.1 }],
    ['u64', { type: 'u64', value: 18446744073709551615n }], ['i64', { type: 'i64', value: -9223372036854775808n }],
    ['bool', { type: 'bool', value: true }], ['string', { type: 'string', value: 'héllo ▁ 🙂' }], ['empty', { type: 'string', value: '' }],
    ['a.u8', { type: 'array', itemType: 'u8', value: [0, 1, 255] }], ['a.i8', { type: 'array', itemType: 'i8', value: [-1, 127] }],
    ['a.u16', { type: 'array', itemType: 'u16', value: [7] }], ['a.i16', { type: 'array', itemType: 'i16', value: [-7] }],
    ['a.u32', { type: 'array', itemType: 'u32', value: [1, 2] }], ['a.i32', { type: 'array', itemType: 'i32', value: [-1, -2] }],
    ['a.f32', { type: 'array', itemType: 'f32', value: [-10000, 0.5, -Infinity] }], ['a.f64', { type: 'array', itemType: 'f64', value: [1e300] }],
    ['a.u64', { type: 'array', itemType: 'u64', value: [0n, 1n << 60n] }], ['a.i64', { type: 'array', itemType: 'i64', value: [-5n] }],
    ['a.bool', { type: 'array', itemType: 'bool', value: [true, false] }], ['a.string', { type: 'array', itemType: 'string', value: ['<s>', '', '[PAD7]'] }],
    ['a.none', { type: 'array', itemType: 'f32', value: [] }],
  ]);
  const p = fresh();
  await writeGguf(p, meta, []);
  const back = new GgufFile(p).metadata;
  assert.deepEqual([...back.keys()], [...meta.keys()]);
  for (const [k, v] of meta) assert.deepEqual(back.get(k), v, k);
});

test('writer refuses values that do not fit their declared type', async () => {
  const cases: [GgufValue, RegExp][] = [
    [{ type: 'u8', value: 256 }, /metadata "k": 256 is not a valid u8/],
    [{ type: 'i32', value: 1.5 }, /1.5 is not a valid i32/],
    [{ type: 'u64', value: -1n }, /"-1" is not a valid u64/],
    [{ type: 'array', itemType: 'string', value: [1] as unknown as string[] }, /metadata "k" item 0: 1 is not a valid string/],
  ];
  for (const [v, re] of cases) {
    const p = fresh();
    await assert.rejects(writeGguf(p, [['k', v]], []), re);
    assert.equal(existsSync(p), false);
  }
});

function randomF32(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    out[i] = (s / 2 ** 32 - 0.5) * 4;
  }
  return out;
}

test('every tensor type round-trips bit for bit, through the mapping and through reads', async () => {
  const f32 = new Tensor(randomF32(3 * 5 * 7, 1), 'f32', [3, 5, 7]);
  const halves = new Tensor(Uint16Array.from({ length: 2 * 33 }, (_, i) => (i * 977) & 0x7bff), 'f16', [2, 33]);
  const bf = new Tensor(Uint16Array.from({ length: 5 }, (_, i) => 0x3f80 + i), 'bf16', [5]);
  const base = new Tensor(randomF32(4 * 64, 2), 'f32', [4, 64]);
  const q8 = quantize(base, 'q8_0');
  const q4 = quantize(base, 'q4_0');
  const m = new Tensor(randomF32(35, 3), 'f32', [5, 7]);
  const strided = transpose(m, 0, 1);
  const plans: GgufTensorPlan[] = [
    { name: 'f32', type: 'F32', shape: [3, 5, 7], produce: () => f32 },
    { name: 'f16', type: 'F16', shape: [2, 33], produce: () => halves },
    { name: 'bf16', type: 'BF16', shape: [5], produce: () => bf },
    { name: 'q8', type: 'Q8_0', shape: [4, 64], produce: () => q8 },
    { name: 'q4', type: 'Q4_0', shape: [4, 64], produce: () => q4 },
    { name: 'strided', type: 'F32', shape: [7, 5], produce: () => strided },
  ];
  const p = fresh();
  await writeGguf(p, [], plans);
  const transposedFirst = contiguous(strided);
  for (const mmap of [true, false]) {
    const src = openGguf(p, { mmap });
    const eq = (name: string, want: Tensor) => {
      const got = src.get(name);
      assert.equal(got.dtype, want.dtype, name);
      assert.deepEqual(got.shape, want.shape, name);
      assert.deepEqual([...new Uint8Array(got.data.buffer, got.data.byteOffset, got.data.byteLength)], [...new Uint8Array(want.data.buffer, want.data.byteOffset, want.data.byteLength)], name);
    };
    eq('f32', f32); eq('f16', halves); eq('bf16', bf); eq('q8', q8); eq('q4', q4); eq('strided', transposedFirst);
    assert.deepEqual(src.info('q4'), { dtype: 'q4_0', shape: [4, 64], storedAs: 'Q4_0' });
    // Data offsets are consecutive padded sizes, as ggml's reader demands.
    const h = src.file.header;
    let off = 0;
    for (const e of h.tensors.values()) {
      assert.equal(e.offset, off, e.name);
      off += Math.ceil(e.bytes / 32) * 32;
    }
    assert.equal(h.dataStart + off, h.fileSize);
  }
});

test('a failed write removes its temporary file and leaves an existing file untouched', async () => {
  const p = fresh();
  writeFileSync(p, 'old');
  const before = readdirSync(dir).length;
  await assert.rejects(writeGguf(p, [], [{ name: 'x', type: 'F32', shape: [2], produce: () => { throw new Error('boom'); } }]), /boom/);
  await assert.rejects(writeGguf(p, [], [{ name: 'x', type: 'F32', shape: [2], produce: () => tensor([1, 2, 3]) }]), /tensor "x" was planned as F32 \[2\] but produced as f32 \[3\]/);
  await assert.rejects(writeGguf(p, [], [{ name: 'q', type: 'Q8_0', shape: [2, 16], produce: () => tensor([1]) }]), /tensor "q" \(Q8_0\) has rows of 16 elements/);
  await assert.rejects(writeGguf(p, [], [{ name: 'n'.repeat(64), type: 'F32', shape: [1], produce: () => tensor([1]) }]), /longer than 63 bytes/);
  assert.equal(readFileSync(p, 'utf8'), 'old');
  assert.equal(readdirSync(dir).length, before);
});

interface Corruption { name: string; edit: (b: Uint8Array) => Uint8Array; error: RegExp }

const set32 = (at: number, v: number) => (b: Uint8Array) => { new DataView(b.buffer).setUint32(at, v, true); return b; };
const set64 = (at: number, v: bigint) => (b: Uint8Array) => { new DataView(b.buffer).setBigUint64(at, v, true); return b; };

// Byte positions in handMade(): header 24 bytes; key 0 at 24 ("general.architecture": 8 + 20), its type at
// 52, value length at 56; key 1 at 69 ("x.values": 8 + 8), type 85, item type 89, count 93, items 101;
// tensor "a" at 109: name 8 + 1, n_dims 118, ne 122/130, type 138, offset 142; tensor "b" at 150: n_dims
// 159, ne 163, type 171, offset 175; infos end at 183, data at 192.
const CORRUPTIONS: Corruption[] = [
  { name: 'bad magic', edit: (b) => { b[0] = 0x47; b[3] = 0x4c; return b; }, error: /bad magic "GGUL".*not a GGUF file \(at byte 0\)/ },
  { name: 'version 1', edit: set32(4, 1), error: /GGUF version 1 is not supported.*\(at byte 4\)/ },
  { name: 'version 99', edit: set32(4, 99), error: /GGUF version 99 is not supported/ },
  { name: 'huge tensor count', edit: set64(8, 1n << 40n), error: /tensor count 1099511627776 is more than the \d+-byte file can describe \(at byte 8\)/ },
  { name: 'count beyond 2^53', edit: set64(16, 1n << 62n), error: /the key\/value count is 4611686018427387904, larger than any file \(at byte 16\)/ },
  { name: 'key length past EOF', edit: set64(24, 1n << 40n), error: /key 0 has length 1099511627776, past the end of the 256-byte file \(at byte 24\)/ },
  { name: 'value type unknown', edit: set32(52, 13), error: /key "general.architecture" has value type 13, not a GGUF value type \(at byte 52\)/ },
  { name: 'string value length past EOF', edit: set64(56, 500n), error: /the value of key "general.architecture" has length 500, past the end .*\(at byte 56\)/ },
  { name: 'nested array', edit: set32(89, 9), error: /array "x.values" has item type 9 \(nested arrays are not supported\) \(at byte 89\)/ },
  { name: 'array count past EOF', edit: set64(93, 1000n), error: /array "x.values" claims 1000 items of i32, more than the \d+ bytes left in the file \(at byte 93\)/ },
  { name: 'five dimensions', edit: set32(118, 5), error: /tensor "a" has 5 dimensions \(at most 4\) \(at byte 118\)/ },
  { name: 'unsupported type', edit: set32(138, 12), error: /tensor "a" has type Q4_K \(type 12\), which llava-ts does not read \(supported: F32, F16, BF16, Q8_0, Q4_0\) \(at byte 138\)/ },
  { name: 'unknown type', edit: set32(138, 77), error: /tensor "a" has type unknown type 77/ },
  { name: 'rows not whole blocks', edit: set32(138, 8), error: /tensor "a" \(Q8_0\) has rows of 3 elements, not a multiple of its 32-element block \(at byte 118\)/ },
  { name: 'misaligned offset', edit: set64(175, 40n), error: /tensor "b" has data offset 40, not a multiple of the alignment 32 \(at byte 175\)/ },
  { name: 'offset past EOF', edit: set64(175, 4096n), error: /tensor "b" \(F16 \[4\], 8 bytes at file bytes 4288\.\.4296\) extends past the end of the 256-byte file \(at byte 175\)/ },
  { name: 'overlapping tensors', edit: set64(175, 0n), error: /tensors "a" \(data bytes 0\.\.24\) and "b" \(data bytes 0\.\.8\) overlap \(file bytes 192\.\.200\)/ },
  { name: 'duplicate tensor name', edit: (b) => { b[158] = 'a'.charCodeAt(0); return b; }, error: /tensor "a" appears twice \(at byte 150\)/ },
  { name: 'bad UTF-8 key', edit: (b) => { b[32] = 0xff; return b; }, error: /key 0 is not valid UTF-8 \(at byte 32\)/ },
];

test('corrupt files fail with errors naming the field and byte offset', () => {
  const { bytes } = handMade();
  assert.equal(bytes.length, 256);
  for (const c of CORRUPTIONS) {
    const p = fresh();
    writeFileSync(p, c.edit(bytes.slice()));
    assert.throws(() => openGguf(p), (e: Error) => {
      assert.ok(e.message.startsWith(p), `${c.name}: ${e.message}`);
      assert.match(e.message, c.error, c.name);
      return true;
    }, c.name);
  }
});

test('duplicate keys and a non-u32 or non-power-of-two alignment are refused', () => {
  const dup = new B().raw([0x47, 0x47, 0x55, 0x46]).u32(3).u64(0).u64(2).str('k').u32(4).u32(1).str('k').u32(4).u32(2).bytes();
  const p1 = fresh();
  writeFileSync(p1, dup);
  assert.throws(() => openGguf(p1), /key "k" appears twice \(at byte 41\)/);
  for (const [type, value, re] of [[5, 32, /general.alignment must be a u32, but it is i32/], [4, 48, /general.alignment 48 is not a power of two/]] as const) {
    const b = new B().raw([0x47, 0x47, 0x55, 0x46]).u32(3).u64(0).u64(1).str('general.alignment').u32(type).u32(value).bytes();
    const p = fresh();
    writeFileSync(p, b);
    assert.throws(() => openGguf(p), re);
  }
});

test('every truncation of a valid file fails with an Error, never a crash or a short read', () => {
  const { bytes } = handMade();
  for (let n = 0; n < 232; n++) { // 232: the end of the last tensor (its padding is optional)
    const p = path.join(dir, 'trunc.gguf');
    writeFileSync(p, bytes.subarray(0, n));
    assert.throws(() => { const s = openGguf(p); s.get('a'); s.get('b'); }, (e: Error) => e instanceof Error && e.message.startsWith(p), `length ${n}`);
  }
});

test("reads a file written by llama.cpp's own Python writer (gguf-py): every value type and tensor type", () => {
  const src = openGguf(path.join(FIXTURES, 'gguf-py.gguf'));
  const exp = JSON.parse(readFileSync(path.join(FIXTURES, 'gguf-py.json'), 'utf8')) as Record<string, number[]>;
  const m = src.metadata;
  const want: [string, GgufValue][] = [
    ['general.architecture', { type: 'string', value: 'llama' }],
    ['t.u8', { type: 'u8', value: 200 }], ['t.i8', { type: 'i8', value: -100 }], ['t.u16', { type: 'u16', value: 60000 }],
    ['t.i16', { type: 'i16', value: -30000 }], ['t.u32', { type: 'u32', value: 4000000000 }], ['t.i32', { type: 'i32', value: -2000000000 }],
    ['t.f32', { type: 'f32', value: 0.25 }], ['t.u64', { type: 'u64', value: 2n ** 63n + 5n }], ['t.i64', { type: 'i64', value: -(2n ** 62n) }],
    ['t.f64', { type: 'f64', value: 1 / 3 }], ['t.bool', { type: 'bool', value: true }], ['t.string', { type: 'string', value: 'gguf ▁ ü' }],
    ['t.ints', { type: 'array', itemType: 'i32', value: [1, -2, 3] }], ['t.floats', { type: 'array', itemType: 'f32', value: [0.5, -1.5] }],
    ['t.strings', { type: 'array', itemType: 'string', value: ['a', '', '<s>'] }], ['t.u8s', { type: 'array', itemType: 'u8', value: [1, 2, 255] }],
  ];
  assert.deepEqual([...m.keys()], want.map(([k]) => k));
  for (const [k, v] of want) assert.deepEqual(m.get(k), v, k);
  assert.deepEqual(src.info('f32'), { dtype: 'f32', shape: [3, 5], storedAs: 'F32' });
  assert.deepEqual(src.get('f32').toArray(), exp.f32!.map(Math.fround));
  assert.deepEqual([...src.get('f16').data], exp.f16_bits);
  assert.deepEqual([...src.get('bf16').data], exp.bf16_bits);
  assert.deepEqual(src.info('q8').shape, [2, 64]);
  assert.deepEqual(to(src.get('q8'), 'f32').toArray(), exp.q8_dequantized!.map(Math.fround));
  assert.deepEqual(to(src.get('q4'), 'f32').toArray(), exp.q4_dequantized!.map(Math.fround));
});
