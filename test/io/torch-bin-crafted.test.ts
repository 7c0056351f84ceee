/**
 * torch .bin reader on archives assembled in the test (archive.ts): pickles torch would never write
 * (forbidden globals, unknown opcodes, cycles, views outside their storage, mismatched storage sizes),
 * damaged zips, and a ZIP64 archive whose entries lie past 4 GiB behind a sparse hole, read lazily.
 */
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { openTorchBin } from '../../src/io/index.js';
import { withFile, fileSize } from '../../src/io/fileio.js';
import { openZip } from '../../src/io/zip.js';
import { Pickle, writeZip, type ZipItem } from './archive.js';
import { expected, f32Bytes, FIXTURES, matchesExpected, tempDir } from './helpers.js';

const dir = tempDir();
let n = 0;

/** An archive `archive/data.pkl` + `archive/data/<key>` entries; returns its path. */
function archive(pickle: Pickle | Uint8Array, storages: Record<string, Uint8Array> = {}, zip64 = false): string {
  const p = path.join(dir, `a-${n++}.bin`);
  const items: ZipItem[] = [{ name: 'archive/data.pkl', data: pickle instanceof Pickle ? pickle.bytes() : pickle }];
  for (const [k, v] of Object.entries(storages)) items.push({ name: `archive/data/${k}`, data: v });
  items.push({ name: 'archive/version', data: Buffer.from('3\n') });
  writeZip(p, items, zip64);
  return p;
}

/** `{name: tensor}` pickles. */
function dictOf(...tensors: [string, (p: Pickle) => Pickle][]): Pickle {
  const p = new Pickle().proto().emptyDict().mark();
  for (const [name, t] of tensors) t(p.str(name));
  return p.setitems().stop();
}

test('a hand-assembled pickle with OrderedDict, memo, tuples and a view reads correctly (stored and ZIP64)', () => {
  for (const zip64 of [false, true]) {
    const p = new Pickle().proto().global('collections', 'OrderedDict').put(0).emptyTuple().reduce().put(1).mark();
    p.str('w').tensor('FloatStorage', '0', 6, 1, [2, 2], [1, 3]); // a transposed window starting at element 1
    p.str('again').get(1); // the dict itself under another key is a cycle…
    const src = archive(p.setitems().stop(), { '0': f32Bytes([0, 1, 2, 3, 4, 5]) }, zip64);
    assert.throws(() => openTorchBin(src), /dict at "again\." contains itself/);

    const ok = dictOf(['w', (q) => q.tensor('FloatStorage', '0', 6, 1, [2, 2], [1, 3])]);
    const t = openTorchBin(archive(ok, { '0': f32Bytes([0, 1, 2, 3, 4, 5]) }, zip64)).get('w');
    assert.deepEqual(t.toArray(), [1, 4, 2, 5]);
  }
});

interface Bad { name: string; pickle: Pickle; storages?: Record<string, Uint8Array>; error: RegExp }
const four = { '0': f32Bytes([1, 2, 3, 4]) };
const BAD: Bad[] = [
  { name: 'a forbidden GLOBAL', pickle: new Pickle().proto().global('builtins', 'eval').stop(), error: /pickle global "builtins\.eval" is not allowed/ },
  { name: 'a forbidden STACK_GLOBAL', pickle: new Pickle().proto().str('os').str('system').op(0x93).stop(), error: /pickle global "os\.system" is not allowed/ },
  { name: 'a prototype property posing as a storage type', pickle: new Pickle().proto().global('torch', 'constructor').stop(), error: /pickle global "torch\.constructor" is not allowed/ },
  { name: 'a call to a storage type', pickle: new Pickle().proto().global('torch', 'FloatStorage').emptyTuple().reduce().stop(), error: /pickle calls torch\.FloatStorage/ },
  { name: 'an object opcode (NEWOBJ)', pickle: new Pickle().proto().emptyDict().op(0x81).stop(), error: /unsupported pickle opcode 0x81 \(pickle byte 3\)/ },
  { name: 'an undefined memo entry', pickle: new Pickle().proto().get(5).stop(), error: /memo entry 5 is not defined/ },
  { name: 'a truncated pickle', pickle: new Pickle().proto().op(0x58, 9, 0, 0, 0, 0x41), error: /pickle ends inside an opcode argument/ },
  { name: 'a missing STOP', pickle: new Pickle().proto().emptyDict(), error: /pickle ends without a STOP opcode/ },
  { name: 'a single tensor instead of a dict', pickle: new Pickle().proto().tensor('FloatStorage', '0', 4, 0, [4], [1]).stop(), storages: four, error: /the pickle holds a single tensor, not a dict of tensors/ },
  {
    name: 'a view past the end of its storage',
    pickle: dictOf(['w', (p) => p.tensor('FloatStorage', '0', 4, 2, [3], [1])]),
    storages: four,
    error: /tensor "w" \(offset 2, size \[3\], stride \[1\]\) reaches storage element 4 \(entry bytes 8\.\.20\) beyond storage "0" of 4 elements/,
  },
  {
    name: 'a storage entry of the wrong size',
    pickle: dictOf(['w', (p) => p.tensor('FloatStorage', '0', 4, 0, [4], [1])]),
    storages: { '0': f32Bytes([1, 2, 3]) },
    error: /tensor "w": storage "0" \(torch\.FloatStorage, 4 elements = 16 bytes\) but zip entry "archive\/data\/0" holds 12 bytes/,
  },
  { name: 'a missing storage entry', pickle: dictOf(['w', (p) => p.tensor('FloatStorage', '0', 4, 0, [4], [1])]), error: /zip entry "archive\/data\/0" is missing/ },
  {
    name: 'a storage described twice differently',
    pickle: dictOf(['a', (p) => p.tensor('FloatStorage', '0', 4, 0, [4], [1])], ['b', (p) => p.tensor('HalfStorage', '0', 4, 0, [4], [1])]),
    storages: four,
    error: /storage "0" is described twice differently/,
  },
  {
    name: 'a storage key that is a path',
    pickle: dictOf(['w', (p) => p.tensor('FloatStorage', '../x', 4, 0, [4], [1])]),
    storages: four,
    error: /storage key "\.\.\/x" is not a plain name/,
  },
];

