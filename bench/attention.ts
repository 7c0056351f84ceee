/**
 * `npm run bench -- attention [--layers N] [--reps N] [--rounds N] [--threads 1,2] [--isas avx512,avx2]
 *                             [--kv f16,bf16,f32] [--past 64,631,2047] [--cases decode,gqa,prefill]`
 *
 * The native attention kernel as a LLaMA-7B-shaped decoder calls it: one query per head (decode, 32 heads
 * of 128 over the first `past + 1` positions of a [1, 32, 2048, 128] cache buffer), the same with GQA 32:8,
 * and a causal prefill of `past + 1` queries. Each pass walks `layers` distinct caches, as a decode step
 * does, so the keys and values come from DRAM rather than cache; the figures are µs per call and the GB/s
 * of keys and values read. ISA levels alternate inside each round (same process, same load); each figure
 * is the median over rounds of the per-round median pass.
 *
 * Not here: the projections around attention (bench decode / llm), end-to-end token rates (bench chat).
 */
import os from 'node:os';
import { attentionCall } from '../src/backends/native/nn.js';
import { fastNativeIsas, runKernel, setNativeIsa, type IsaLevel } from '../src/backends/native/addon.js';
import type { KernelCall } from '../src/backends/native/elementwise.js';
import { Tensor, narrow, type DType } from '../src/index.js';
import { arg, lcgValues, median, medianPassUs, printTable, setThreads } from './util.js';

interface Shape { Hq: number; Hkv: number; Tq: number }

const CAP = 2048;
const D = 128;

function calls(kind: DType, shape: Shape, past: number, layers: number): { calls: KernelCall[]; kvBytes: number } {
  const { Hq, Hkv, Tq } = shape;
  const Tk = past + 1 + (Tq - 1);
  const vals = lcgValues(Hkv * CAP * D, 7);
  const buf = () => new Tensor(kind === 'f32' ? vals.slice() : vals, 'f32', [1, Hkv, CAP, D]).to(kind);
  const out = Tensor.empty([1, Hq, Tq, D]);
  const q = new Tensor(lcgValues(Hq * Tq * D, 11), 'f32', [1, Hq, Tq, D]);
  const list: KernelCall[] = [];
  for (let l = 0; l < layers; l++) {
    const c = attentionCall(out, q, narrow(buf(), 2, 0, Tk), narrow(buf(), 2, 0, Tk), { causal: true, keyMask: null, scale: 1 / Math.sqrt(D) });
    if (typeof c === 'string') throw new Error(`attention bench: ${c}`);
    list.push(c);
  }
  return { calls: list, kvBytes: 2 * Hkv * Tk * D * (kind === 'f32' ? 4 : 2) };
}

/** Median µs per call over `reps` passes through all calls (after one warm-up pass). */
function timePass(list: KernelCall[], reps: number): number {
  return medianPassUs(list, reps, (c) => runKernel(c.name, c.arrays, c.params));
}

export async function run(args: string[]): Promise<void> {
  const layers = Number(arg(args, '--layers', '32'));
  const reps = Number(arg(args, '--reps', '7'));
  const rounds = Number(arg(args, '--rounds', '3'));
  const threads = arg(args, '--threads', '1,2').split(',').map(Number);
  const isas = arg(args, '--isas', fastNativeIsas().join(',')).split(',').filter(Boolean) as IsaLevel[];
  const kinds = arg(args, '--kv', 'f16,bf16,f32').split(',') as DType[];
  const pasts = arg(args, '--past', '64,631,2047').split(',').map(Number);
  const cases = arg(args, '--cases', 'decode,gqa,prefill').split(',');
  const shapes: [string, Shape][] = [];
  if (cases.includes('decode')) shapes.push(['decode 32:32', { Hq: 32, Hkv: 32, Tq: 1 }]);
  if (cases.includes('gqa')) shapes.push(['decode 32:8', { Hq: 32, Hkv: 8, Tq: 1 }]);
  process.stdout.write(`# ${os.cpus()[0]?.model ?? 'cpu'}, ${os.cpus().length} cores; ${layers} distinct caches per pass, ` +
    `${rounds} rounds of ${reps} passes; load average ${os.loadavg()[0]!.toFixed(2)}\n`);

  interface Row { case: string; kv: string; tk: number; isa: string; threads: number; us: number; gbs: number }
  const rows: Row[] = [];
  const prevThreads = setThreads(threads[0]!);
  try {
    const plan: [string, Shape, DType, number][] = [];
    for (const kind of kinds) {
      for (const past of pasts) {
        for (const [name, s] of shapes) plan.push([name, s, kind, past]);
        // Prefill of past + 1 queries from scratch (fewer layers: it is compute-bound, not DRAM-bound).
        if (cases.includes('prefill') && kind === 'f16' && past <= 1024) plan.push(['prefill 32:32', { Hq: 32, Hkv: 32, Tq: past + 1 }, kind, 0]);
      }
    }
    for (const [name, s, kind, past] of plan) {
      const { calls: list, kvBytes } = calls(kind, s, past, s.Tq > 1 ? Math.min(layers, 2) : layers);
      const got = new Map<string, number[]>();
      for (let r = 0; r < rounds; r++) {
        for (const t of threads) {
          setThreads(t);
          for (const isa of isas) {
            setNativeIsa(isa);
            const key = `${isa}:${t}`;
            got.set(key, [...(got.get(key) ?? []), timePass(list, s.Tq > 1 ? Math.min(reps, 3) : reps)]);
          }
        }
      }
      setNativeIsa();
      const tk = past + s.Tq;
      for (const t of threads) {
        for (const isa of isas) {
          const us = median(got.get(`${isa}:${t}`)!);
          rows.push({ case: name, kv: kind, tk, isa, threads: t, us: Math.round(us * 10) / 10, gbs: +(kvBytes / us / 1e3).toFixed(2) });
        }
      }
    }
  } finally {
    setThreads(prevThreads);
    setNativeIsa();
  }
  printTable(['case', 'k/v', 'Tk', 'isa', 'threads', 'µs/call', 'k/v GB/s'], rows.map((r) => [r.case, r.kv, String(r.tk), r.isa, String(r.threads), r.us, r.gbs]));
  process.stdout.write(`# load average at the end ${os.loadavg()[0]!.toFixed(2)}\n`);
  process.stdout.write(JSON.stringify({ bench: 'attention', layers, rows }) + '\n');
}
