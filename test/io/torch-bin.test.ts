/**
 * torch .bin reader on files made by real torch.save (make_bin.py): every dtype, views with storage
 * offsets and strides, shared storages read once, nested checkpoints, Parameters, sharded indexes, a ZIP64
 * rewrite of the same archive — all compared bit for bit with the generator's expected.json — and the
 * files a reader must refuse (compressed, forbidden global, legacy format).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { openCheckpoint, openTorchBin, openWeights, TorchBinFile } from '../../src/io/index.js';
import { expected, FIXTURES, matchesExpected } from './helpers.js';

const fx = (f: string) => path.join(FIXTURES, f);

function checkAll(file: string, set: string): void {
  const src = openTorchBin(fx(file));
  const exp = expected()[set]!;
  assert.deepEqual(src.keys().sort(), Object.keys(exp).sort());
  for (const [name, e] of Object.entries(exp)) {
    assert.equal(matchesExpected(src.get(name), e), null, `${file}: ${name}`);
    assert.deepEqual(src.info(name).shape, e.shape);
    assert.equal(src.info(name).storedAs, e.dtype);
  }
}

test('every dtype of a torch.save state dict, bit for bit (I64 as i32)', () => {
  checkAll('dtypes.bin', 'dtypes');
});

test('views: storage offsets, slices, steps and transposes are materialized contiguous', () => {
  checkAll('views.bin', 'views');
});

test('a ZIP64 rewrite of the same archive reads identically', () => {
  checkAll('views-zip64.bin', 'views');
});

test('a storage shared by several tensors is read once, and each tensor gets its own copy', () => {
  const f = new TorchBinFile(fx('views.bin'));
  const shared = ['base', 'same_as_base', 'row1', 'col2', 'block', 'transposed', 'stepped'];
  const got = shared.map((n) => f.read(n));
  assert.equal(f.storageReads, 1);
  got[0]!.data[0] = 123;
  assert.notEqual(got[1]!.toArray()[0], 123, 'tensors do not share memory with each other');
  // The other storages: one shared by two views, two single-use (read over their view's span only).
  for (const n of ['half_t', 'half_slice', 'bf16_col', 'i64_view']) f.read(n);
  assert.equal(f.storageReads, 4);
  // Once every user has been served the cache is gone; reading again reads again, with the same values.
  assert.equal(matchesExpected(f.read('base'), expected()['views']!['base']!), null);
  assert.equal(f.storageReads, 5);
});

test('a nested checkpoint is flattened with dots; non-tensor entries are skipped; Parameters load', () => {
  checkAll('nested.bin', 'nested');
  const f = new TorchBinFile(fx('nested.bin'));
  assert.deepEqual([...f.skipped].sort(), ['big', 'epoch', 'history', 'lr', 'tag']);
});

test('a sharded pytorch_model.bin.index.json, directly and as a checkpoint folder', () => {
  const exp = expected()['sharded']!;
  for (const src of [openTorchBin(fx('sharded-bin/pytorch_model.bin.index.json')), openCheckpoint(fx('sharded-bin')), openWeights(fx('sharded-bin'))]) {
    assert.deepEqual(src.keys().sort(), Object.keys(exp).sort());
    for (const [name, e] of Object.entries(exp)) assert.equal(matchesExpected(src.get(name), e), null, name);
  }
  assert.throws(() => openTorchBin(fx('sharded-bin/pytorch_model.bin.index.json')).get('layers.1.weight', [4]),
    /tensor "layers\.1\.weight" in .*pytorch_model-00002-of-00002\.bin has shape \[2, 2\], expected \[4\]/);
});

test('refused files: compressed entries, forbidden globals (never executed), legacy serialization', () => {
  assert.throws(() => openTorchBin(fx('deflated.bin')), /deflated\.bin: zip entry ".*data\.pkl" is compressed \(method 8\)/);
  assert.throws(() => openTorchBin(fx('evil.bin')), /evil\.bin \(zip entry ".*data\.pkl"\): pickle global "posix\.system" is not allowed/);
  assert.throws(() => openTorchBin(fx('legacy.bin')), /legacy\.bin: legacy \(pre-1\.6, non-zip\) torch serialization is not supported/);
  assert.throws(() => openTorchBin(fx('dtypes.safetensors')), /not a torch\.save zip archive/);
});
