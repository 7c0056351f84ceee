/**
 * `npm run bench -- chat [--runs N] [--new-tokens N] [--dir DIR] [--q4 DIR] [--no-7b]`: end to end through
 * the public API — load, time to first token for one image and a question, decode tokens/s, and peak RSS
 * (VmHWM of a process that does only that row) — with the KV cache allocated for 2048 positions in f16
 * (llama.cpp's n_ctx 2048), on:
 * - `tiny`: the embedded demo model (assets/tiny-llava-1.5-hf; its context is 256, so that is used);
 * - `llava-7b-f16`: the llava-1.5-7b-hf-shaped checkpoint with random f16 weights of `bench llava7b`
 *   (written to DIR first when missing: ~14 GB, a few minutes), 576 image positions + the question;
 * - `llava-7b-q4_0`: the same weights as q4_0 (issue 5's per-tensor types): the folder given by `--q4`
 *   (e.g. made by `llava quantize --type q4_0`), else quantized in memory at load (`quant: 'q4_0'`).
 * Each row runs `--runs` times (default 3) in a fresh process; the table shows medians. Random weights make
 * the reply meaningless; greedy decoding runs the requested number of tokens unless EOS comes first.
 *
 * Not here: a peer (llama.cpp cannot take images from Node; the text-only comparison is `bench llm`).
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LoadModelOptions } from '../src/index.js';
import { ensureLlava7b } from './llava7b.js';
import { arg, median, printTable } from './util.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const TINY = path.join(ROOT, 'assets', 'tiny-llava-1.5-hf');

interface RowResult {
  load_s: number;
  ttft_s: number;
  decode_tok_s: number | null;
  new_tokens: number;
  prompt_positions: number;
  context_length: number;
  peak_rss_mb: number;
}

function runRow(dir: string, loadOptions: LoadModelOptions, newTokens: number): RowResult {
  const spec = {
    dir, loadOptions, image: path.join(TINY, 'image.png'), prompt: 'What is shown in this image? Answer in detail.',
    contextLength: 2048, newTokens, cacheDtype: 'f16',
  };
  const r = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'bench', 'chat-row.js'), JSON.stringify(spec)],
    { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`bench chat: the row for ${dir} failed (exit ${r.status}): ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  const line = r.stdout.trim().split('\n').pop()!;
  return JSON.parse(line) as RowResult;
}

export async function run(args: string[]): Promise<void> {
  const runs = Number(arg(args, '--runs', '3'));
  const newTokens = Number(arg(args, '--new-tokens', '32'));
  const dir = arg(args, '--dir', path.join(os.tmpdir(), 'llava7b'));
  const q4 = arg(args, '--q4', '');
  process.stdout.write(`chat bench: ${os.cpus()[0]?.model ?? 'cpu'}, ${os.availableParallelism()} cores, load average ` +
    `${os.loadavg().map((x) => x.toFixed(2)).join(' ')}; ${runs} runs per row, ${newTokens} new tokens, f16 KV cache for 2048 positions\n`);
  const rows: { model: string; dir: string; opts: LoadModelOptions }[] = [{ model: 'tiny', dir: TINY, opts: {} }];
  if (!args.includes('--no-7b')) {
    await ensureLlava7b(dir);
    rows.push({ model: 'llava-7b-f16', dir, opts: {} });
    rows.push(q4 ? { model: 'llava-7b-q4_0', dir: q4, opts: {} } : { model: 'llava-7b-q4_0', dir, opts: { quant: 'q4_0' } as LoadModelOptions });
  }
  const out: (RowResult & { model: string; runs: RowResult[] })[] = [];
  for (const row of rows) {
    const rs: RowResult[] = [];
    for (let i = 0; i < runs; i++) {
      const r = runRow(row.dir, row.opts, newTokens);
      process.stdout.write(`  ${row.model} run ${i + 1}: load ${r.load_s.toFixed(2)} s, ttft ${r.ttft_s.toFixed(2)} s, ` +
        `decode ${r.decode_tok_s?.toFixed(2) ?? '-'} tok/s (${r.new_tokens} tokens), peak RSS ${r.peak_rss_mb.toFixed(0)} MB\n`);
      rs.push(r);
    }
    const med = (f: (r: RowResult) => number | null) => {
      const xs = rs.map(f).filter((x): x is number => x !== null);
      return xs.length ? median(xs) : null;
    };
    out.push({
      model: row.model, runs: rs, load_s: med((r) => r.load_s)!, ttft_s: med((r) => r.ttft_s)!, decode_tok_s: med((r) => r.decode_tok_s),
      new_tokens: rs[0]!.new_tokens, prompt_positions: rs[0]!.prompt_positions, context_length: rs[0]!.context_length,
      peak_rss_mb: med((r) => r.peak_rss_mb)!,
    });
  }
  printTable(['model', 'prompt pos', 'context', 'load s', 'ttft s', 'decode tok/s', 'peak RSS MB'],
    out.map((r) => [r.model, String(r.prompt_positions), String(r.context_length), r.load_s, r.ttft_s, r.decode_tok_s ?? '-', r.peak_rss_mb]));
  process.stdout.write('peak RSS: VmHWM in MB (10^6 bytes); ttft: from the generate() call (image decode, vision tower, prefill, first token)\n');
  const r3 = (x: number | null) => (x === null ? null : Math.round(x * 1000) / 1000);
  process.stdout.write(JSON.stringify({
    bench: 'chat',
    rows: out.map((r) => ({
      model: r.model, ttft_s: r3(r.ttft_s), decode_tok_s: r3(r.decode_tok_s), peak_rss_mb: Math.round(r.peak_rss_mb),
      load_s: r3(r.load_s), prompt_positions: r.prompt_positions, context_length: r.context_length, runs: r.runs.length,
    })),
  }) + '\n');
}
