/**
 * Test-side probes of the reference backend: whether a `ts` kernel owned by another part of the engine is
 * written yet, so tests that need it are skipped with the reason (never passed) until it lands.
 */
import { referenceBackend, tensor, zeros } from '../../src/index.js';

/** False when the ts kernel runs a tiny case; otherwise the reason to skip tests that need it. */
export function tsKernelPending(name: 'linear' | 'embedding'): string | false {
  const k = referenceBackend().kernels;
  const w = tensor([[1, 2], [3, 4]]);
  const r = name === 'linear'
    ? k.linear(zeros([1, 2]), tensor([[1, 1]]), w, null)
    : k.embedding(zeros([1, 2]), w, tensor([1], { dtype: 'i32' }));
  return typeof r === 'string' || r === false ? `ts ${name} kernel not available: ${String(r)}` : false;
}

/** The first pending kernel among `names`, or false when all are written. */
export function tsKernelsPending(names: readonly ('linear' | 'embedding')[]): string | false {
  for (const n of names) {
    const p = tsKernelPending(n);
    if (p) return p;
  }
  return false;
}
