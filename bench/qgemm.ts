/**
 * `npm run bench -- qgemm [--m 512] [--threads 2] [--dtypes q8_0,q4_0,f16] [--shapes 4096x4096,11008x4096,4096x11008]
 *                         [--rounds 3] [--reps 5] [--llama-isa native,avx2] [--plain] [--no-llama]
 *                         [--gemm-min-rows R] [--no-tiles] [--isa avx2,...]`
 *
 * Prefill-shaped linear layers (m activation rows × weight [n, k]; default the projections of a 7B LLaMA
 * at 512 tokens) with q8_0, q4_0 and f16 weights through the native backend's linear wrapper (the int8
 * GEMM for quantized weights, the packed f32 GEMM for f16), against ggml's `ggml_mul_mat` on the same
 * shapes and types through the CPU backend (bench/llamacpp/prefill_mulmat.cpp), built as node-llama-cpp's
 * binaries are: with ggml's llamafile GEMMs, q4_0 weights repacked at load (`--plain`: without the repack),
 * once with ggml's default flags (-march=native: AVX-512/VNNI where the CPU has them) and once for
 * AVX2/FMA/F16C only. Ours and each ggml build alternate per configuration over several rounds (the cores
 * are shared, so load drifts); a figure is the median over rounds of each round's median. Prints a table
 * of GFLOP/s (2·m·n·k per second) and same-round ratios, then one JSON line. For quantized weights the
 * same rows also run through the few-row tile kernel (the AVX2 path below the GEMM threshold, forced with
 * the kernel's gemmMinRows knob; `--no-tiles` skips it), so the GEMM's gain is measured in the same run;
 * `--gemm-min-rows R` sets the threshold for our main figure and `--m 8,16,32` lists row counts, which
 * together find the crossover. `--isa avx2` also times our kernels capped at those ISA levels in the same
 * rounds (an A/B of the AVX-512 GEMM against the AVX2 one in one process).
 *
 * Not here: decode (one row: bench decode), f32 GEMM against PyTorch (bench gemm), whole models (bench llm).
 */
import os from 'node:os';
import { spawnSync } from 'node:child_process';
import { linalgKernels } from '../src/backends/native/linalg.js';
import { quantLinear } from '../src/backends/native/quant.js';
import { setNativeIsa, type IsaLevel } from '../src/backends/native/addon.js';
import { Tensor, type DType } from '../src/index.js';
import { llamaHarness, type LlamaIsa } from './llamacpp.js';
import { arg, lcgValues, median, nowMs, printTable, setThreads, timeMedian, weightMatrix } from './util.js';

interface Row {
  m: number;
  n: number;
  k: number;
  dtype: string;
  threads: number;
  gflops: number;
  /** The few-row tile kernel on the same rows (quantized weights only). */
  tiles_gflops: number | null;
  /** Ours capped at other ISA levels (`--isa`), same rounds. */
  isa_gflops: Partial<Record<IsaLevel, number>>;
  llamacpp_gflops: Partial<Record<LlamaIsa, number>>;
  /** Median over rounds of (ours / ggml) within each round. */
  ratio: Partial<Record<LlamaIsa, number>>;
  llamacpp_mode: string | null;
}

/** Median ms of our linear; `gemmMinRows` ≥ 0 calls the quantized kernel with that GEMM threshold. */
function oursMs(out: Tensor, x: Tensor, w: Tensor, reps: number, gemmMinRows = -1): number {
  const call = () => {
    const r = gemmMinRows >= 0 ? quantLinear(out, x, w, null, gemmMinRows) : linalgKernels.linear!(out, x, w, null);
    if (r !== undefined) throw new Error(`qgemm bench: native linear declined ${w.dtype}: ${String(r)}`);
  };
  return timeMedian(call, reps, 1);
}

/** One harness run: ms for the spec and the weight placement ggml used, or a reason. */
function llamaMs(exe: string, reps: number, spec: string): { ms: number; mode: string } | string {
  const r = spawnSync(exe, [String(reps), spec], { encoding: 'utf8', timeout: 600_000 });
  if (r.error || r.status !== 0) return `llama.cpp harness failed: ${r.error?.message ?? r.stderr.trim()}`;
  const f = r.stdout.trim().split(/\s+/);
  return { ms: Number(f[5]) / 1000, mode: f[6] ?? '?' };
}

