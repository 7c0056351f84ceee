/**
 * The in-thread decoding loop and the prompt side of generation, on the tiny LLaVA folder: EOS ends the
 * reply (its piece carries the detokenizer's remaining text), the repetition penalty applies to greedy
 * decoding, the new-token budget against the context, prompts rendered from a user text or messages with
 * images put first, and the stop strings a template implies.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import '../../src/backends/index.js';
import { generateTokens, newTokenBudget, type GenerationSummary } from '../../src/generate/core.js';
import { pixelValuesFor } from '../../src/generate/images.js';
import type { GenerateRequest, Piece } from '../../src/generate/options.js';
import { buildPrompt, templateStops } from '../../src/generate/prompt.js';
import { loadLlava } from '../../src/models/llava/load.js';
import { selectTemplate } from '../../src/tokenizer/index.js';
import { fixtureExpected, ROOT } from '../helpers/tiny-llava.js';

const DIR = path.join(ROOT, 'assets', 'tiny-llava-1.5-hf');
const expected = fixtureExpected().json;
const COMPACT: number[] = expected.input_ids_compact;
const GOLDEN: number[] = expected.greedy.tokens; // 8251 18533 17202 17202 17202
const loaded = loadLlava(DIR);
const pixels = await pixelValuesFor(loaded, [path.join(DIR, 'image.png')]);

function run(req: GenerateRequest, eos?: number[]): { pieces: Piece[]; summary: GenerationSummary } {
  const l = eos ? { ...loaded, eosTokenIds: eos } : loaded;
  const it = generateTokens(l, req, pixels);
  const pieces: Piece[] = [];
  for (;;) {
    const r = it.next();
    if (r.done) return { pieces, summary: r.value };
    pieces.push(r.value);
  }
}

test('EOS ends the reply with its own piece; max new tokens ends it otherwise', () => {
  const a = run({ inputIds: COMPACT, temperature: 0, maxNewTokens: 5 }, [18533]);
  assert.deepEqual(a.pieces, [{ text: 'Call', tokenId: 8251 }, { text: '', tokenId: 18533 }]);
  assert.equal(a.summary.finish, 'eos');
  const b = run({ inputIds: COMPACT, temperature: 0, maxNewTokens: 3 });
  assert.deepEqual(b.pieces.map((p) => p.tokenId), GOLDEN.slice(0, 3));
  assert.equal(b.summary.finish, 'length');
  assert.equal(b.summary.promptPositions, 27);
  assert.deepEqual(run({ inputIds: COMPACT, temperature: 0, maxNewTokens: 0 }).pieces, []);
});

test('the repetition penalty applies to greedy decoding (the golden reply repeats a token; penalized, it does not)', () => {
  const ids = run({ inputIds: COMPACT, temperature: 0, maxNewTokens: 8, repetitionPenalty: 1000 }).pieces.map((p) => p.tokenId);
  // Only seen ids are lowered, so the first three (distinct) golden tokens stay; then no id repeats.
  assert.deepEqual(ids.slice(0, 3), GOLDEN.slice(0, 3));
  assert.equal(new Set(ids).size, ids.length, `repeated: ${ids.join(' ')}`);
});

test('new-token budget: the default shrinks to the context, an explicit value must fit', () => {
  assert.equal(newTokenBudget(undefined, 27, 256), 229);
  assert.equal(newTokenBudget(undefined, 27, 4096), 512);
  assert.equal(newTokenBudget(229, 27, 256), 229);
  assert.throws(() => newTokenBudget(230, 27, 256), /maxNewTokens 230 does not fit: the prompt takes 27 of the model's 256 positions \(max_position_embeddings\), leaving room for 229 new tokens/);
  assert.throws(() => newTokenBudget(undefined, 256, 256), /the prompt takes 256 positions .* context is 256/);
  assert.throws(() => newTokenBudget(-1, 1, 256), /maxNewTokens must be a non-negative integer/);
});

test('prompts: a user text or messages, images first unless placed, system replaced', () => {
  const sys = 'A chat between a curious human and an artificial intelligence assistant. '
    + "The assistant gives helpful, detailed, and polite answers to the human's questions.";
  const p = buildPrompt(DIR, { prompt: 'What is it?', images: 1 });
  assert.equal(p.text, `${sys} USER: <image>\nWhat is it? ASSISTANT:`);
  assert.equal(p.ids[0], 1);
  assert.equal(p.ids.filter((id) => id === -200).length, 1);
  const m = buildPrompt(DIR, {
    messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello.' }, { role: 'user', content: 'And <image> this?' }],
    system: 'Be brief.', images: 1,
  });
  assert.equal(m.text, 'Be brief. USER: Hi ASSISTANT: Hello.</s>USER: And <image> this? ASSISTANT:');
  const two = buildPrompt(DIR, { messages: [{ role: 'user', content: 'Compare.' }], images: 2, template: 'vicuna_v1', system: '' });
  assert.equal(two.text, ' USER: <image>\n<image>\nCompare. ASSISTANT:');
  assert.throws(() => buildPrompt(DIR, { images: 0 }), /exactly one of prompt and messages/);
});

test('template stop strings: ### for v0, <|im_end|> for MPT, none where EOS ends the turn', () => {
  assert.deepEqual(templateStops(selectTemplate({ name: 'llava_v0' })), ['###']);
  assert.deepEqual(templateStops(selectTemplate({ name: 'mpt' })), ['<|im_end|>']);
  assert.deepEqual(templateStops(selectTemplate({ name: 'chatml_direct' })), ['<|im_end|>']);
  assert.deepEqual(templateStops(selectTemplate({ name: 'llava_v1' })), []);
  assert.deepEqual(templateStops(selectTemplate({ name: 'llava_llama_2' })), []);
});
