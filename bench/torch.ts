/**
 * The PyTorch peer of the benchmarks: a python3 subprocess with Debian's python3-torch, kept open for the
 * whole run and driven by one JSON line per request, so that each torch figure is measured right after
 * ours under the same machine load. Also the load meter that tells how busy the machine was meanwhile.
 *
 * Torch: the system python (/usr/bin/python3, then python3 on PATH). Its BLAS is whatever libblas.so.3
 * resolves to: install libopenblas0-pthread (update-alternatives then selects OpenBLAS) or torch runs the
 * reference BLAS at a few GFLOP/s; the peer reports the BLAS actually mapped into the python process.
 *
 * Not here: what is measured (each benchmark passes its own python `handle(q)`), reporting.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { nowMs } from './util.js';

// Runs before the benchmark's own python: thread count, the BLAS probe, a hello line, then the request loop
// calling the benchmark's `handle(q) -> dict` for each JSON line on stdin.
const PRELUDE = String.raw`
import ctypes, json, os, re, sys, time
import torch
torch.set_num_threads(int(os.environ.get('BENCH_THREADS', '2')))
def _blas():
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
def median_seconds(f, reps):
    with torch.no_grad():
        f()
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter(); f(); ts.append(time.perf_counter() - t0)
    ts.sort()
    return ts[len(ts) // 2]
`;

const LOOP = String.raw`
_x = torch.randn(64, 64); _x @ _x
_name, _libs = _blas()
print(json.dumps({'ready': True, 'torch': torch.__version__, 'blas': _name, 'libs': _libs, 'threads': torch.get_num_threads()}), flush=True)
for _line in sys.stdin:
    print(json.dumps(handle(json.loads(_line))), flush=True)
`;

export interface TorchPeer {
  /** BLAS torch calls into (OpenBLAS's own config string when it is OpenBLAS). */
  blas: string;
  /** Shared libraries of BLAS kind mapped into the python process. */
  libs: string[];
  version: string;
  pid: number | undefined;
  /** Whether the BLAS is a tuned one (a reference BLAS makes every torch figure meaningless). */
  tuned: boolean;
  /** One request to the benchmark's `handle(q)`; resolves with its reply. */
  request<T>(q: Record<string, unknown>): Promise<T>;
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

/**
 * Start the peer with the benchmark's python (which defines `handle(q)`; `median_seconds(f, reps)` is
 * available to it). Resolves with the peer, or a sentence saying why there is none.
 */
export async function startTorch(threads: number, handler: string): Promise<TorchPeer | string> {
  const py = findPython();
  if (!py) return 'python3 with torch not found (apt-get install python3-torch libopenblas0-pthread)';
  const env = { ...process.env, BENCH_THREADS: String(threads), OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads) };
  const child: ChildProcessWithoutNullStreams = spawn(py, ['-c', PRELUDE + handler + LOOP], { env });
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
      tuned: /openblas|mkl|blis/i.test(hello.blas),
      async request<T>(q: Record<string, unknown>) {
        child.stdin.write(JSON.stringify(q) + '\n');
        return JSON.parse(await next()) as T;
      },
      close: () => child.stdin.end(),
    };
  } catch (e) {
    child.kill();
    return (e as Error).message;
  }
}

/** One line describing the peer (or why there is none) for a benchmark's header. */
export function describeTorch(torch: TorchPeer | string, threads: number): string {
  if (typeof torch === 'string') return `PyTorch: unavailable (${torch})`;
  return `PyTorch ${torch.version}, ${threads} threads, BLAS: ${torch.blas} (mapped: ${torch.libs.join(', ') || 'none'})` +
    (torch.tuned ? '' : ' — a reference BLAS: install libopenblas0-pthread or select it with update-alternatives --config libblas.so.3-x86_64-linux-gnu');
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

/** Cores' worth of other processes' work between construction and `otherCores()` (machine busy time minus ours and the peer's). */
export class LoadMeter {
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
