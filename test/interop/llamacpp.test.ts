/**
 * GGUF interchange with llama.cpp: `llava quantize` writes the high-margin test model (margin-model.ts) as
 * f16, q8_0 and q4_0 GGUF folders; node-llama-cpp (the pinned llama.cpp build, CPU) loads each text GGUF
 * and must agree with llava-ts loading the same folder on
 *
 * - token ids: plain text with special-token parsing off (our tokenizer as the folder configures it), text
 *   containing special tokens with parsing on (llama.cpp's SPM tokenizer puts the dummy-prefix space after
 *   every special token, which is Hugging Face's legacy mode; our tokenizer in that mode must agree), and
 *   LLaVA prompts with `<image>` (ours through tokenizer_image_token, which encodes the chunks around an
 *   image separately and so agrees in either mode);
 * - greedy continuations of 40 tokens from several prompts at the same quantization, where every step's
 *   top-1 margin is ≥ 0.05 logits on both sides (so equal tokens are not luck) and the two margins agree
 *   closely (so equal tokens are not just a wide margin hiding different arithmetic).
 *
 * A control shows the comparison can fail: the same q8_0 file with its q/k rows put back in Hugging Face
 * order (the slip the RoPE permutation exists to avoid) must make llama.cpp's continuation differ.
 *
 * The test skips, saying why, only when node-llama-cpp cannot load on this platform.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ggufModelFiles } from '../../src/models/llava/gguf-load.js';
import { permuteRopeRows, tokenizerDataFromGguf } from '../../src/models/llava/gguf-text.js';
import { loadLlava } from '../../src/models/llava/load.js';
import { metaInt } from '../../src/io/gguf-format.js';
import { openGguf } from '../../src/io/gguf-reader.js';
import { writeGguf } from '../../src/io/gguf-writer.js';
import { tokenizerFromGguf } from '../../src/tokenizer/gguf.js';
import { getTemplate, renderConversation, segmentsToText, type LlamaTokenizer } from '../../src/tokenizer/index.js';
import { ROOT } from '../helpers/tiny-llava.js';
import { greedyWithMargins } from './greedy-margins.js';
import { openLlamaCpp, type GreedyStep, type LlamaCpp, type LlamaCppModel } from './llamacpp.js';
import { writeMarginModel } from './margin-model.js';
import { CHAIN_PROMPTS, CONTINUATION, MIN_MARGIN } from './margin-spec.js';

const SCHEMES = ['f16', 'q8_0', 'q4_0'] as const;
type Scheme = (typeof SCHEMES)[number];

/**
 * How closely llama.cpp's margins must match ours. f16: llama.cpp rounds activations to f16 for f16
 * matmuls (we keep f32), a few hundredths of a logit. q8_0/q4_0: both sides quantize activations to q8_0
 * and sum the same integer block products, so most steps agree to ~1e-6 (the median must to 1e-3); a float
 * summation-order difference now and then flips one activation's rounding, which moves a margin by up to
 * a few tenths (the maximum).
 */
const MARGIN_TOLERANCE: Record<Scheme, { max: number; median: number }> = {
  f16: { max: 0.05, median: 0.05 },
  q8_0: { max: 0.5, median: 1e-3 },
  q4_0: { max: 0.5, median: 1e-3 },
};

/** Plain text: no added-token strings, so special-token parsing cannot matter. */
const PLAIN_TEXTS = [
  'apple river stone cloud', 'Hello world', ' leading space', 'two  spaces and trailing ', '   many    spaces   ',
  'tabs\tand\nnewlines\n\n', '\n', ' ', 'Unicode: café, naïve, 日本語, emoji 🦙', 'ÅÄÖ über straße ǅ',
  'numbers 12345 and 3.14159', "can't won't (x) [y] {z} <tag>", '\u2581 a literal sentencepiece space mark',
];
/** Text with special tokens written out (parsed on both sides). */
const SPECIAL_TEXTS = [
  '<s>USER: hi</s>', 'A cat.</s>USER: And the color? ASSISTANT:', '</s>\n\nnext', '<pad>x', '<unk>y', 'x <image> y',
];

