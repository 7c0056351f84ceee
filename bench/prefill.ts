/**
 * `npm run bench -- prefill [--dtypes q8_0,q4_0,f16] [--layers 4] [--prompt 512] [--rounds 3] [--dir DIR] [--isa avx2]`
 *
 * Where our prefill time goes: the `bench llm` model (same folders under DIR, made when missing) runs a
 * prefill of `--prompt` tokens with every kernel of the active backend timed, and prints per kernel (linear
 * split by weight shape and dtype) the median ms over rounds and its share of the prefill; "outside
 * kernels" is the rest (op validation, allocation, JavaScript). `--isa avx2` caps the native ISA level (an
 * A/B against the default needs two runs). The timing wrapper adds a few microseconds per call, which the
 * few hundred calls of a prefill do not notice. Prints a table and one JSON line.
 *
 * Not here: the comparison with llama.cpp (bench llm), single kernels (bench qgemm, decode).
 */
import os from 'node:os';
import path from 'node:path';
import { noGrad, tensor, type Tensor } from '../src/index.js';
import { activeBackend } from '../src/engine/backend.js';
import { setNativeIsa, type IsaLevel } from '../src/backends/native/addon.js';
import { loadLlava } from '../src/models/llava/load.js';
import { ensureModels, promptIds, type Scheme } from './llm.js';
import { timeKernels } from './kernel-timer.js';
import { arg, median, nowMs, printTable, setThreads } from './util.js';

const THREADS = 2;

/** Runs `fn` with every kernel of the active backend timed into `into` (ms per label). */
function timedKernels(into: Map<string, number>, fn: () => void): void {
  const restore = timeKernels(activeBackend().kernels, (key, ms) => into.set(key, (into.get(key) ?? 0) + ms));
  try {
    fn();
  } finally {
    restore();
  }
}

export async function run(args: string[]): Promise<void> {
  const layers = Number(arg(args, '--layers', '4'));
  const promptLen = Number(arg(args, '--prompt', '512'));
  const rounds = Number(arg(args, '--rounds', '3'));
  const schemes = arg(args, '--dtypes', 'q8_0,q4_0,f16').split(',') as Scheme[];
  const dir = arg(args, '--dir', path.join(os.tmpdir(), 'llava-llm-bench'));
  const isa = args.includes('--isa') ? (arg(args, '--isa', '') as IsaLevel) : undefined;
  const folders = await ensureModels(dir, layers, schemes);
  const ids = promptIds(promptLen);
  const prev = setThreads(THREADS);
  if (isa) setNativeIsa(isa);
  process.stdout.write(`prefill profile: ${layers} layers, prompt ${promptLen}, ${THREADS} threads, ${activeBackend().describe()}; ` +
    `load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
  const out: { dtype: Scheme; prefill_ms: number; kernels: Record<string, number> }[] = [];
  try {
    for (const s of schemes) {
      const lm = loadLlava(folders.get(s)!).model.languageModel;
      const prefill = (n: number) => noGrad(() => {
        const cache = lm.newCache(n + 1, { dtype: 'f16' });
        lm.forward(lm.embed(tensor([ids.slice(0, n)], { dtype: 'i32' })), { cache, logits: 'last' });
      });
      prefill(promptLen); // warm-up: first touch of the mapped weights
      const totals: number[] = [];
      const per = new Map<string, number[]>();
      for (let r = 0; r < rounds; r++) {
        const ms = new Map<string, number>();
        const t0 = nowMs();
        timedKernels(ms, () => prefill(promptLen));
        const total = nowMs() - t0;
        totals.push(total);
        ms.set('outside kernels', total - [...ms.values()].reduce((a, b) => a + b, 0));
        for (const [k, v] of ms) per.set(k, [...(per.get(k) ?? []), v]);
        process.stdout.write(`  ${s} round ${r + 1}: prefill ${total.toFixed(0)} ms (${(promptLen / total * 1000).toFixed(1)} tok/s)\n`);
      }
      const total = median(totals);
      const rows = [...per].map(([k, v]) => [k, median(v)] as const).sort((a, b) => b[1] - a[1]);
      printTable(['kernel', 'ms', 'share'], rows.map(([k, v]) => [k, v.toFixed(1), `${(100 * v / total).toFixed(1)}%`]));
      process.stdout.write(`${s}: median prefill ${total.toFixed(0)} ms, ${(promptLen / total * 1000).toFixed(1)} tok/s\n`);
      out.push({ dtype: s, prefill_ms: Math.round(total), kernels: Object.fromEntries(rows.map(([k, v]) => [k, Math.round(v * 10) / 10])) });
    }
  } finally {
    setThreads(prev);
    if (isa) setNativeIsa();
  }
  process.stdout.write(JSON.stringify({ bench: 'prefill', layers, prompt_tokens: promptLen, threads: THREADS, isa: isa ?? null, rows: out }) + '\n');
}
