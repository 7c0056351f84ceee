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
 * Torch: the system python (/usr/bin/python3, then python3 on PATH) with Debian's python3-torch. Its BLAS
 * is whatever libblas.so.3 resolves to: install libopenblas0-pthread (update-alternatives then selects
 * OpenBLAS) or torch runs the reference BLAS at a few GFLOP/s; the bench prints the BLAS actually mapped
 * into the python process. Without torch the bench still runs and says so.
 *
 * Not here: small-M (decode) shapes (bench decode), per-call overhead (bench overhead).
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { linalgKernels } from '../src/backends/native/linalg.js';
import { Tensor, randn, to, type DType } from '../src/index.js';
import { median, nowMs, printTable, probeBandwidth, probeFmaPeak, setThreads } from './util.js';

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

// ---- PyTorch peer ----

const TORCH_SERVER = String.raw`
import ctypes, json, os, re, sys, time
import torch
torch.set_num_threads(int(os.environ.get('BENCH_THREADS', '2')))
def blas():
    libs = []
    for line in open('/proc/self/maps'):
        p = line.split()[-1] if len(line.split()) >= 6 else ''
        if re.search(r'(blas|mkl|blis)', os.path.basename(p), re.I) and p not in libs:
            libs.append(p)
    name = 'BLAS_INFO=' + torch.__config__.show().split('BLAS_INFO=')[-1].split(',')[0]
    for p in libs:
        try:
            f = ctypes.CDLL(p).openblas_get_config
            f.restype = ctypes.c_char_p
            name = 'OpenBLAS ' + f().decode().replace('OpenBLAS ', '')
            break
        except Exception:
            pass
    return name, libs
x = torch.randn(64, 64); x @ x
name, libs = blas()
print(json.dumps({'ready': True, 'torch': torch.__version__, 'blas': name, 'libs': libs, 'threads': torch.get_num_threads()}), flush=True)
for line in sys.stdin:
    q = json.loads(line)
    m, n, k, reps = q['m'], q['n'], q['k'], q['reps']
    a = torch.randn(m, k)
    if q['op'] == 'linear':
        w = torch.randn(n, k)
        f = lambda: torch.nn.functional.linear(a, w)
    else:
        b = torch.randn(k, n)
        f = lambda: torch.mm(a, b)
    with torch.no_grad():
        f()
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter(); f(); ts.append(time.perf_counter() - t0)
    ts.sort()
    print(json.dumps({'ms': ts[len(ts) // 2] * 1e3}), flush=True)
`;

interface Torch {
  /** BLAS torch calls into (OpenBLAS's own config string when it is OpenBLAS). */
  blas: string;
  /** Shared libraries of BLAS kind mapped into the python process. */
  libs: string[];
  version: string;
  pid: number | undefined;
  measure(s: Shape, reps: number): Promise<number>;
  close(): void;
}

/** The python with torch: the system one first (a python3 on PATH may be another without torch). */
function findPython(): string | null {
  for (const py of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 });
    if (r.status === 0) return py;
  }
  return null;
}

async function startTorch(threads: number): Promise<Torch | string> {
  const py = findPython();
  if (!py) return 'python3 with torch not found (apt-get install python3-torch libopenblas0-pthread)';
  const env = { ...process.env, BENCH_THREADS: String(threads), OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads) };
  const child: ChildProcessWithoutNullStreams = spawn(py, ['-c', TORCH_SERVER], { env });
  let buf = '';
  let stderr = '';
  let exited: string | null = null;
  const waiting: { resolve: (line: string) => void; reject: (e: Error) => void }[] = [];
  child.stderr.on('data', (d) => (stderr += d));
  child.stdout.on('data', (d) => {
    buf += d;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      waiting.shift()?.resolve(line);
    }
  });
  child.on('exit', (code) => {
    exited = `torch exited (${code}): ${stderr.trim().split('\n').pop() ?? ''}`;
    for (const w of waiting.splice(0)) w.reject(new Error(exited));
  });
  const next = () =>
    new Promise<string>((resolve, reject) => {
      if (exited) reject(new Error(exited));
      else waiting.push({ resolve, reject });
    });
  try {
    const hello = JSON.parse(await next()) as { blas: string; libs: string[]; torch: string };
    return {
      blas: hello.blas,
      libs: hello.libs,
      version: hello.torch,
      pid: child.pid,
      async measure(s, reps) {
        child.stdin.write(JSON.stringify({ op: s.op, m: s.m, n: s.n, k: s.k, reps }) + '\n');
        return (JSON.parse(await next()) as { ms: number }).ms;
      },
      close: () => child.stdin.end(),
    };
  } catch (e) {
    child.kill();
    return (e as Error).message;
  }
}

// ---- how busy the machine was with other work ----

/** Busy CPU seconds of the whole machine so far (/proc/stat), or null off Linux. */
function machineBusySeconds(): number | null {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal
    const busy = f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + (f[7] ?? 0);
    return busy / 100; // USER_HZ
  } catch {
    return null;
  }
}

/** CPU seconds used by a process (/proc/<pid>/stat), 0 when unknown. */
function processSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

