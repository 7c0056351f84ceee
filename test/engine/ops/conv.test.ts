/**
 * conv2d as a patch embedding: patch sums by hand, remainder rows/cols ignored, bias, and the errors for
 * unsupported strides and padding.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { arange, conv2d, full, tensor, zeros } from '../../../src/index.js';
import { assertClose } from '../../helpers/assert.js';
import { tsKernelPending } from '../../helpers/kernels.js';

test('2×2 patches of a 4×4 image summed by a ones kernel', { skip: tsKernelPending('linear') }, () => {
  const x = arange(0, 16, 1, 'f32').reshape(1, 1, 4, 4);
  const y = conv2d(x, full([1, 1, 2, 2], 1), null, { stride: 2 });
  assert.deepEqual(y.shape, [1, 1, 2, 2]);
  assertClose(y, [10, 18, 42, 50]);
});

test('rows/cols beyond the last whole patch are ignored; channels, outputs and bias', { skip: tsKernelPending('linear') }, () => {
  const x = arange(0, 2 * 5 * 5, 1, 'f32').reshape(1, 2, 5, 5); // channel 1 = channel 0 + 25
  const w = tensor([[[[1, 1], [1, 1]], [[0, 0], [0, 0]]], [[[0, 0], [0, 0]], [[1, 0], [0, 0]]]]);
  const y = conv2d(x, w, tensor([0.5, -1]), { stride: [2, 2] });
  assert.deepEqual(y.shape, [1, 2, 2, 2]);
  // Output 0: patch sums of channel 0 + 0.5; output 1: top-left of each channel-1 patch − 1.
  assertClose(y, [12.5, 20.5, 52.5, 60.5, 24, 26, 34, 36]);
});

test('conv2d errors name the op and the shapes', () => {
  const x = zeros([1, 3, 8, 8]);
  assert.throws(() => conv2d(x, zeros([4, 3, 2, 2]), null, { stride: 1 }), /conv2d: only stride equal to the kernel size \(patch embedding\) is supported, got stride \[1, 1\] for kernel \[2, 2\]: x f32 \[1, 3, 8, 8\], w f32 \[4, 3, 2, 2\]/);
  assert.throws(() => conv2d(x, zeros([4, 2, 2, 2]), null, { stride: 2 }), /conv2d: channels differ \(3 vs 2\)/);
  assert.throws(() => conv2d(x, zeros([4, 3, 2, 2]), null, { stride: 2, padding: 1 }), /conv2d: padding \[1, 1\] is not supported/);
  assert.throws(() => conv2d(x, zeros([4, 3, 9, 9]), null, { stride: 9 }), /conv2d: the kernel is larger than the input/);
  assert.throws(() => conv2d(zeros([3, 8, 8]), zeros([4, 3, 2, 2]), null, { stride: 2 }), /conv2d: x must be \[B, C, H, W\]/);
});
