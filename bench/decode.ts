/**
 * `npm run bench -- decode [--mb N] [--reps N] [--rounds N] [--threads 1,2] [--dtypes f16,bf16,q8_0,q4_0]
 *                          [--shapes 4096x4096,11008x4096] [--m 1] [--isas avx512,avx2] [--no-llama]
 *                          [--llama-isa native|avx2]`
 *
 * Decode-time matvec (one activation row) with weight [n, k] in f16/bf16/q8_0/q4_0 through the native
 * linear wrappers, as µs per matrix and GB/s of weights streamed. Each timed pass cycles through enough
 * distinct copies of the matrix (default: twice the reported L3, at least 256 MiB) that every matrix comes
 * from DRAM, as in a real decode step. The machine's streaming read bandwidth (probeBandwidth) is measured
 * in the same run, and the same shapes run through llama.cpp's ggml (bench/llamacpp.ts builds it). Ours and
 * llama.cpp alternate for each configuration over several rounds (the cores are shared, so load drifts);
 * each figure is the median over rounds of the per-round median pass. `--isas` runs our kernels at each
 * listed native ISA level in the same rounds (an A/B of the AVX-512 and AVX2 variants; default: the best
 * level only); `--m` sets the activation rows (batched decode). Prints a table, then one JSON line.
 *
 * Not here: prefill/GEMM shapes (bench gemm), end-to-end token rates.
 */
import { execSync } from 'node:child_process';
import os from 'node:os';
import { Tensor, type DType } from '../src/index.js';
import { smallMLinear } from '../src/backends/native/quant.js';
import { nativeIsa, setNativeIsa, type IsaLevel } from '../src/backends/native/addon.js';
import { llamaHarness, runLlama, type LlamaIsa } from './llamacpp.js';
import { arg, lcgValues, median, medianPassUs, printTable, probeBandwidth, setThreads, weightMatrix } from './util.js';

interface Row {
  n: number;
  k: number;
  dtype: string;
  threads: number;
  isa: string;
  us: number;
  gbs: number;
  llamacpp_us: number | null;
}

function l3Bytes(): number {
  try {
    return Number(execSync('getconf LEVEL3_CACHE_SIZE', { encoding: 'utf8' }).trim()) || 0;
  } catch {
    return 0;
  }
}

/** Median µs per matrix over `reps` passes through all of `mats` (after one warm-up pass). */
function timeOurs(mats: Tensor[], x: Tensor, out: Tensor, reps: number): number {
  return medianPassUs(mats, reps, (w) => {
    const r = smallMLinear(out, x, w, null);
    if (r !== undefined) throw new Error(`decode bench: native linear declined ${w.dtype}: ${String(r)}`);
  });
}

