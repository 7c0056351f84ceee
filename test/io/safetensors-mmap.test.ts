/**
 * Mapped safetensors reading (the native file mapper): mapped tensors equal copied ones bit for bit for
 * every dtype of the Python-written fixture, which tensors are views and which are copies (unaligned
 * offsets, I64, BOOL), the opt-outs (`{ mmap: false }`, LLAVA_MMAP=0), copy-on-write protection of the
 * file, a file replaced by rename while mapped, the mapping outliving its source but not its last view,
 * native kernels running on mapped weights, and files larger than one ArrayBuffer can cover (> 4 GiB).
 *
 * "Is a view" is asked of the engine (`isFileMapped`, which remembers the buffers the mapper handed out)
 * and cross-checked from outside: the tensor's bytes equal the file's bytes at its position.
 */
import assert from 'node:assert/strict';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, readSync, renameSync, statSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { activeBackend, fallbackStats, fileMappingAvailable, isFileMapped, linear, mapFile, randn, resetFallbackStats, Tensor, to } from '../../src/index.js';
import { openCheckpoint, openSafetensors, openWeights, readSafetensorsHeader, SafetensorsFile, writeSafetensors } from '../../src/io/index.js';
import { craftSafetensors, expected, f32Bytes, FIXTURES, matchesExpected, tempDir, words } from './helpers.js';

const skip = fileMappingAvailable() ? false : 'the native addon (file mapper) is not loaded';
const dir = tempDir();
let counter = 0;
function file(bytes: Uint8Array): string {
  const p = path.join(dir, `mm-${counter++}.safetensors`);
  writeFileSync(p, bytes);
  return p;
}
const w = (dtype: string, shape: number[], begin: number, end: number) => ({ dtype, shape, data_offsets: [begin, end] });
/** Header text padded with spaces so that the data section starts at a multiple of 8 (as writers do). */
const padded = (h: object) => {
  const t = JSON.stringify(h);
  return t.padEnd(t.length + ((8 - ((8 + t.length) % 8)) % 8), ' ');
};

/** Whether `t` is a mapped view holding exactly the bytes of `p` at `position`. */
function isViewOf(t: Tensor, p: string, position: number): boolean {
  if (!isFileMapped(t.data.buffer)) return false;
  const d = t.data;
  assert.equal(d.byteOffset, 0, 'a view starts its buffer');
  assert.equal(d.buffer.byteLength, d.byteLength, 'a view covers exactly the tensor');
  const fileBytes = new Uint8Array(d.byteLength);
  const fd = openSync(p, 'r');
  try {
    assert.equal(readSync(fd, fileBytes, 0, fileBytes.length, position), fileBytes.length);
  } finally {
    closeSync(fd);
  }
  assert.deepEqual(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), fileBytes, 'view bytes = file bytes');
  return true;
}

test('mapped tensors equal copied ones bit for bit for every fixture dtype; aligned plain dtypes are views', { skip }, () => {
  const p = path.join(FIXTURES, 'dtypes.safetensors');
  const mapped = openSafetensors(p);
  const copied = openSafetensors(p, { mmap: false });
  const header = readSafetensorsHeader(p);
  const exp = expected()['dtypes']!;
  const views: string[] = [];
  for (const name of mapped.keys()) {
    const a = mapped.get(name);
    const b = copied.get(name);
    assert.equal(matchesExpected(a, exp[name]!), null, name);
    assert.equal(a.dtype, b.dtype, name);
    assert.deepEqual(a.shape, b.shape, name);
    assert.deepEqual(words(a), words(b), name);
    const e = header.entries.get(name)!;
    const position = header.dataStart + e.begin;
    const plain = !['I64', 'BOOL'].includes(e.type.name) && e.end > e.begin && position % e.type.itemBytes === 0;
    assert.equal(isViewOf(a, p, position), plain, `${name} (${e.type.name} at byte ${position}) view?`);
    assert.equal(isViewOf(b, p, position), false, `${name} copied`);
    if (plain) views.push(name);
  }
  // The generator packs tensors without padding: f32/f16/bf16/u8 land aligned, f64 (file byte 710), i32
  // (782) and scalar (801) do not. Both paths must actually be taken.
  assert.deepEqual(views.sort(), ['bf16', 'f16', 'f32', 'u8']);
});

