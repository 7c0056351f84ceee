/**
 * `npm run bench -- llm [--layers N] [--prompt N] [--decode N] [--rounds N] [--dtypes f16,q8_0,q4_0] [--dir DIR]`:
 * a LLaMA-7B-shaped language model (hidden 4096, MLP 11008, 32 heads, vocabulary 32000) with random weights
 * and `--layers` decoder layers (default 4: ~1 B parameters, far beyond the caches, so decoding streams
 * weights from DRAM as the full model does), written once as llava-hf safetensors (with a minimal vision
 * tower) and converted by `llava quantize` to f16, q8_0 and q4_0 GGUF folders under DIR. Each text GGUF is
 * then run by llava-ts (loading the quantize folder as `llava run --model` does) and by llama.cpp through
 * node-llama-cpp@3.21.1 (its prebuilt CPU binaries, the same file) in a child process of the same run
 * (bench/llm-peer.ts: the two sides share no allocator, garbage collector or page tables), 2 threads each:
 * prefill of `--prompt` tokens (default 512) to the first generated token, then `--decode` greedy tokens
 * (default 32), both with an f16 KV cache. Ours and llama.cpp alternate round by round, each going first
 * in every other round (the cores are shared; load drifts); each figure is the median over rounds. Also reported: decode GB/s (bytes of the
 * weights read per token) as a fraction of the streaming bandwidth measured in the same run, and per-layer
 * and 32-layer (7B) estimates from the per-token time.
 *
 * Prints node-llama-cpp's system info (it must show AVX2/FMA/F16C), a table, and one JSON line
 * `{"bench":"llm","bandwidth_gbs":…,"rows":[{"dtype","threads","prefill_tok_s","decode_tok_s","llamacpp_prefill_tok_s","llamacpp_decode_tok_s",…}]}`.
 *
 * Not here: images (bench chat), single-matrix kernels (bench decode, bench qgemm).
 */
