/**
 * `npm run bench -- gemm [--quick]`: the native fp32 GEMM against the machine's FMA peak and against
 * PyTorch in the same run.
 *
 * Measures: the fp32 FMA peak and streaming read bandwidth (1 and 2 threads); our GEMM on 1 and 2 threads
 * at 1024³, 2048³, 4096³ (`matmul`, b [K, N]) and at the LLaVA-7B projection shapes m×n×k = 576×4096×4096,
 * 576×11008×4096, 576×4096×11008 (`linear`, weight [n, k], in f32 and f16); PyTorch (2 threads) on the
 * same shapes through a python3 subprocess kept open for the whole run, so that each torch row is measured
 * right after ours. Prints a table and, as the last line, one JSON object.
 *
 * The kernels are called through the native backend's matmul/linear wrappers with preallocated outputs:
 * this measures the GEMM, not the allocation of a fresh 64 MB output (page faults) that an op call adds.
 * Torch has no fast CPU f16 GEMM, so f16 rows are compared with torch's f32 time for the same shape.
 *
 * Torch: see bench/torch.ts (the BLAS it runs is printed). Without torch the bench still runs and says so.
 *
 * Not here: small-M (decode) shapes (bench decode), per-call overhead (bench overhead).
 */
import os from 'node:os';
import { linalgKernels } from '../src/backends/native/linalg.js';
import { Tensor, randn, to, type DType } from '../src/index.js';
import { describeTorch, LoadMeter, startTorch } from './torch.js';
import { median, nowMs, printTable, probeBandwidth, probeFmaPeak, setThreads, timeMedian } from './util.js';

interface Shape {
  op: 'matmul' | 'linear';
  m: number;
  n: number;
  k: number;
  dtype: DType;
}

interface Row extends Shape {
  threads: number;
  ms: number;
  gflops: number;
  pct_of_peak: number;
  torch_gflops: number | null;
  torch_blas: string | null;
}

const SQUARE = [1024, 2048, 4096];
const LLAVA: [number, number, number][] = [[576, 4096, 4096], [576, 11008, 4096], [576, 4096, 11008]];

function shapes(quick: boolean): Shape[] {
  const sq = (quick ? SQUARE.slice(0, 2) : SQUARE).map((s): Shape => ({ op: 'matmul', m: s, n: s, k: s, dtype: 'f32' }));
  const ll = (quick ? LLAVA.slice(0, 1) : LLAVA).flatMap(([m, n, k]): Shape[] => [
    { op: 'linear', m, n, k, dtype: 'f32' },
    { op: 'linear', m, n, k, dtype: 'f16' },
  ]);
  return [...sq, ...ll];
}

/** Repetitions: at least 3, fewer seconds for the big ones. */
function repsFor(flops: number, threads: number): number {
  return flops / threads > 60e9 ? 3 : 5;
}

// ---- PyTorch peer: one GEMM shape per request ----

const TORCH_GEMM = String.raw`
def handle(q):
    m, n, k = q['m'], q['n'], q['k']
    a = torch.randn(m, k)
    if q['op'] == 'linear':
        w = torch.randn(n, k)
        f = lambda: torch.nn.functional.linear(a, w)
    else:
        b = torch.randn(k, n)
        f = lambda: torch.mm(a, b)
    return {'ms': median_seconds(f, q['reps']) * 1e3}
`;

// ---- ours ----

interface Operands {
  out: Tensor;
  a: Tensor;
  b: Tensor;
}

function operands(s: Shape): Operands {
  const a = randn([s.m, s.k], { seed: 1 });
  const b32 = randn(s.op === 'linear' ? [s.n, s.k] : [s.k, s.n], { seed: 2 });
  const b = s.dtype === 'f32' ? b32 : to(b32, s.dtype);
  return { out: Tensor.empty([s.m, s.n]), a, b };
}

function oursMs(s: Shape, o: Operands, reps: number): number {
  const call = () => {
    const r = s.op === 'linear' ? linalgKernels.linear!(o.out, o.a, o.b, null) : linalgKernels.matmul!(o.out, o.a, o.b);
    if (r !== undefined) throw new Error(`native ${s.op} declined: ${String(r)}`);
  };
  return timeMedian(call, reps, 1);
}

function probes(): { peak: Record<number, number>; bw: Record<number, number> } {
  return { peak: { 1: probeFmaPeak(1), 2: probeFmaPeak(2) }, bw: { 1: probeBandwidth(1), 2: probeBandwidth(2) } };
}

