/**
 * Native wrappers for the nn kernels (see src/engine/kernels.ts for the contracts).
 */
import type { Kernels } from '../../engine/kernels.js';

export const nnKernels: Partial<Kernels> = {};
