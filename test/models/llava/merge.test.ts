/**
 * The image merge plan on hand-written id lists: compact placeholders (−200 or the llava-hf image id),
 * already-expanded runs, several images in order, label rebuilding, and the errors naming the counts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { imageOffsets, mergeLabels, planMerge, textIds } from '../../../src/models/llava/merge.js';

const opts = (numImages: number) => ({ placeholderIds: [-200, 32000], featuresPerImage: 3, numImages });

test('one −200 placeholder becomes one image of featuresPerImage positions', () => {
  const ids = [1, 5, -200, 7, 8];
  const plan = planMerge(ids, opts(1));
  assert.deepEqual(plan.segments, [
    { kind: 'text', start: 0, end: 2 },
    { kind: 'image', image: 0 },
    { kind: 'text', start: 3, end: 5 },
  ]);
  assert.equal(plan.length, 4 + 3);
  assert.deepEqual(textIds(ids, plan), [1, 5, 7, 8]);
  assert.deepEqual(imageOffsets(plan), [2]);
});

test('a run of exactly featuresPerImage image ids is one already-expanded image', () => {
  const ids = [1, 32000, 32000, 32000, 9];
  const plan = planMerge(ids, opts(1));
  assert.equal(plan.length, 5);
  assert.deepEqual(plan.segments.map((g) => g.kind), ['text', 'image', 'text']);
  assert.deepEqual(textIds(ids, plan), [1, 9]);
});

test('several images are consumed in order, compact and expanded forms mixed', () => {
  const ids = [-200, 4, 32000, 32000, 32000, 6, 32000];
  const plan = planMerge(ids, opts(3));
  assert.deepEqual(plan.segments, [
    { kind: 'image', image: 0 },
    { kind: 'text', start: 1, end: 2 },
    { kind: 'image', image: 1 },
    { kind: 'text', start: 5, end: 6 },
    { kind: 'image', image: 2 },
  ]);
  assert.deepEqual(imageOffsets(plan), [0, 4, 8]);
  assert.equal(plan.length, 2 + 9);
  // Two expanded images back to back (a run of 2·N).
  assert.equal(planMerge([32000, 32000, 32000, 32000, 32000, 32000], opts(2)).images, 2);
});

test('labels: image positions get the ignore index, text keeps its labels', () => {
  const plan = planMerge([1, -200, 7], opts(1));
  assert.deepEqual(mergeLabels([-100, -100, 42], plan), [-100, -100, -100, -100, 42]);
  assert.deepEqual(mergeLabels([10, 11, 12], plan, -1), [10, -1, -1, -1, 12]);
});

test('a text-only sequence has no image segments', () => {
  const plan = planMerge([1, 2, 3], opts(0));
  assert.equal(plan.length, 3);
  assert.deepEqual(plan.segments, [{ kind: 'text', start: 0, end: 3 }]);
});

test('wrong placeholder counts are errors naming the counts', () => {
  assert.throws(() => planMerge([1, 32000, 32000, 2], opts(1)), /run of 2 image placeholder ids at position 1.*1 placeholder id or exactly 3/);
  assert.throws(() => planMerge([1, -200, 2], opts(2)), /stand for 1 image\(s\) but 2 image\(s\) were given/);
  assert.throws(() => planMerge([1, 2], opts(1)), /stand for 0 image\(s\) but 1 image\(s\) were given/);
});