/** Cores' worth of other processes' work between two readings (machine busy time minus ours). */
class LoadMeter {
  private busy0 = machineBusySeconds();
  private self0 = process.cpuUsage();
  private t0 = nowMs();
  private child0: number;
  constructor(private childPid?: number) {
    this.child0 = processSeconds(childPid);
  }
  otherCores(): number | null {
    const busy = machineBusySeconds();
    if (busy === null || this.busy0 === null) return null;
    const self = process.cpuUsage(this.self0);
    const ours = (self.user + self.system) / 1e6 + processSeconds(this.childPid) - this.child0;
    return Math.max(0, (busy - this.busy0 - ours) / ((nowMs() - this.t0) / 1000));
  }
}

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
  call();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = nowMs();
    call();
    ts.push(nowMs() - t0);
  }
  return median(ts);
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
  const torch = await startTorch(2);
  const torchBlas = typeof torch === 'string' ? null : torch.blas;
  process.stdout.write(typeof torch === 'string' ? `PyTorch: unavailable (${torch})\n`
    : `PyTorch ${torch.version}, 2 threads, BLAS: ${torch.blas} (mapped: ${torch.libs.join(', ') || 'none'})` +
      `${/openblas|mkl|blis/i.test(torch.blas) ? '' : ' — a reference BLAS: install libopenblas0-pthread or select it with update-alternatives --config libblas.so.3-x86_64-linux-gnu'}\n`);

  interface Measured extends Omit<Row, 'pct_of_peak'> { other: number | null }
  const measured: Measured[] = [];
  const torchF32 = new Map<string, number>();
  const prevThreads = setThreads(2);
  try {
    for (const s of shapes(quick)) {
      const o = operands(s);
      const flops = 2 * s.m * s.n * s.k;
      for (const threads of [1, 2]) {
        const meter = new LoadMeter(typeof torch === 'string' ? undefined : torch.pid);
        setThreads(threads);
        const ms = oursMs(s, o, repsFor(flops, threads));
        let tg: number | null = null;
        if (threads === 2 && typeof torch !== 'string') {
          const key = `${s.op} ${s.m} ${s.n} ${s.k}`;
          if (!torchF32.has(key)) torchF32.set(key, flops / ((await torch.measure(s, repsFor(flops, 2))) * 1e6));
          tg = torchF32.get(key)!;
        }
        measured.push({ ...s, threads, ms, gflops: flops / (ms * 1e6), torch_gflops: tg, torch_blas: tg === null ? null : torchBlas, other: meter.otherCores() });
      }
    }
  } finally {
    setThreads(prevThreads);
    if (typeof torch !== 'string') torch.close();
  }
  // Probed again at the end; the higher reading is the peak (a busy moment only lowers it).
  const last = probes();
  const peak = { 1: Math.max(first.peak[1]!, last.peak[1]!), 2: Math.max(first.peak[2]!, last.peak[2]!) } as Record<number, number>;
  const bw = { 1: Math.max(first.bw[1]!, last.bw[1]!), 2: Math.max(first.bw[2]!, last.bw[2]!) } as Record<number, number>;
  const other = runMeter.otherCores();
  const rows: Row[] = measured.map((r) => ({ ...r, pct_of_peak: (100 * r.gflops) / peak[r.threads]! }));

  process.stdout.write(`fp32 FMA peak: ${peak[1]!.toFixed(1)} GFLOP/s (1 thread), ${peak[2]!.toFixed(1)} (2 threads) ` +
    `[start ${first.peak[1]!.toFixed(1)}/${first.peak[2]!.toFixed(1)}, end ${last.peak[1]!.toFixed(1)}/${last.peak[2]!.toFixed(1)}]; ` +
    `streaming read: ${bw[1]!.toFixed(1)} GB/s (1 thread), ${bw[2]!.toFixed(1)} (2 threads)\n`);
  printTable(
    ['op', 'w', 'm', 'n', 'k', 'thr', 'ms', 'GFLOP/s', '% peak', 'torch', 'ratio', 'other load'],
    measured.map((r, i) => [
      r.op, r.dtype, String(r.m), String(r.n), String(r.k), String(r.threads), r.ms, r.gflops, rows[i]!.pct_of_peak,
      r.torch_gflops ?? '-', r.torch_gflops ? r.gflops / r.torch_gflops : '-', r.other === null ? '?' : r.other,
    ]),
  );
  process.stdout.write(`torch: PyTorch f32, 2 threads (f16 rows are compared with it too: torch has no fast CPU f16 GEMM). ` +
    `other load: cores' worth of other processes' work while the row ran` +
    `${other !== null && other > 0.2 ? ` (${other.toFixed(2)} on average: the machine was busy, numbers are low)` : ''}\n`);
  process.stdout.write(JSON.stringify({
    bench: 'gemm',
    peak_gflops: round(peak[2]!), peak_gflops_1t: round(peak[1]!),
    bandwidth_gbs: round(bw[2]!), bandwidth_gbs_1t: round(bw[1]!),
    torch: typeof torch === 'string' ? null : { version: torch.version, blas: torch.blas, libs: torch.libs },
    other_load: other === null ? null : round(other),
    rows: rows.map((r) => ({
      op: r.op, dtype: r.dtype, m: r.m, n: r.n, k: r.k, threads: r.threads, gflops: round(r.gflops),
      pct_of_peak: round(r.pct_of_peak), torch_gflops: r.torch_gflops === null ? null : round(r.torch_gflops),
      torch_blas: r.torch_blas,
    })),
  }) + '\n');
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}
