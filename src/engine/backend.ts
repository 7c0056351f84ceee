/**
 * Backend registry and kernel dispatch. A backend is a named set of kernels (kernels.ts); the reference
 * backend (`ts`) implements all of them, others implement what they can. `dispatch` runs the active
 * backend's kernel and, when it is missing or declines the dtypes/layout, runs the reference kernel instead
 * and records the fallback: counted always, logged once per kernel and reason with LLAVA_DEBUG=fallback.
 *
 * The engine never imports a concrete backend: backends register themselves (src/backends/index.ts picks
 * the default from LLAVA_BACKEND).
 */
import { debug } from '../util/log.js';
import type { KernelName, Kernels } from './kernels.js';

export interface Backend {
  readonly name: string;
  readonly kernels: Partial<Kernels>;
  /** One line for logs: ISA, threads, … */
  describe(): string;
}

const backends = new Map<string, Backend>();
let reference: (Backend & { kernels: Kernels }) | null = null;
let active: Backend | null = null;

export function registerBackend(b: Backend, opts: { reference?: boolean } = {}): void {
  backends.set(b.name, b);
  if (opts.reference) reference = b as Backend & { kernels: Kernels };
}

export function availableBackends(): string[] {
  return [...backends.keys()];
}

export function getBackend(name: string): Backend {
  const b = backends.get(name);
  if (!b) throw new Error(`backend '${name}' is not available (available: ${availableBackends().join(', ') || 'none'})`);
  return b;
}

export function setBackend(name: string): Backend {
  active = getBackend(name);
  return active;
}

export function activeBackend(): Backend {
  const b = active ?? reference;
  if (!b) throw new Error('no backend registered: import the package entry (or src/backends/index.js) first');
  return b;
}

export function referenceBackend(): Backend & { kernels: Kernels } {
  if (!reference) throw new Error('the reference backend (ts) is not registered');
  return reference;
}

/** Run `fn` with another backend active (tests compare backends this way). */
export function withBackend<T>(name: string, fn: () => T): T {
  const prev = active;
  active = getBackend(name);
  try {
    return fn();
  } finally {
    active = prev;
  }
}

const fallbacks = new Map<string, number>();
let dispatches = 0;

/** Kernel dispatches since the process started (benchmarks count the calls a forward makes). */
export function dispatchCount(): number {
  return dispatches;
}

/** Fallback counts keyed "backend:kernel:reason" since the last reset. */
export function fallbackStats(): Map<string, number> {
  return new Map(fallbacks);
}
export function resetFallbackStats(): void {
  fallbacks.clear();
}

export function dispatch<K extends KernelName>(name: K, ...args: Parameters<Kernels[K]>): void {
  dispatches++;
  const b = activeBackend();
  const k = b.kernels[name] as ((...a: Parameters<Kernels[K]>) => unknown) | undefined;
  let reason = 'missing';
  if (k) {
    const r = k(...args);
    if (r === undefined) return;
    reason = typeof r === 'string' ? r : 'declined';
  }
  const ref = referenceBackend();
  if (b !== ref) {
    const key = `${b.name}:${name}:${reason}`;
    const n = fallbacks.get(key) ?? 0;
    fallbacks.set(key, n + 1);
    if (n === 0) debug('fallback', `${b.name} has no ${name} kernel for this case (${reason}); running ts`);
  }
  const r = (ref.kernels[name] as (...a: Parameters<Kernels[K]>) => unknown)(...args);
  if (r !== undefined) throw new Error(`${name}: the reference kernel cannot handle this case (${String(r)})`);
}
