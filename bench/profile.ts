/**
 * `npm run bench -- profile [--dir DIR] [--new-tokens N] [--context N] [--cache f16|f32] [--image FILE]`
 *
 * Where the time of one `bench chat` row goes, in one process and in the calling thread (no worker): loads
 * the folder, then runs the same request as the chat row (one image and a question, greedy, KV cache for
 * `--context` positions) through the decoding loop, with every kernel of the active backend (and of the
 * `ts` fallback) wrapped in a timer. Reports, per phase (load, image preprocessing, vision tower + projector,
 * decoder prefill, decode steps), the wall time, the time inside each kernel (linear split by weight shape,
 * so the projections and the head show separately), the rest (JS: op validation, allocation, sampling,
 * detokenization), and the page faults the process took. Timers add a few µs per kernel call.
 *
 * Not here: comparisons (bench chat, llm, attention give those); it prints one table and one JSON line.
 */
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { activeBackend, referenceBackend } from '../src/engine/backend.js';
import type { Tensor } from '../src/engine/tensor.js';
import { generateTokens } from '../src/generate/core.js';
import { pixelValuesFor } from '../src/generate/images.js';
import { loadLlava } from '../src/models/llava/load.js';
import { timeKernels } from './kernel-timer.js';
import { arg, printTable } from './util.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

interface Phase { ms: number; kernels: Map<string, { ms: number; calls: number }>; minflt: number; majflt: number }

let current: Phase | null = null;

function newPhase(): Phase {
  return { ms: 0, kernels: new Map(), minflt: 0, majflt: 0 };
}

/** Adds a kernel call to the current phase. */
function record(key: string, ms: number): void {
  if (!current) return;
  const e = current.kernels.get(key) ?? { ms: 0, calls: 0 };
  e.ms += ms;
  e.calls++;
  current.kernels.set(key, e);
}

function faults(): { minflt: number; majflt: number } {
  const u = process.resourceUsage();
  return { minflt: u.minorPageFault, majflt: u.majorPageFault };
}

export async function run(args: string[]): Promise<void> {
  const dir = arg(args, '--dir', path.join(os.tmpdir(), 'llava7b-q4_0'));
  const newTokens = Number(arg(args, '--new-tokens', '16'));
  const context = Number(arg(args, '--context', '2048'));
  const cacheDtype = arg(args, '--cache', 'f16') as 'f16' | 'f32';
  const image = arg(args, '--image', path.join(ROOT, 'assets', 'tiny-llava-1.5-hf', 'image.png'));
  process.stdout.write(`# profile of ${dir}: ${os.cpus().length} cores, load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}; ` +
    `${newTokens} new tokens, ${cacheDtype} cache for ${context} positions\n`);
  timeKernels(activeBackend().kernels, record);
  timeKernels(referenceBackend().kernels, record, 'ts fallback: ');

  const phases = new Map<string, Phase>();
  let mark = performance.now();
  let f0 = faults();
  const enter = (name: string) => {
    const now = performance.now();
    const f = faults();
    if (current) {
      current.ms += now - mark;
      current.minflt += f.minflt - f0.minflt;
      current.majflt += f.majflt - f0.majflt;
    }
    mark = now;
    f0 = f;
    if (!phases.has(name)) phases.set(name, newPhase());
    current = phases.get(name)!;
  };

  enter('load');
  const loaded = loadLlava(dir, {});
  enter('image preprocess');
  const pixels = await pixelValuesFor(loaded, [image]);
  enter('vision tower + projector');
  const steps: number[] = [];
  let last = 0;
  // The decoder's first forward is the prefill (the vision tower and projector run before it).
  const lm = loaded.model.languageModel;
  const forward = lm.forward.bind(lm);
  let forwards = 0;
  lm.forward = (...a: Parameters<typeof forward>) => {
    if (forwards++ === 0) enter('decoder prefill');
    return forward(...a);
  };
  const it = generateTokens(loaded, { prompt: 'What is shown in this image? Answer in detail.', images: [image], temperature: 0, maxNewTokens: newTokens, contextLength: context, cacheDtype },
    pixels);
  let n = 0;
  for (;;) {
    const r = it.next();
    const now = performance.now();
    if (n > 0) steps.push(now - last);
    last = now;
    if (r.done) break;
    if (n++ === 0) enter('decode steps');
  }
  enter('end');
  steps.pop(); // the return, not a step

  const rows: (string | number)[][] = [];
  const json: Record<string, unknown> = {};
  for (const [name, p] of phases) {
    if (name === 'end') continue;
    const per = name === 'decode steps' ? Math.max(1, steps.length) : 1;
    const inKernels = [...p.kernels.values()].reduce((s, e) => s + e.ms, 0);
    rows.push([name, '', p.ms / per, '', p.minflt, p.majflt]);
    const sorted = [...p.kernels.entries()].sort((a, b) => b[1].ms - a[1].ms);
    for (const [k, e] of sorted) {
      if (e.ms / per < 0.05) continue;
      rows.push(['', k, e.ms / per, e.calls / per, '', '']);
    }
    rows.push(['', 'outside kernels (JS, allocation, sampling)', (p.ms - inKernels) / per, '', '', '']);
    json[name] = { ms: +(p.ms / per).toFixed(2), kernels: Object.fromEntries(sorted.map(([k, e]) => [k, +(e.ms / per).toFixed(2)])), minflt: p.minflt, majflt: p.majflt };
  }
  process.stdout.write(`# decode steps: ${steps.length}, ms each: ${steps.map((s) => s.toFixed(0)).join(' ')}\n`);
  printTable(['phase', 'kernel', 'ms (per step for decode)', 'calls', 'minor faults', 'major faults'], rows);
  process.stdout.write(`# load average at the end ${os.loadavg()[0]!.toFixed(2)}\n`);
  process.stdout.write(JSON.stringify({ bench: 'profile', dir, steps, phases: json }) + '\n');
}