for (const c of BAD) {
  test(`refuses ${c.name}, naming the file`, () => {
    const p = archive(c.pickle, c.storages ?? {});
    assert.throws(() => openTorchBin(p), (e: Error) => {
      assert.match(e.message, c.error);
      assert.ok(e.message.startsWith(p), `names the file: ${e.message}`);
      return true;
    });
  });
}

test('non-tensor values of every pickled kind are skipped; ints beyond 2^53 stay exact', () => {
  const p = new Pickle().proto().emptyDict().mark();
  p.str('w').tensor('FloatStorage', '0', 4, 0, [4], [1]);
  p.str('neg').long1([0x00, 0xff]); // -256
  p.str('huge').long1([0, 0, 0, 0, 0, 0, 0, 0, 1]); // 2^64
  p.str('f').float(0.1);
  p.str('n').none();
  p.str('l').emptyList().mark().int(1).int(70000).int(-5).appends();
  p.str('t').int(1).int(2).tupleN(2);
  const src = archive(p.setitems().stop(), four);
  const s = openTorchBin(src);
  assert.deepEqual(s.keys(), ['w']);
  assert.deepEqual(s.get('w').toArray(), [1, 2, 3, 4]);
});

test('I64 beyond int32 and storages without an engine dtype fail when read, naming the tensor', () => {
  const big = new BigInt64Array([1n, 1n << 40n]);
  const p = dictOf(['ids', (q) => q.tensor('LongStorage', '0', 2, 0, [2], [1])], ['c', (q) => q.tensor('CharStorage', '1', 2, 0, [2], [1])]);
  const s = openTorchBin(archive(p, { '0': new Uint8Array(big.buffer), '1': new Uint8Array([1, 2]) }));
  assert.throws(() => s.get('ids'), /tensor "ids" \(storage "0", torch\.LongStorage\) \(I64\) element 1 is 1099511627776, outside the int32 range/);
  assert.deepEqual(s.info('c'), { dtype: null, shape: [2], storedAs: 'I8' });
  assert.throws(() => s.get('c'), /tensor "c" \(storage "1", torch\.CharStorage\) has no engine dtype/);
});

test('damaged zips are refused with the file named', () => {
  const good = readFileSync(path.join(FIXTURES, 'views.bin'));
  const cut = path.join(dir, 'cut.bin');
  writeFileSync(cut, good.subarray(0, good.length - 10));
  assert.throws(() => openTorchBin(cut), /cut\.bin: not a zip archive \(no end-of-central-directory record/);
  const notZip = path.join(dir, 'junk.bin');
  writeFileSync(notZip, 'hello world');
  assert.throws(() => openTorchBin(notZip), /junk\.bin: not a torch\.save zip archive/);
});

test('a ZIP64 archive with entries past 4 GiB (behind a sparse hole) is read lazily', () => {
  const src = path.join(FIXTURES, 'views.bin');
  const size = fileSize(src);
  const zip = openZip(src, size);
  const names = [...zip.entries.keys()];
  const prefix = names.find((x) => x.endsWith('data.pkl'))!.replace('data.pkl', '');
  const items: ZipItem[] = [{ name: `${prefix}data/filler`, sparseSize: 4.5 * 2 ** 30 }];
  withFile(src, size, (fd) => {
    for (const name of names) items.push({ name, data: zip.readEntry(fd, name) });
  });
  const p = path.join(dir, 'huge.bin');
  writeZip(p, items, true);
  const st = statSync(p);
  assert.ok(st.size > 2 ** 32 && st.blocks * 512 < 1 << 20, 'a sparse file larger than 4 GiB');

  const rss0 = process.memoryUsage().rss;
  const s = openTorchBin(p);
  for (const [name, e] of Object.entries(expected()['views']!)) assert.equal(matchesExpected(s.get(name), e), null, name);
  assert.ok(process.memoryUsage().rss - rss0 < 200 << 20, 'the hole was never read');
});