test('unaligned offsets are copied, aligned ones in the same file are views', { skip }, () => {
  // U8 [3] at data byte 0 (view), F32 [2] at 3 and F16 [1] at 11: unaligned, copied.
  const head = { a: w('U8', [3], 0, 3), b: w('F32', [2], 3, 11), c: w('F16', [1], 11, 13) };
  const data = [7, 8, 9, ...f32Bytes([1.5, -2.25]), 0x00, 0x3c];
  const p = file(craftSafetensors(head, data));
  const h = readSafetensorsHeader(p);
  const src = openSafetensors(p);
  const a = src.get('a'), b = src.get('b'), c = src.get('c');
  assert.deepEqual(a.toArray(), [7, 8, 9]);
  assert.deepEqual(b.toArray(), [1.5, -2.25]);
  assert.deepEqual(c.toArray(), [1]);
  assert.ok(isViewOf(a, p, h.dataStart), 'U8 is a view');
  const bPos = h.dataStart + 3, cPos = h.dataStart + 11;
  assert.equal(bPos % 4 !== 0, true, 'the crafted F32 really is unaligned');
  assert.equal(cPos % 2 !== 0, true, 'the crafted F16 really is unaligned');
  assert.equal(isFileMapped(b.data.buffer), false, 'unaligned F32 copied');
  assert.equal(isFileMapped(c.data.buffer), false, 'unaligned F16 copied');
});

test('{ mmap: false } and LLAVA_MMAP=0 read every tensor into fresh memory', { skip }, () => {
  const p = path.join(FIXTURES, 'dtypes.safetensors');
  assert.equal(new SafetensorsFile(p).isMapped, true);
  assert.equal(new SafetensorsFile(p, { mmap: false }).isMapped, false);
  const before = process.env.LLAVA_MMAP;
  process.env.LLAVA_MMAP = '0';
  try {
    assert.equal(new SafetensorsFile(p).isMapped, false);
    const src = openSafetensors(p);
    for (const k of src.keys()) assert.equal(isFileMapped(src.get(k).data.buffer), false, k);
    // An explicit option wins over the environment.
    assert.equal(new SafetensorsFile(p, { mmap: true }).isMapped, true);
    assert.equal(isFileMapped(openWeights(p, { mmap: true }).get('f32').data.buffer), true);
  } finally {
    if (before === undefined) delete process.env.LLAVA_MMAP;
    else process.env.LLAVA_MMAP = before;
  }
  // The option travels through openWeights/openCheckpoint.
  assert.equal(isFileMapped(openWeights(p).get('f32').data.buffer), true);
  assert.equal(isFileMapped(openWeights(p, { mmap: false }).get('f32').data.buffer), false);
  const folder = path.join(dir, 'folder');
  mkdirSync(folder);
  copyFileSync(p, path.join(folder, 'model.safetensors'));
  assert.equal(isFileMapped(openCheckpoint(folder).get('f32').data.buffer), true);
  assert.equal(isFileMapped(openCheckpoint(folder, { mmap: false }).get('f32').data.buffer), false);
});

test('writes into a mapped tensor never reach the file, nor a later get of the same name', { skip }, () => {
  const bytes = craftSafetensors(padded({ x: w('F32', [4], 0, 16), y: w('F32', [2], 16, 24) }), f32Bytes([1, 2, 3, 4, 5, 6]));
  const p = file(bytes);
  const src = openSafetensors(p);
  const x = src.get('x');
  assert.ok(isViewOf(x, p, readSafetensorsHeader(p).dataStart));
  (x.data as Float32Array).fill(-7);
  assert.deepEqual(x.toArray(), [-7, -7, -7, -7]);
  assert.deepEqual(new Uint8Array(readFileSync(p)), bytes, 'file bytes unchanged');
  assert.deepEqual(src.get('x').toArray(), [1, 2, 3, 4], 'a second get is not the written view');
  assert.deepEqual(src.get('y').toArray(), [5, 6], 'the neighbouring tensor is untouched');
  // A fresh source over the same file sees the file, not this process's private pages.
  assert.deepEqual(openSafetensors(p).get('x').toArray(), [1, 2, 3, 4]);
});

