/**
 * The `ts` backend: every kernel in plain TypeScript. It is the specification (native kernels are tested
 * against it) and the fallback for whatever another backend does not cover.
 */
import { registerBackend, type Backend } from '../../engine/backend.js';
import type { Kernels } from '../../engine/kernels.js';
import { binary, compare, copy, fill, unary, where } from './elementwise.js';
import { matmul } from './linalg.js';
import { embedding, linear, quantize } from './linear.js';
import { attention, crossEntropy, indexSelect, layerNorm, rmsNorm, rope, softmax } from './nn.js';
import { reduce } from './reduce.js';

export const tsKernels: Kernels = {
  fill, copy, unary, binary, compare, where, reduce,
  matmul, linear, embedding, quantize,
  layerNorm, rmsNorm, softmax, rope, attention, crossEntropy, indexSelect,
};

export const tsBackend: Backend & { kernels: Kernels } = {
  name: 'ts',
  kernels: tsKernels,
  describe: () => 'ts (reference, single-threaded JavaScript)',
};

registerBackend(tsBackend, { reference: true });
