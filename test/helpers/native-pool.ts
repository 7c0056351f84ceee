/**
 * Runs test code with the native thread pool at a given size and puts the previous size back.
 */
import { loadAddon } from '../../src/backends/native/addon.js';

/** fn() with the native pool at `n` threads (the addon must be loaded). */
export function withPool<T>(n: number, fn: () => T): T {
  const addon = loadAddon()!;
  const prev = addon.threads();
  addon.setThreads(n);
  try {
    return fn();
  } finally {
    addon.setThreads(prev);
  }
}