export async function run(args: string[]): Promise<void> {
  const l3 = l3Bytes();
  const mb = Number(arg(args, '--mb', String(Math.min(2048, Math.max(256, Math.ceil((2 * l3) / 2 ** 20))))));
  const reps = Number(arg(args, '--reps', '7'));
  const rounds = Number(arg(args, '--rounds', '3'));
  const threads = arg(args, '--threads', '1,2').split(',').map(Number);
  const dtypes = arg(args, '--dtypes', 'f16,bf16,q8_0,q4_0').split(',') as DType[];
  const shapes = arg(args, '--shapes', '4096x4096,11008x4096').split(',').map((s) => s.split('x').map(Number) as [number, number]);
  const llamaIsa = arg(args, '--llama-isa', 'native') as LlamaIsa;
  const isas = arg(args, '--isas', nativeIsa()).split(',') as IsaLevel[];
  const M = Number(arg(args, '--m', '1'));
  const log = (s: string) => process.stdout.write(`# ${s}\n`);

  log(`${os.cpus()[0]?.model ?? 'cpu'}, ${os.cpus().length} cores, L3 ${l3 ? `${(l3 / 2 ** 20).toFixed(0)} MiB` : 'unknown'}; ` +
    `cycling ${mb} MiB of distinct matrices per pass, ${rounds} rounds of ${reps} passes; load average ${os.loadavg()[0]!.toFixed(2)}`);
  let llama: { exe: string } | { reason: string } = { reason: 'disabled (--no-llama)' };
  if (!args.includes('--no-llama')) llama = llamaHarness(llamaIsa, log);
  if ('reason' in llama) log(`llama.cpp comparison not run: ${llama.reason}`);
  else log(`llama.cpp: ggml from node-llama-cpp@3.21.1, built ${llamaIsa === 'native' ? 'with -march=native (its default)' : 'for AVX2/FMA/F16C'}`);

  // Probed before and after the matrices; the higher reading is reported (lower ones are interference).
  const bw = new Map<number, number>();
  const probe = (when: string) => {
    for (const t of threads) bw.set(t, Math.max(bw.get(t) ?? 0, probeBandwidth(t)));
    log(`streaming read bandwidth ${when}: ${threads.map((t) => `${bw.get(t)!.toFixed(1)} GB/s (${t} thread${t > 1 ? 's' : ''})`).join(', ')} (best so far)`);
  };
  probe('before');

  const prev = setThreads(threads[0]!);
  const rows: Row[] = [];
  try {
    for (const [n, k] of shapes) {
      const x = new Tensor(lcgValues(M * k), 'f32', [M, k]);
      const out = Tensor.empty([M, n]);
      for (const dtype of dtypes) {
        const base = weightMatrix(n, k, dtype);
        const bytes = base.data.byteLength;
        const count = Math.max(1, Math.ceil((mb * 2 ** 20) / bytes));
        const mats = [base];
        for (let i = 1; i < count; i++) mats.push(new Tensor(base.data.slice(), dtype, [n, k]));
        const ours = new Map<string, number[]>();
        const peer = new Map<number, number[]>(threads.map((t) => [t, []]));
        for (let round = 0; round < rounds; round++) {
          for (const t of threads) {
            setThreads(t);
            for (const isa of isas) {
              setNativeIsa(isa);
              try {
                const key = `${t}:${isa}`;
                ours.set(key, [...(ours.get(key) ?? []), timeOurs(mats, x, out, reps)]);
              } finally {
                setNativeIsa();
              }
            }
          }
          if ('exe' in llama && M === 1) {  // the ggml harness times one activation row
            const r = runLlama(llama.exe, mb, reps, threads.map((t) => `${dtype}:${n}:${k}:${t}`));
            if (typeof r === 'string') log(r);
            else for (const t of threads) peer.get(t)!.push(r.get(`${dtype}:${n}:${k}:${t}`)!);
          }
        }
        mats.length = 0;
        for (const t of threads) {
          for (const isa of isas) {
            const us = median(ours.get(`${t}:${isa}`)!);
            const lus = peer.get(t)!.length ? median(peer.get(t)!) : undefined;
            rows.push({ n, k, dtype, threads: t, isa, us: Math.round(us), gbs: +(bytes / us / 1e3).toFixed(2), llamacpp_us: lus === undefined ? null : Math.round(lus) });
          }
        }
      }
    }
  } finally {
    setThreads(prev);
  }
  probe('after');

  printTable(['n', 'k', 'dtype', 'threads', 'isa', 'µs', 'GB/s', '% of bw', 'llama.cpp µs', 'llama.cpp/ours'], rows.map((r) => [
    String(r.n), String(r.k), r.dtype, String(r.threads), r.isa, String(r.us), r.gbs, (100 * r.gbs) / bw.get(r.threads)!,
    r.llamacpp_us ?? '-', r.llamacpp_us ? r.llamacpp_us / r.us : '-',
  ]));
  log(`load average at the end ${os.loadavg()[0]!.toFixed(2)} (other work on these cores makes every figure noisy)`);
  const bandwidth = bw.get(Math.max(...threads))!;
  process.stdout.write(JSON.stringify({
    bench: 'decode', bandwidth_gbs: +bandwidth.toFixed(2), cycle_mb: mb, m: M,
    llamacpp: 'exe' in llama ? llamaIsa : llama.reason, rows,
  }) + '\n');
}
