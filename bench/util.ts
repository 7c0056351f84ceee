/**
 * Benchmark helpers: timing with medians, thread control, table printing, and the machine probes (fp32 FMA
 * peak and streaming read bandwidth) that every benchmark reports beside its own figures.
 */
import { loadAddon, runKernel } from '../src/backends/native/addon.js';

export function nowMs(): number {
  return performance.now();
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Run fn `reps` times (after `warmup` runs) and return the median milliseconds. */
export function timeMedian(fn: () => void, reps = 5, warmup = 1): number {
  for (let i = 0; i < warmup; i++) fn();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = nowMs();
    fn();
    ts.push(nowMs() - t0);
  }
  return median(ts);
}

/** Set the native pool size; returns the previous size. */
export function setThreads(n: number): number {
  const a = loadAddon();
  if (!a) throw new Error('benchmarks need the native addon (npm run build:native)');
  const prev = a.threads();
  a.setThreads(n);
  return prev;
}

export function printTable(headers: string[], rows: (string | number)[][]): void {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? fmtNum(c) : c)));
  const w = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padStart(w[i]!)).join('  ');
  process.stdout.write(line(headers) + '\n' + line(w.map((n) => '-'.repeat(n))) + '\n');
  for (const r of cells) process.stdout.write(line(r) + '\n');
}

function fmtNum(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (Math.abs(x) >= 100) return x.toFixed(0);
  if (Math.abs(x) >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

/** fp32 FMA peak in GFLOP/s on `threads` threads (median of `reps`). */
export function probeFmaPeak(threads: number, reps = 5): number {
  const prev = setThreads(threads);
  try {
    const iters = 20_000_000;
    const out = new Float32Array(threads);
    const ms = timeMedian(() => runKernel('probe_fma', [out], [iters, threads]), reps, 1);
    return (iters * 12 * 8 * 2 * threads) / (ms * 1e6);
  } finally {
    setThreads(prev);
  }
}

/** Streaming read bandwidth in GB/s over a buffer of `mb` megabytes (median of `reps` passes). */
export function probeBandwidth(threads: number, mb = 1024, reps = 5): number {
  const prev = setThreads(threads);
  try {
    const n = (mb * 1024 * 1024) / 4;
    const buf = new Float32Array(n);
    for (let i = 0; i < n; i += 1024) buf[i] = 1; // touch every page
    const out = new Float32Array(threads);
    const ms = timeMedian(() => runKernel('probe_read', [buf, out], [n, 1, threads]), reps, 1);
    return (n * 4) / (ms * 1e6);
  } finally {
    setThreads(prev);
  }
}
