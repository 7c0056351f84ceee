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
 * The test skips, saying why, only when node-llama-cpp cannot load on this platform.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { loadLlava } from '../../src/models/llava/load.js';
import { getTemplate, loadTokenizer, renderConversation, segmentsToText, type LlamaTokenizer } from '../../src/tokenizer/index.js';
import { ROOT } from '../helpers/tiny-llava.js';
import { greedyWithMargins } from './greedy-margins.js';
import { openLlamaCpp, type GreedyStep, type LlamaCpp, type LlamaCppModel } from './llamacpp.js';
import { writeMarginModel } from './margin-model.js';
import { CHAIN_PROMPTS, CONTINUATION, MIN_MARGIN } from './margin-spec.js';

const SCHEMES = ['f16', 'q8_0', 'q4_0'] as const;
type Scheme = (typeof SCHEMES)[number];

/** Largest |llama.cpp margin − our margin| per scheme (f16: llama.cpp rounds activations to f16, we do not). */
const MARGIN_TOLERANCE: Record<Scheme, number> = { f16: 0.25, q8_0: 0.25, q4_0: 0.25 };

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

function quantize(scheme: Scheme): { dir: string; gguf: string } {
  const dir = path.join(tmp, scheme);
  const r = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'src', 'cli', 'main.js'), 'quantize', '--model', hfDir, '--type', scheme, '--out', dir], { encoding: 'utf8' });
  assert.equal(r.status, 0, `llava quantize --type ${scheme} failed: ${r.stderr}`);
  const text = readdirSync(dir).filter((f) => f.endsWith('.gguf') && !f.includes('mmproj'));
  assert.equal(text.length, 1, `one text GGUF in ${dir}: ${readdirSync(dir).join(', ')}`);
  return { dir, gguf: path.join(dir, text[0]!) };
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
    const dir = folders.get(scheme)!.dir;
    const ours: LlamaTokenizer = loadTokenizer(dir);
    const legacy: LlamaTokenizer = loadTokenizer(dir, { legacy: true });
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
    const { dir } = folders.get(scheme)!;
    const tok = loadTokenizer(dir);
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
        const gap = Math.max(...ours.map((s, i) => Math.abs(s.margin - theirs[i]!.margin)));
        assert.ok(minOurs >= MIN_MARGIN && minTheirs >= MIN_MARGIN, `${scheme} ${JSON.stringify(text)}: margins ours ${minOurs}, llama.cpp ${minTheirs}`);
        assert.ok(gap <= MARGIN_TOLERANCE[scheme], `${scheme} ${JSON.stringify(text)}: margins differ by up to ${gap}`);
        report.push(`${JSON.stringify(text)}: min margin ours ${minOurs.toFixed(3)}, llama.cpp ${minTheirs.toFixed(3)}, max |Δ| ${gap.toFixed(4)}`);
      }
    });
    console.log(`${scheme}:\n  ${report.join('\n  ')}`);
  });
}
