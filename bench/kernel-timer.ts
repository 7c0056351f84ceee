/**
 * Per-kernel timing for the profiling benches (`bench prefill`, `bench profile`): every kernel function of a
 * backend is wrapped so that each call's wall time is handed to a recorder under a label that tells the
 * calls apart (linear by weight dtype and shape, attention by key/value storage, elementwise ops by op).
 * A wrapper adds a few microseconds per call.
 *
 * Not here: what the benches do with the times (phases, shares, tables).
 */
import type { Tensor } from '../src/engine/tensor.js';

/** A label for a kernel call: linear by weight dtype and shape (and "1 row"), attention by k/v storage and Tq. */
export function kernelLabel(name: string, args: unknown[]): string {
  const t = (i: number) => args[i] as Tensor;
  if (name === 'linear') {
    const x = t(1), w = t(2);
    return `linear ${w.dtype} ${w.shape.join('x')}${x.shape[0] === 1 && x.numel === x.shape[x.ndim - 1] ? ' (1 row)' : ''}`;
  }
  if (name === 'attention') return `attention ${t(2).dtype} k/v, Tq ${t(1).shape[2] === 1 ? 1 : '>1'}`;
  if (name === 'unary' || name === 'binary' || name === 'compare' || name === 'reduce') return `${name} ${String(args[0])}`;
  if (name === 'copy') return `copy ${t(1).dtype}→${t(0).dtype}`;
  return name;
}

/**
 * Wraps every kernel in `kernels` (a backend's kernel table, changed in place) so that each call reports
 * `record(prefix + label, ms)`; returns a function that puts the original kernels back.
 */
export function timeKernels(kernels: object, record: (label: string, ms: number) => void, prefix = ''): () => void {
  const table = kernels as Record<string, unknown>;
  const saved = new Map(Object.entries(table));
  for (const [name, fn] of saved) {
    if (typeof fn !== 'function') continue;
    table[name] = (...args: unknown[]) => {
      const t0 = performance.now();
      const r = (fn as (...a: unknown[]) => unknown)(...args);
      record(prefix + kernelLabel(name, args), performance.now() - t0);
      return r;
    };
  }
  return () => {
    for (const [name, fn] of saved) table[name] = fn;
  };
}