export async function run(args: string[]): Promise<void> {
  const ms = arg(args, '--m', '512').split(',').map(Number);
  const gemmMin = Number(arg(args, '--gemm-min-rows', '-1'));
  const tiles = !args.includes('--no-tiles');
  const threads = Number(arg(args, '--threads', '2'));
  const rounds = Number(arg(args, '--rounds', '3'));
  const reps = Number(arg(args, '--reps', '5'));
  const dtypes = arg(args, '--dtypes', 'q8_0,q4_0,f16').split(',') as DType[];
  const shapes = arg(args, '--shapes', '4096x4096,11008x4096,4096x11008').split(',').map((s) => s.split('x').map(Number) as [number, number]);
  const isas = (args.includes('--no-llama') ? [] : arg(args, '--llama-isa', 'native,avx2').split(',')) as LlamaIsa[];
  const plain = args.includes('--plain');
  const ourIsas = (args.includes('--isa') ? arg(args, '--isa', '').split(',') : []) as IsaLevel[];
  const log = (s: string) => process.stdout.write(`# ${s}\n`);

  log(`${os.cpus()[0]?.model ?? 'cpu'}, ${os.cpus().length} cores; m = ${ms.join(',')}, ${threads} thread(s), ${rounds} rounds of ${reps} reps; ` +
    `load average ${os.loadavg()[0]!.toFixed(2)}`);
  const exes = new Map<LlamaIsa, string>();
  for (const isa of isas) {
    const h = llamaHarness(isa, log, { harness: 'prefill_mulmat', llamafile: true });
    if ('reason' in h) log(`llama.cpp (${isa}) not run: ${h.reason}`);
    else exes.set(isa, h.exe);
  }
  log(`llama.cpp: ggml from node-llama-cpp@3.21.1 with its llamafile GEMMs, ${plain ? 'weights as stored' : 'q4_0 weights repacked as llama.cpp loads them'}; ` +
    `builds: ${[...exes.keys()].map((i) => (i === 'native' ? 'native (-march=native, its default)' : 'avx2 (AVX2/FMA/F16C only)')).join(', ') || 'none'}`);

  const prev = setThreads(threads);
  const rows: Row[] = [];
  try {
    for (const [n, k] of shapes) for (const dtype of dtypes) {
      const w = weightMatrix(n, k, dtype);
      const quant = dtype === 'q8_0' || dtype === 'q4_0';
      for (const m of ms) {
        const x = new Tensor(lcgValues(m * k, 777), 'f32', [m, k]);
        const out = Tensor.empty([m, n]);
        const flops = 2 * m * n * k;
        const ours: number[] = [];
        const tile: number[] = [];
        const capped = new Map<IsaLevel, number[]>(ourIsas.map((i) => [i, []]));
        const peer = new Map<LlamaIsa, number[]>([...exes.keys()].map((i) => [i, []]));
        const ratios = new Map<LlamaIsa, number[]>([...exes.keys()].map((i) => [i, []]));
        let mode: string | null = null;
        for (let round = 0; round < rounds; round++) {
          const oms = oursMs(out, x, w, reps, quant ? gemmMin : -1);
          ours.push(flops / (oms * 1e6));
          if (quant && tiles) tile.push(flops / (oursMs(out, x, w, reps, 2 ** 31) * 1e6));
          for (const [isa, g] of capped) {
            setNativeIsa(isa);
            try {
              g.push(flops / (oursMs(out, x, w, reps, quant ? gemmMin : -1) * 1e6));
            } finally {
              setNativeIsa();
            }
          }
          for (const [isa, exe] of exes) {
            const r = llamaMs(exe, reps, `${dtype}:${m}:${n}:${k}:${threads}${plain ? ':plain' : ''}`);
            if (typeof r === 'string') {
              log(r);
              continue;
            }
            mode = r.mode;
            peer.get(isa)!.push(flops / (r.ms * 1e6));
            ratios.get(isa)!.push(r.ms / oms);
          }
        }
        const row: Row = {
          m, n, k, dtype, threads, gflops: round1(median(ours)), tiles_gflops: tile.length ? round1(median(tile)) : null,
          isa_gflops: Object.fromEntries([...capped].map(([i, g]) => [i, round1(median(g))])),
          llamacpp_gflops: {}, ratio: {}, llamacpp_mode: mode,
        };
        for (const isa of exes.keys()) {
          if (!peer.get(isa)!.length) continue;
          row.llamacpp_gflops[isa] = round1(median(peer.get(isa)!));
          row.ratio[isa] = Math.round(median(ratios.get(isa)!) * 100) / 100;
        }
        rows.push(row);
        log(`${dtype} ${m}x${n}x${k}: ours ${row.gflops} GFLOP/s${row.tiles_gflops ? ` (tiles ${row.tiles_gflops})` : ''}` +
          ourIsas.map((i) => `, ours ${i} ${row.isa_gflops[i]}`).join('') +
          [...exes.keys()].map((i) => `, ggml ${i} ${row.llamacpp_gflops[i] ?? '-'} (ours/ggml ${row.ratio[i] ?? '-'})`).join(''));
      }
    }
  } finally {
    setThreads(prev);
  }

  const cols = [...exes.keys()];
  printTable(['m', 'n', 'k', 'w', 'thr', 'ours GFLOP/s', 'tiles', ...ourIsas.map((i) => `ours ${i}`), ...cols.flatMap((i) => [`ggml ${i}`, `ours/${i}`])], rows.map((r) => [
    String(r.m), String(r.n), String(r.k), r.dtype, String(r.threads), r.gflops, r.tiles_gflops ?? '-', ...ourIsas.map((i) => r.isa_gflops[i] ?? '-'),
    ...cols.flatMap((i) => [r.llamacpp_gflops[i] ?? '-', r.ratio[i] ?? '-']),
  ]));
  log(`tiles: our few-row tile kernel on the same rows (the path before the GEMM); ratios are medians of same-round ratios (> 1: ours is faster); load average at the end ${os.loadavg()[0]!.toFixed(2)}`);
  process.stdout.write(JSON.stringify({ bench: 'qgemm', threads, llamacpp: cols, plain, rows }) + '\n');
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
