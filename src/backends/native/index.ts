/**
 * The `native` backend: C++ kernels through N-API (native/src), AVX2/FMA/F16C where the CPU has them,
 * a scalar path elsewhere, a thread pool sized by LLAVA_THREADS. Kernels it lacks fall back to `ts`.
 */
import { registerBackend, type Backend } from '../../engine/backend.js';
import { setFileMapper } from '../../engine/file-map.js';
import type { Kernels } from '../../engine/kernels.js';
import { effectiveNativeIsa, loadAddon } from './addon.js';
import { elementwiseKernels } from './elementwise.js';
import { linalgKernels } from './linalg.js';
import { nnKernels } from './nn.js';
import { quantKernels } from './quant.js';

export const nativeKernels: Partial<Kernels> = {
  ...elementwiseKernels,
  ...linalgKernels,
  ...nnKernels,
  ...quantKernels,
};

/**
 * The native backend if the addon loaded (registered as 'native'), else null. Also registers the addon's
 * file mapper for checkpoint readers (engine/file-map.ts).
 */
export function nativeBackend(): Backend | null {
  const a = loadAddon();
  if (!a) return null;
  if (a.mapFile && a.mapView) {
    setFileMapper({
      map: (p) => {
        const m = a.mapFile!(p);
        // The closure keeps m.handle (and so the mapping) alive as long as the MappedFile is reachable.
        return { bytes: m.bytes, maxView: m.maxView, view: (off, len) => a.mapView!(m.handle, off, len) };
      },
      release: a.mapRelease ? (v) => a.mapRelease!(v as ArrayBuffer) : undefined,
    });
  }
  const b: Backend = {
    name: 'native',
    kernels: nativeKernels,
    describe() {
      const isa = effectiveNativeIsa();
      return `native (${isa}, ${a.threads()} thread${a.threads() === 1 ? '' : 's'})`;
    },
  };
  registerBackend(b);
  return b;
}
