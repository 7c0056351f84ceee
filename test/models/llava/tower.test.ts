/**
 * Finding the CLIP tower of an original checkpoint: the option wins, then mm_vision_tower as a path
 * (absolute or relative to the model folder), then the Hugging Face cache (HF_HUB_CACHE, HF_HOME/hub,
 * ~/.cache/huggingface/hub; refs/main names the snapshot), else an error naming --vision-tower.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { findVisionTower, hfHubCache } from '../../../src/models/llava/tower.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'llava-tower-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const model = path.join(tmp, 'model');
mkdirSync(path.join(model, 'clip'), { recursive: true });
const cache = path.join(tmp, 'hub');
const snaps = path.join(cache, 'models--openai--clip-tiny', 'snapshots');
mkdirSync(path.join(snaps, 'aaa'), { recursive: true });
mkdirSync(path.join(snaps, 'bbb'), { recursive: true });

test('--vision-tower wins and must be a folder', () => {
  assert.deepEqual(findVisionTower(model, 'openai/clip-tiny', path.join(model, 'clip'), { HF_HUB_CACHE: cache }), { dir: path.join(model, 'clip'), via: 'option' });
  assert.throws(() => findVisionTower(model, null, path.join(tmp, 'nope')), /--vision-tower .*nope: not a folder/);
});

test('mm_vision_tower as a path, relative to the model folder or absolute', () => {
  assert.deepEqual(findVisionTower(model, 'clip', undefined, {}), { dir: path.join(model, 'clip'), via: 'config-path' });
  assert.deepEqual(findVisionTower(model, path.join(model, 'clip'), undefined, {}), { dir: path.join(model, 'clip'), via: 'config-path' });
});

test('the HF cache: refs/main, else the newest snapshot', () => {
  const t = Date.now() / 1000;
  utimesSync(path.join(snaps, 'aaa'), t - 100, t - 100);
  utimesSync(path.join(snaps, 'bbb'), t, t);
  assert.deepEqual(findVisionTower(model, 'openai/clip-tiny', undefined, { HF_HUB_CACHE: cache }), { dir: path.join(snaps, 'bbb'), via: 'hf-cache' });
  mkdirSync(path.join(cache, 'models--openai--clip-tiny', 'refs'), { recursive: true });
  writeFileSync(path.join(cache, 'models--openai--clip-tiny', 'refs', 'main'), 'aaa\n');
  assert.deepEqual(findVisionTower(model, 'openai/clip-tiny', undefined, { HF_HUB_CACHE: cache }), { dir: path.join(snaps, 'aaa'), via: 'hf-cache' });
  // HF_HOME/hub when HF_HUB_CACHE is unset; the home folder last.
  assert.equal(hfHubCache({ HF_HOME: tmp }), cache);
  assert.equal(hfHubCache({}), path.join(os.homedir(), '.cache', 'huggingface', 'hub'));
  assert.equal(findVisionTower(model, 'openai/clip-tiny', undefined, { HF_HOME: tmp }).via, 'hf-cache');
});

test('not found: an error naming the flag and where it looked', () => {
  assert.throws(() => findVisionTower(model, 'openai/clip-missing', undefined, { HF_HUB_CACHE: cache }),
    /cannot find mm_vision_tower "openai\/clip-missing" \(looked in .*models--openai--clip-missing\); pass its folder with --vision-tower DIR/);
  assert.throws(() => findVisionTower(model, null, undefined, {}), /pass its folder with --vision-tower DIR/);
});