function llavaPrompts(): string[] {
  const v1 = getTemplate('llava_v1')!;
  const render = (messages: Parameters<typeof renderConversation>[1]) => segmentsToText(renderConversation(v1, messages).segments);
  return [
    render([{ role: 'user', content: '<image>\nWhat is shown in this picture?' }, { role: 'assistant', content: null }]),
    render([{ role: 'user', content: 'Describe <image> briefly.' }, { role: 'assistant', content: null }]),
    'USER: <image>\nDescribe. ASSISTANT:',
    '<image>\nhello',
    'a<image>b',
  ];
}

const opened = await openLlamaCpp();
const skip = 'reason' in opened ? opened.reason : false;
if (skip) console.warn(`interop/llamacpp: skipped — ${skip}`);
const llama = 'reason' in opened ? null : (opened as LlamaCpp);

const tmp = mkdtempSync(path.join(os.tmpdir(), 'llava-interop-'));
const hfDir = path.join(tmp, 'hf');
const folders = new Map<Scheme, { dir: string; gguf: string }>();

const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');

/** `llava quantize --type scheme` of the test model; the folder and its text GGUF (as the folder names it). */
function quantize(scheme: Scheme): { dir: string; gguf: string } {
  const dir = path.join(tmp, scheme);
  const r = spawnSync(process.execPath, [CLI, 'quantize', '--model', hfDir, '--type', scheme, '--out', dir], { encoding: 'utf8' });
  assert.equal(r.status, 0, `llava quantize --type ${scheme} failed: ${r.stderr}`);
  return { dir, gguf: ggufModelFiles(dir)!.text };
}

/** Our tokenizer as stored in the folder's text GGUF (the folder's `legacy` flag, or the one given). */
function ggufTokenizer(gguf: string, legacy: boolean | undefined): LlamaTokenizer {
  const data = tokenizerDataFromGguf(openGguf(gguf, { mmap: false }).metadata, gguf);
  assert.ok(data, `${gguf} carries a tokenizer`);
  return tokenizerFromGguf(data, { legacy: legacy ?? ggufModelFiles(path.dirname(gguf))!.config?.legacy }, gguf);
}