test('a file replaced by rename while mapped keeps serving its contents at open', { skip }, () => {
  const head = { x: w('F32', [2], 0, 8), y: w('F32', [2], 8, 16) };
  const p = file(craftSafetensors(padded(head), f32Bytes([1, 2, 3, 4])));
  const src = openSafetensors(p);
  const x = src.get('x');
  assert.ok(isViewOf(x, p, readSafetensorsHeader(p).dataStart));
  const next = path.join(dir, 'replacement.tmp');
  writeFileSync(next, craftSafetensors(padded(head), f32Bytes([10, 20, 30, 40])));
  renameSync(next, p);
  assert.deepEqual(openSafetensors(p, { mmap: false }).get('y').toArray(), [30, 40], 'the path now holds the new file');
  assert.deepEqual(x.toArray(), [1, 2], 'a view read before the rename');
  assert.deepEqual(src.get('y').toArray(), [3, 4], 'a first read after the rename comes from the old mapping');
});

/** Runs the garbage collector (flag set at run time; the test runner does not pass --expose-gc). */
function collect(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}
const mapsOf = (p: string) => readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.endsWith(p)).length;

test('a view keeps the mapping alive after its source is dropped; the last view dropped unmaps it', { skip: skip || (!existsSync('/proc/self/maps') && 'no /proc/self/maps') }, async () => {
  const gc = collect();
  const values = Array.from({ length: 4096 }, (_, i) => i * 0.5);
  const p = file(craftSafetensors(padded({ big: w('F32', [4096], 0, 16384) }), f32Bytes(values)));
  let view: Tensor | null = (() => openSafetensors(p).get('big'))();
  const settle = async () => {
    for (let i = 0; i < 4; i++) {
      gc();
      await new Promise((r) => setImmediate(r));
    }
  };
  await settle();
  assert.equal(mapsOf(p), 1, 'still mapped while a view is reachable');
  new Float64Array(1 << 20).fill(1); // unrelated allocation pressure
  assert.deepEqual(view.toArray(), values);
  view = null;
  await settle();
  assert.equal(mapsOf(p), 0, 'unmapped once no view is reachable');
});

test('native linear accepts mapped f16 and f32 weights and matches the copied weights bit for bit', { skip }, async () => {
  assert.equal(activeBackend().name, 'native');
  const p = path.join(dir, 'linear.safetensors');
  await writeSafetensors(p, { w16: to(randn([48, 80], { seed: 1 }), 'f16'), w32: randn([48, 80], { seed: 2 }), b: randn([48], { seed: 3 }) });
  const mapped = openSafetensors(p);
  const copied = openSafetensors(p, { mmap: false });
  const x = randn([5, 80], { seed: 4 });
  const h = readSafetensorsHeader(p);
  for (const name of ['w16', 'w32']) {
    const wm = mapped.get(name);
    assert.ok(isViewOf(wm, p, h.dataStart + h.entries.get(name)!.begin), `${name} is mapped`);
    resetFallbackStats();
    const got = linear(x, wm, mapped.get('b'));
    assert.deepEqual([...fallbackStats().keys()].filter((k) => k.includes('linear') || k.includes('matmul')), [], `${name}: no fallback`);
    const want = linear(x, copied.get(name), copied.get('b'));
    assert.deepEqual(words(got), words(want), name);
  }
});

test('a 6 GiB file maps (no single buffer over it); a tensor past 4 GiB is a view; views are bounded', { skip }, () => {
  const big = 3 * 2 ** 31; // bytes of F16 [3, 2^30]: past the 2 GiB view limit
  const header = craftSafetensors(padded({ big: w('F16', [3, 2 ** 30], 0, big), small: w('F32', [2], big, big + 8) }));
  const p = path.join(dir, 'sparse.safetensors');
  const fd = openSync(p, 'w');
  writeSync(fd, header, 0, header.length, 0);
  writeSync(fd, f32Bytes([0.5, -4]), 0, 8, header.length + big);
  closeSync(fd);
  assert.ok(statSync(p).blocks * 512 < 1 << 20, 'the file is sparse on disk');
  const f = new SafetensorsFile(p);
  assert.equal(f.isMapped, true);
  const small = f.read('small');
  assert.ok(isViewOf(small, p, header.length + big));
  assert.deepEqual(small.toArray(), [0.5, -4]);
  // The 6 GiB tensor itself is not read here (copying it would allocate 6 GiB); its path is the copy one:
  // the mapper refuses views over its limit, checked directly.
  assert.throws(() => mapFile(p)!.view(0, big), /6442450944 bytes exceeds the 2147483648-byte view limit/);
  assert.throws(() => mapFile(p)!.view(statSync(p).size - 4, 8), /not inside the \d+-byte mapping/);
});
