/**
 * Benchmark helpers: timing with medians, thread control, table printing, and the machine probes (fp32 FMA
 * peak and streaming read bandwidth) that every benchmark reports beside its own figures.
 */
import { loadAddon, runKernel } from '../src/backends/native/addon.js';
import { quantKernels } from '../src/backends/native/quant.js';
import { Tensor, tensor, type DType } from '../src/index.js';

/** The value after flag `name` in a bench's arguments, or `def`. */
export function arg(args: string[], name: string, def: string): string {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : def;
}

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

/**
 * Median µs per item over `reps` timed passes of `call` through all of `items` (after one warm-up pass): the
 * cycled-working-set timing of the decode and attention benches (enough distinct items to miss the caches).
 */
export function medianPassUs<T>(items: readonly T[], reps: number, call: (item: T) => void): number {
  const pass = () => {
    for (const it of items) call(it);
  };
  pass();
  const us: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = nowMs();
    pass();
    us.push(((nowMs() - t0) * 1000) / items.length);
  }
  return median(us);
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

/** Deterministic values in [−1, 1) from a linear congruential generator (cheap for hundreds of MB). */
export function lcgValues(count: number, seed = 12345): Float32Array {
  const v = new Float32Array(count);
  let s = seed;
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    v[i] = s / 2 ** 31 - 1;
  }
  return v;
}

/** A weight [n, k] of `lcgValues` in `dtype` (q8_0/q4_0 through the native quantizer). */
export function weightMatrix(n: number, k: number, dtype: DType): Tensor {
  const v = lcgValues(n * k);
  if (dtype === 'q8_0' || dtype === 'q4_0') {
    const w = Tensor.empty([n, k], dtype);
    const r = quantKernels.quantize!(w, new Tensor(v, 'f32', [n, k]));
    if (r !== undefined) throw new Error(`bench: native quantize declined: ${String(r)}`);
    return w;
  }
  return tensor(v, { dtype, shape: [n, k] });
}