before(async () => {
  if (skip) return;
  await writeMarginModel(hfDir);
  for (const s of SCHEMES) folders.set(s, quantize(s));
});
after(async () => {
  await llama?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

/** Opens the scheme's GGUF in llama.cpp for the duration of `fn`. */
async function withLlamaCpp<T>(scheme: Scheme, fn: (m: LlamaCppModel) => Promise<T>): Promise<T> {
  const m = await llama!.load(folders.get(scheme)!.gguf);
  try {
    return await fn(m);
  } finally {
    await m.dispose();
  }
}

function same(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

for (const scheme of SCHEMES) {
  test(`${scheme}: llama.cpp reads the GGUF's vocabulary and tokenizes as we do`, { skip }, async () => {
    const { gguf } = folders.get(scheme)!;
    const ours = ggufTokenizer(gguf, undefined);
    const legacy = ggufTokenizer(gguf, true);
    assert.equal(ours.legacy, false, 'the llava-hf tokenizer_config.json says legacy: false');
    await withLlamaCpp(scheme, async (m) => {
      assert.deepEqual(m.info, { vocab: 32064, bos: ours.bosId, eos: ours.eosId });
      const diffs: string[] = [];
      const check = (what: string, text: string, theirs: number[], want: number[]) => {
        if (!same(theirs, want)) diffs.push(`${what} ${JSON.stringify(text)}: llama.cpp [${theirs}] vs ours [${want}]`);
      };
      for (const t of PLAIN_TEXTS) check('plain', t, m.tokenize(t, false), ours.encode(t, { addBos: false }));
      for (const t of SPECIAL_TEXTS) check('special (legacy)', t, [ours.bosId, ...m.tokenize(t, true)], legacy.encode(t));
      for (const t of llavaPrompts()) {
        check('llava prompt', t, [ours.bosId, ...m.tokenize(t, true)], ours.tokenizerImageToken(t, { imageTokenIndex: 32000 }));
      }
      for (const t of CHAIN_PROMPTS) check('chain prompt', t, [ours.bosId, ...m.tokenize(t, false)], ours.encode(t));
      assert.deepEqual(diffs, []);
    });
  });

  test(`${scheme}: llama.cpp and llava-ts continue every prompt with the same ${CONTINUATION} greedy tokens`, { skip }, async () => {
    const { dir, gguf } = folders.get(scheme)!;
    // "The same quantization": the file really stores the scheme (q4_0 keeps its head in q8_0).
    const stored = openGguf(gguf, { mmap: false });
    const want = scheme.toUpperCase();
    assert.deepEqual(['token_embd.weight', 'blk.1.attn_k.weight', 'blk.1.ffn_down.weight', 'output.weight', 'output_norm.weight'].map((n) => stored.storedType(n)),
      [want, want, want, scheme === 'q4_0' ? 'Q8_0' : want, 'F32']);
    const tok = ggufTokenizer(gguf, undefined);
    const lm = loadLlava(dir).model.languageModel;
    const report: string[] = [];
    await withLlamaCpp(scheme, async (m) => {
      for (const text of CHAIN_PROMPTS) {
        const ids = tok.encode(text);
        const theirs: GreedyStep[] = await m.greedy(ids, CONTINUATION);
        const ours: GreedyStep[] = greedyWithMargins(lm, ids, CONTINUATION);
        assert.deepEqual(theirs.map((s) => s.token), ours.map((s) => s.token), `${scheme} ${JSON.stringify(text)}`);
        const minOurs = Math.min(...ours.map((s) => s.margin));
        const minTheirs = Math.min(...theirs.map((s) => s.margin));
        const gaps = ours.map((s, i) => Math.abs(s.margin - theirs[i]!.margin)).sort((a, b) => a - b);
        const [median, max] = [gaps[gaps.length >> 1]!, gaps[gaps.length - 1]!];
        const what = `${scheme} ${JSON.stringify(text)}`;
        assert.ok(minOurs >= MIN_MARGIN && minTheirs >= MIN_MARGIN, `${what}: smallest margins ours ${minOurs}, llama.cpp ${minTheirs}`);
        const tol = MARGIN_TOLERANCE[scheme];
        assert.ok(max <= tol.max && median <= tol.median, `${what}: margins differ by ${median} (median), ${max} (max)`);
        report.push(`${JSON.stringify(text)}: smallest margin ours ${minOurs.toFixed(3)}, llama.cpp ${minTheirs.toFixed(3)}; |Δ| median ${median.toExponential(1)}, max ${max.toExponential(1)}`);
      }
    });
    console.log(`${scheme}:\n  ${report.join('\n  ')}`);
  });
}

test('control: the q8_0 GGUF with q/k rows left in Hugging Face order makes llama.cpp diverge from us', { skip }, async () => {
  const { dir, gguf } = folders.get('q8_0')!;
  const src = openGguf(gguf, { mmap: false });
  const count = (key: string) => metaInt(src.metadata, key, gguf);
  const heads = (name: string) => (/\.attn_q\./.test(name) ? count('llama.attention.head_count')
    : /\.attn_k\./.test(name) ? count('llama.attention.head_count_kv') : 0);
  assert.deepEqual([count('llama.attention.head_count'), count('llama.attention.head_count_kv')], [4, 2]);
  const unpermuted = path.join(tmp, 'qk-unpermuted.gguf');
  await writeGguf(unpermuted, src.metadata, src.file.names().map((name) => {
    const e = src.file.entry(name);
    return { name, type: e.type, shape: e.shape, produce: () => (heads(name) ? permuteRopeRows(src.file.read(name), heads(name), false) : src.file.read(name)) };
  }));
  const ids = ggufTokenizer(gguf, undefined).encode(CHAIN_PROMPTS[0]!);
  const ours = greedyWithMargins(loadLlava(dir).model.languageModel, ids, CONTINUATION).map((s) => s.token);
  const m = await llama!.load(unpermuted);
  try {
    const theirs = (await m.greedy(ids, CONTINUATION, { margins: false })).map((s) => s.token);
    assert.notDeepEqual(theirs, ours);
  } finally {
    await m.dispose();
  }
});
