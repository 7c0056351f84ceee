/**
 * `npm run bench -- io [--gb N] [--dir DIR] [--reps R]`: checkpoint I/O throughput and memory on a
 * LLaMA-7B-shaped f16 safetensors file of about N GB (default 2) written with the streaming writer.
 *
 * Measures, each read phase in a fresh child process so that its peak RSS is its own:
 * - write: planned tensors produced one at a time (GB/s, the writer's peak RSS), beside a peer writing the
 *   same number of bytes from one buffer with fs.writeSync + fsync;
 * - inspect: open + `info` of every tensor (peak RSS: headers only);
 * - read: `get` every tensor with `{ mmap: false }` and drop it (GB/s and peak RSS ≈ one tensor + runtime);
 * - read mmap: the same with the file mapped (tensors are views: no copy, no fault until touched);
 * - linear / linear mmap: `get` every tensor and run one `linear` of a single f32 row over each matrix,
 *   copied vs mapped — load plus the first use that touches every weight page (fault cost included; the
 *   mapped weights' RSS is their resident file pages);
 * - peer: the same byte ranges read with bare fs.readSync into fresh typed arrays — the bound for `read`
 *   (first-touch page faults of new memory dominate both on machines where faults are expensive);
 * - stream: sequential reads of the whole file into one reused 64 MB buffer (page-cache bandwidth).
 * The file is fresh in the page cache, so rates are memory-bound, not disk-bound.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, fsyncSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { linear, randn, Tensor } from '../src/index.js';
import { openSafetensors, readSafetensorsHeader, writeSafetensors, type PlannedTensor } from '../src/io/index.js';
import { median, nowMs, printTable } from './util.js';

const D = 4096, FF = 11008, VOCAB = 32000;

function plan(gb: number): PlannedTensor[] {
  const out: PlannedTensor[] = [];
  // One filled tensor per shape, handed out again for every tensor of that shape: producing fresh data
  // (random halves, or even first-touching new memory) would be measured instead of the writer.
  const made = new Map<string, Tensor>();
  const add = (name: string, shape: number[]) => out.push({
    name, dtype: 'f16', shape,
    produce: () => {
      const key = shape.join('x');
      if (!made.has(key)) made.set(key, new Tensor(new Uint16Array(shape.reduce((a, b) => a * b, 1)).fill(0x3c00), 'f16', shape));
      return made.get(key)!;
    },
  });
  add('model.embed_tokens.weight', [VOCAB, D]);
  const layerBytes = 2 * (4 * D * D + 3 * FF * D + 2 * D);
  const layers = Math.max(1, Math.round((gb * 1e9 - 2 * VOCAB * D) / layerBytes));
  for (let i = 0; i < layers; i++) {
    const p = `model.layers.${i}`;
    for (const m of ['q', 'k', 'v', 'o']) add(`${p}.self_attn.${m}_proj.weight`, [D, D]);
    add(`${p}.mlp.gate_proj.weight`, [FF, D]);
    add(`${p}.mlp.up_proj.weight`, [FF, D]);
    add(`${p}.mlp.down_proj.weight`, [D, FF]);
    add(`${p}.input_layernorm.weight`, [D]);
    add(`${p}.post_attention_layernorm.weight`, [D]);
  }
  return out;
}

/** Child-process phases; prints `{ms, bytes, maxRssMB}`. */
function child(mode: string, file: string): void {
  const t0 = nowMs();
  let bytes = 0;
  if (mode === 'inspect' || mode === 'read' || mode === 'read mmap') {
    const src = openSafetensors(file, { mmap: mode !== 'read' });
    for (const k of src.keys()) {
      if (mode === 'inspect') src.info(k);
      else bytes += src.get(k).data.byteLength;
    }
  } else if (mode === 'linear' || mode === 'linear mmap') {
    const src = openSafetensors(file, { mmap: mode === 'linear mmap' });
    const rows = new Map<number, Tensor>();
    for (const k of src.keys()) {
      const w = src.get(k);
      bytes += w.data.byteLength;
      if (w.ndim !== 2) continue;
      const K = w.shape[1]!;
      if (!rows.has(K)) rows.set(K, randn([1, K], { seed: K }));
      linear(rows.get(K)!, w);
    }
  } else if (mode === 'peer') {
    const h = readSafetensorsHeader(file);
    const fd = openSync(file, 'r');
    for (const e of h.entries.values()) {
      const a = new Uint16Array((e.end - e.begin) / 2);
      for (let done = 0; done < a.byteLength;) done += readSync(fd, a, done, a.byteLength - done, h.dataStart + e.begin + done);
      bytes += a.byteLength;
    }
    closeSync(fd);
  } else {
    const fd = openSync(file, 'r');
    const buf = new Uint8Array(64 << 20);
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) bytes += n;
    closeSync(fd);
  }
  const ms = nowMs() - t0;
  process.stdout.write(JSON.stringify({ ms, bytes, maxRssMB: process.resourceUsage().maxRSS / 1024 }) + '\n');
}

