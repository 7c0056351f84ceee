/**
 * Opening a checkpoint folder: the file chosen among model.safetensors, model.safetensors.index.json,
 * pytorch_model.bin and pytorch_model.bin.index.json (safetensors first, single file before index), files
 * opened by name, and errors naming the folder.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { CHECKPOINT_FILES, findCheckpointFile, openCheckpoint, openWeights } from '../../src/io/index.js';
import { craftSafetensors, f32Bytes, FIXTURES, tempDir } from './helpers.js';

const root = tempDir();

test('a folder prefers safetensors, and a single file over an index', () => {
  const d = path.join(root, 'all');
  mkdirSync(d);
  const st = (name: string, value: number) => writeFileSync(path.join(d, name),
    craftSafetensors({ [`from.${name}`]: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, f32Bytes([value])));
  copyFileSync(path.join(FIXTURES, 'dtypes.bin'), path.join(d, 'pytorch_model.bin'));
  assert.deepEqual(openCheckpoint(d).keys(), openWeights(path.join(d, 'pytorch_model.bin')).keys());
  assert.ok(openCheckpoint(d).has('f16'));

  st('shard.safetensors', 2);
  writeFileSync(path.join(d, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { 'from.shard.safetensors': 'shard.safetensors' } }));
  assert.equal(findCheckpointFile(d), path.join(d, 'model.safetensors.index.json'));
  assert.deepEqual(openCheckpoint(d).get('from.shard.safetensors').toArray(), [2]);

  st('model.safetensors', 1);
  assert.equal(findCheckpointFile(d), path.join(d, 'model.safetensors'));
  assert.deepEqual(openCheckpoint(d).keys(), ['from.model.safetensors']);
  assert.deepEqual(openWeights(d).keys(), ['from.model.safetensors']);
});

test('errors name the folder and the files looked for', () => {
  const empty = path.join(root, 'empty');
  mkdirSync(empty);
  writeFileSync(path.join(empty, 'config.json'), '{}');
  assert.throws(() => openCheckpoint(empty), new RegExp(`checkpoint folder ${empty} has no weights: none of ${CHECKPOINT_FILES.join(', ').replace(/\./g, '\\.')}`));
  assert.throws(() => openCheckpoint(path.join(root, 'nope')), /checkpoint folder .*nope does not exist/);
  assert.throws(() => openCheckpoint(path.join(empty, 'config.json')), /config\.json is not a folder/);
  assert.throws(() => openWeights(path.join(empty, 'config.json')), /must be named \*\.safetensors\.index\.json or \*\.bin\.index\.json/);
  assert.throws(() => openWeights(path.join(root, 'missing.bin')), /weights .*missing\.bin do not exist/);
});