export async function run(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  process.stdout.write(`gemm bench: ${os.cpus()[0]?.model ?? 'cpu'}, ${os.availableParallelism()} cores, load average ` +
    `${os.loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
  const runMeter = new LoadMeter();
  const first = probes();
  const torch = await startTorch(2, TORCH_GEMM);
  const torchBlas = typeof torch === 'string' ? null : torch.blas;
  process.stdout.write(describeTorch(torch, 2) + '\n');

  interface Measured extends Omit<Row, 'pct_of_peak'> {
    other: number | null;
    probe: number;
  }
  const measured: Measured[] = [];
  const torchF32 = new Map<string, number>();
  const prevThreads = setThreads(2);
  try {
    for (const s of shapes(quick)) {
      const o = operands(s);
      const flops = 2 * s.m * s.n * s.k;
      for (const threads of [1, 2]) {
        const meter = new LoadMeter(typeof torch === 'string' ? undefined : torch.pid);
        // A short probe right before the row: a host that lends fewer cores than usual (invisible to the
        // load meter inside this machine) shows up as a low probe.
        const probe = probeFmaPeak(threads, 1);
        setThreads(threads);
        const ms = oursMs(s, o, repsFor(flops, threads));
        let tg: number | null = null;
        if (threads === 2 && typeof torch !== 'string') {
          const key = `${s.op} ${s.m} ${s.n} ${s.k}`;
          if (!torchF32.has(key)) torchF32.set(key, flops / ((await torch.request<{ ms: number }>({ op: s.op, m: s.m, n: s.n, k: s.k, reps: repsFor(flops, 2) })).ms * 1e6));
          tg = torchF32.get(key)!;
        }
        measured.push({
          ...s, threads, ms, gflops: flops / (ms * 1e6), torch_gflops: tg, torch_blas: tg === null ? null : torchBlas,
          other: meter.otherCores(), probe,
        });
      }
    }
  } finally {
    setThreads(prevThreads);
    if (typeof torch !== 'string') torch.close();
  }
  // Probed again at the end; the peak is the median of every probe of the run (start, end, before each
  // row): the host's cores come and go, and the highest of many readings would overstate it.
  const last = probes();
  const typical = (t: number) => median([first.peak[t]!, last.peak[t]!, ...measured.filter((r) => r.threads === t).map((r) => r.probe)]);
  const peak = { 1: typical(1), 2: typical(2) } as Record<number, number>;
  const bw = { 1: Math.max(first.bw[1]!, last.bw[1]!), 2: Math.max(first.bw[2]!, last.bw[2]!) } as Record<number, number>;
  const other = runMeter.otherCores();
  const rows: Row[] = measured.map((r) => ({ ...r, pct_of_peak: (100 * r.gflops) / peak[r.threads]! }));

  process.stdout.write(`fp32 FMA peak (median of the run's probes): ${peak[1]!.toFixed(1)} GFLOP/s (1 thread), ${peak[2]!.toFixed(1)} (2 threads) ` +
    `[start ${first.peak[1]!.toFixed(1)}/${first.peak[2]!.toFixed(1)}, end ${last.peak[1]!.toFixed(1)}/${last.peak[2]!.toFixed(1)}]; ` +
    `streaming read: ${bw[1]!.toFixed(1)} GB/s (1 thread), ${bw[2]!.toFixed(1)} (2 threads)\n`);
  printTable(
    ['op', 'w', 'm', 'n', 'k', 'thr', 'ms', 'GFLOP/s', '% peak', 'torch', 'ratio', 'probe', 'other load'],
    measured.map((r, i) => [
      r.op, r.dtype, String(r.m), String(r.n), String(r.k), String(r.threads), r.ms, r.gflops, rows[i]!.pct_of_peak,
      r.torch_gflops ?? '-', r.torch_gflops ? r.gflops / r.torch_gflops : '-',
      r.probe < 0.9 * peak[r.threads]! ? `${fmt(r.probe)}!` : r.probe, r.other === null ? '?' : r.other,
    ]),
  );
  process.stdout.write(`torch: PyTorch f32, 2 threads (f16 rows are compared with it too: torch has no fast CPU f16 GEMM). ` +
    `probe: FMA peak probed just before the row (! = 10% below the peak: the host lent less, the row is low); ` +
    `other load: cores' worth of other processes' work while the row ran` +
    `${other !== null && other > 0.2 ? ` (${other.toFixed(2)} on average: the machine was busy, numbers are low)` : ''}\n`);
  process.stdout.write(JSON.stringify({
    bench: 'gemm',
    peak_gflops: round(peak[2]!), peak_gflops_1t: round(peak[1]!),
    bandwidth_gbs: round(bw[2]!), bandwidth_gbs_1t: round(bw[1]!),
    torch: typeof torch === 'string' ? null : { version: torch.version, blas: torch.blas, libs: torch.libs },
    other_load: other === null ? null : round(other),
    rows: rows.map((r, i) => ({
      op: r.op, dtype: r.dtype, m: r.m, n: r.n, k: r.k, threads: r.threads, gflops: round(r.gflops),
      pct_of_peak: round(r.pct_of_peak), torch_gflops: r.torch_gflops === null ? null : round(r.torch_gflops),
      torch_blas: r.torch_blas, row_probe_gflops: round(measured[i]!.probe),
    })),
  }) + '\n');
}

function fmt(x: number): string {
  return x >= 100 ? x.toFixed(0) : x.toFixed(1);
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}