import { fork, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { noGrad, tensor, type Tensor } from '../src/index.js';
import { loadLlava } from '../src/models/llava/load.js';
import { LlamaForCausalLM } from '../src/models/llama/model.js';
import { Rng } from '../src/engine/random.js';
import type { Timing } from './llm-peer.js';
import { writeRandomLlava } from './llava7b.js';
import { arg, median, nowMs, printTable, probeBandwidth, setThreads } from './util.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const THREADS = 2;
export type Scheme = 'f16' | 'q8_0' | 'q4_0';

/** The source folder and one quantize folder per scheme under `dir` (made when missing). */
export async function ensureModels(dir: string, layers: number, schemes: Scheme[]): Promise<Map<Scheme, string>> {
  const src = path.join(dir, `src-${layers}`);
  if (!existsSync(path.join(src, 'config.json'))) {
    const t0 = nowMs();
    await writeRandomLlava(src, { textLayers: layers, vocab: 32000, vision: 'tiny' });
    process.stdout.write(`wrote ${src} in ${((nowMs() - t0) / 1000).toFixed(0)} s\n`);
  }
  const out = new Map<Scheme, string>();
  for (const s of schemes) {
    const q = path.join(dir, `${s}-${layers}`);
    if (!existsSync(path.join(q, 'llava-gguf.json'))) {
      const t0 = nowMs();
      const r = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'src', 'cli', 'main.js'), 'quantize', '--model', src, '--type', s, '--out', q],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 24 });
      if (r.status !== 0) throw new Error(`llava quantize --type ${s} failed: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
      process.stdout.write(`quantized ${s} in ${((nowMs() - t0) / 1000).toFixed(0)} s\n`);
    }
    out.set(s, q);
  }
  return out;
}

/** Path of the text GGUF of a quantize folder. */
function textGguf(folder: string): string {
  const cfg = JSON.parse(readFileSync(path.join(folder, 'llava-gguf.json'), 'utf8')) as { model: string };
  return path.join(folder, cfg.model);
}


/** Prompt ids: a fixed random draw over ordinary tokens (no BOS/EOS/special ids), the same for both sides. */
export function promptIds(n: number): number[] {
  const rng = new Rng(3);
  return Array.from({ length: n }, () => 100 + Math.floor(rng.uniform() * 31000));
}

// ---- ours ----

class Ours {
  private readonly lm: LlamaForCausalLM;
  constructor(folder: string) {
    this.lm = loadLlava(folder).model.languageModel;
  }
  run(ids: number[], decode: number): Timing {
    const lm = this.lm;
    return noGrad(() => {
      const t0 = nowMs();
      const cache = lm.newCache(ids.length + decode + 1, { dtype: 'f16' });
      let logits: Tensor = lm.forward(lm.embed(tensor([ids], { dtype: 'i32' })), { cache, logits: 'last' }).logits!;
      let next = LlamaForCausalLM.argmaxLast(logits)[0]!;
      const t1 = nowMs();
      for (let i = 0; i < decode; i++) {
        logits = lm.forward(lm.embed(tensor([[next]], { dtype: 'i32' })), { cache, logits: 'last' }).logits!;
        next = LlamaForCausalLM.argmaxLast(logits)[0]!;
      }
      return { prefillS: (t1 - t0) / 1000, decodeS: (nowMs() - t1) / 1000, decoded: decode };
    });
  }
}

// ---- llama.cpp (a child process: bench/llm-peer.ts) ----

interface Peer {
  systemInfo: string;
  load(file: string, contextSize: number): Promise<{ run(ids: number[], decode: number): Promise<Timing>; dispose(): Promise<void> }>;
  dispose(): Promise<void>;
}

async function openPeer(): Promise<Peer | string> {
  const child = fork(path.join(ROOT, 'dist', 'bench', 'llm-peer.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let failed: string | null = null;
  const exited = new Promise<void>((resolve) => child.once('exit', (code, signal) => {
    failed = `the llama.cpp process exited (${signal ?? `code ${code}`})`;
    resolve();
  }));
  // One request at a time: the reply is the next message (or the child's exit).
  const ask = async (req: object): Promise<Record<string, unknown>> => {
    if (failed) throw new Error(failed);
    const reply = new Promise<Record<string, unknown>>((resolve) => child.once('message', (m) => resolve(m as Record<string, unknown>)));
    child.send(req);
    const r = await Promise.race([reply, exited.then(() => ({ error: failed }))]);
    if (typeof r.error === 'string') throw new Error(`llama.cpp: ${r.error}`);
    return r;
  };
  let info: Record<string, unknown>;
  try {
    info = await ask({ cmd: 'open', threads: THREADS });
  } catch (e) {
    child.kill();
    return (e as Error).message;
  }
  return {
    systemInfo: String(info.systemInfo),
    async dispose() {
      child.disconnect();
      await exited;
    },
    async load(file, contextSize) {
      await ask({ cmd: 'load', file, contextSize });
      return {
        run: async (ids, decode) => (await ask({ cmd: 'run', ids, decode })).timing as Timing,
        dispose: async () => void (await ask({ cmd: 'unload' })),
      };
    },
  };
}

/** Bytes of the weights one decoded token reads: every decoder matrix and the head (not the embedding rows). */
function weightBytesPerToken(layers: number, scheme: Scheme): number {
  const D = 4096, F = 11008, V = 32000;
  const per = { f16: 2, q8_0: 34 / 32, q4_0: 18 / 32 }[scheme];
  const head = scheme === 'f16' ? 2 : 34 / 32;
  return layers * (4 * D * D + 3 * F * D) * per + V * D * head + layers * 2 * D * 4;
}

export async function run(args: string[]): Promise<void> {
  const layers = Number(arg(args, '--layers', '4'));
  const promptLen = Number(arg(args, '--prompt', '512'));
  const decode = Number(arg(args, '--decode', '32'));
  const rounds = Number(arg(args, '--rounds', '3'));
  const schemes = arg(args, '--dtypes', 'f16,q8_0,q4_0').split(',') as Scheme[];
  const dir = arg(args, '--dir', path.join(os.tmpdir(), 'llava-llm-bench'));
  process.stdout.write(`llm bench: LLaMA-7B-shaped, ${layers} layers, prompt ${promptLen}, ${decode} decoded tokens, ${THREADS} threads; ` +
    `${os.cpus()[0]?.model ?? 'cpu'}, load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
  const folders = await ensureModels(dir, layers, schemes);
  const peer = await openPeer();
  process.stdout.write(typeof peer === 'string' ? `llama.cpp: unavailable (${peer})\n` : `llama.cpp (node-llama-cpp 3.21.1) system info: ${peer.systemInfo}\n`);
  const bwBefore = probeBandwidth(THREADS);
  const ids = promptIds(promptLen);
  const prev = setThreads(THREADS);
  interface Row { dtype: Scheme; ours: Timing[]; theirs: Timing[]; fileBytes: number }
  const rows: Row[] = [];
  try {
    for (const s of schemes) {
      const folder = folders.get(s)!;
      const file = textGguf(folder);
      const ours = new Ours(folder);
      const theirsModel = typeof peer === 'string' ? null : await peer.load(file, promptLen + decode + 8);
      const row: Row = { dtype: s, ours: [], theirs: [], fileBytes: statSync(file).size };
      ours.run(ids.slice(0, 16), 2); // warm-up: first touch of the mapped weights
      await theirsModel?.run(ids.slice(0, 16), 2);
      for (let r = 0; r < rounds; r++) {
        // Which side goes first alternates, so that neither always runs right after the other's prefill.
        if (theirsModel && r % 2 === 1) row.theirs.push(await theirsModel.run(ids, decode));
        row.ours.push(ours.run(ids, decode));
        if (theirsModel && r % 2 === 0) row.theirs.push(await theirsModel.run(ids, decode));
        const o = row.ours[r]!, t = row.theirs[r];
        process.stdout.write(`  ${s} round ${r + 1}: ours prefill ${(promptLen / o.prefillS).toFixed(1)} tok/s, decode ${(decode / o.decodeS).toFixed(2)} tok/s` +
          (t ? `; llama.cpp prefill ${(promptLen / t.prefillS).toFixed(1)}, decode ${(t.decoded / t.decodeS).toFixed(2)}` +
            (t.decoded < decode ? ` (it stopped after ${t.decoded} of ${decode} tokens)` : '') : '') + '\n');
      }
      await theirsModel?.dispose();
      rows.push(row);
    }
  } finally {
    setThreads(prev);
    if (typeof peer !== 'string') await peer.dispose();
  }
  const bw = Math.max(bwBefore, probeBandwidth(THREADS));
  const med = (ts: Timing[], f: (t: Timing) => number) => (ts.length ? median(ts.map(f)) : null);
  const table = rows.map((r) => {
    const pre = med(r.ours, (t) => promptLen / t.prefillS)!;
    const dec = med(r.ours, (t) => t.decoded / t.decodeS)!;
    const lpre = med(r.theirs, (t) => promptLen / t.prefillS);
    const ldec = med(r.theirs, (t) => t.decoded / t.decodeS);
    const gbs = (weightBytesPerToken(layers, r.dtype) * dec) / 1e9;
    // 7B estimate: per-token time scales with the decoder layers; the head is paid once.
    const headS = (32000 * 4096 * (r.dtype === 'f16' ? 2 : 34 / 32)) / (gbs * 1e9);
    const layerS = (1 / dec - headS) / layers;
    return { r, pre, dec, lpre, ldec, gbs, layerMs: layerS * 1000, dec7b: 1 / (32 * layerS + headS) };
  });
  printTable(
    ['dtype', 'prefill tok/s', 'llama.cpp', 'ratio', 'decode tok/s', 'llama.cpp', 'ratio', 'GB/s', '% bw', 'ms/layer', '7B tok/s'],
    table.map((x) => [x.r.dtype, x.pre, x.lpre ?? '-', x.lpre ? x.pre / x.lpre : '-', x.dec, x.ldec ?? '-', x.ldec ? x.dec / x.ldec : '-',
      x.gbs, (100 * x.gbs) / bw, x.layerMs, x.dec7b]),
  );
  process.stdout.write(`streaming read bandwidth ${bw.toFixed(1)} GB/s (${THREADS} threads); ratio: ours / llama.cpp (above 1: ours faster); ` +
    `7B tok/s: decode time per layer × 32 + the head\n`);
  const r2 = (x: number | null) => (x === null ? null : Math.round(x * 100) / 100);
  process.stdout.write(JSON.stringify({
    bench: 'llm', bandwidth_gbs: r2(bw), layers, prompt_tokens: promptLen, decode_tokens: decode,
    llamacpp_system_info: typeof peer === 'string' ? null : peer.systemInfo,
    rows: table.map((x) => ({
      dtype: x.r.dtype, threads: THREADS, prefill_tok_s: r2(x.pre), decode_tok_s: r2(x.dec),
      llamacpp_prefill_tok_s: r2(x.lpre), llamacpp_decode_tok_s: r2(x.ldec),
      prefill_ratio: x.lpre ? r2(x.pre / x.lpre) : null, decode_ratio: x.ldec ? r2(x.dec / x.ldec) : null,
      decode_gbs: r2(x.gbs), decode_bw_fraction: r2(x.gbs / bw), ms_per_layer: r2(x.layerMs), decode_tok_s_7b_estimate: r2(x.dec7b),
      file_bytes: x.r.fileBytes,
    })),
  }) + '\n');
}