/** Milliseconds to write `bytes` from one 64 MB buffer and fsync (the file is removed). */
function writePeer(file: string, bytes: number): number {
  const buf = new Uint8Array(64 << 20).fill(1);
  const t0 = nowMs();
  const fd = openSync(file, 'w');
  for (let done = 0; done < bytes;) done += writeSync(fd, buf, 0, Math.min(buf.length, bytes - done));
  fsyncSync(fd);
  closeSync(fd);
  const ms = nowMs() - t0;
  rmSync(file);
  return ms;
}

function runChild(mode: string, file: string): { ms: number; bytes: number; maxRssMB: number } {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', mode, file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`bench io child ${mode} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

export async function run(args: string[]): Promise<void> {
  const opt = (name: string, def: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1]! : def;
  };
  const gb = Number(opt('gb', '2'));
  const reps = Number(opt('reps', '3'));
  const dir = mkdtempSync(path.join(opt('dir', tmpdir()), 'llava-bench-io-'));
  try {
    const file = path.join(dir, 'model.safetensors');
    const t0 = nowMs();
    const r = await writeSafetensors(file, plan(gb));
    const writeMs = nowMs() - t0;
    const writeRss = process.resourceUsage().maxRSS / 1024;
    const peerMs = writePeer(path.join(dir, 'peer.bin'), r.totalBytes);
    const rows: (string | number)[][] = [
      ['write (planned, fsync)', r.totalBytes / 1e9, r.totalBytes / writeMs / 1e6, writeRss],
      ['write peer (fsync)', r.totalBytes / 1e9, r.totalBytes / peerMs / 1e6, '-'],
    ];
    const result: Record<string, unknown> = {
      gb: r.totalBytes / 1e9,
      write: { gbps: r.totalBytes / writeMs / 1e6, maxRssMB: writeRss },
      writePeer: { gbps: r.totalBytes / peerMs / 1e6 },
    };
    for (const mode of ['inspect', 'read', 'read mmap', 'linear', 'linear mmap', 'peer', 'stream']) {
      const runs = Array.from({ length: reps }, () => runChild(mode, file));
      const ms = median(runs.map((x) => x.ms));
      const rss = median(runs.map((x) => x.maxRssMB));
      const gbps = runs[0]!.bytes / ms / 1e6;
      rows.push([mode, runs[0]!.bytes / 1e9, mode === 'inspect' ? '-' : gbps, rss]);
      result[mode] = { ms, gbps: mode === 'inspect' ? null : gbps, maxRssMB: rss };
    }
    printTable(['phase', 'GB', 'GB/s', 'peak RSS MB'], rows);
    process.stdout.write(JSON.stringify(result) + '\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child' && process.argv[1] === fileURLToPath(import.meta.url)) {
  child(process.argv[3]!, process.argv[4]!);
}
