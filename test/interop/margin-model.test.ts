/**
 * The interchange test model itself (margin-model.ts): its alphabet words are single LLaMA pieces, the
 * generated llava-hf folder loads through the ordinary loader, and its f32 greedy continuations walk the
 * successor chain of margin-spec.ts with wide top-1 margins — the property that makes "llama.cpp picks the
 * same tokens" a meaningful check (llamacpp.test.ts). The chain is computed from the table, not the model.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { loadTokenizer, type LlamaTokenizer } from '../../src/tokenizer/index.js';
import { loadLlava, type LoadedLlava } from '../../src/models/llava/load.js';
import { greedyWithMargins } from './greedy-margins.js';
import { FULL_VOCAB, writeMarginModel } from './margin-model.js';
import { ALPHABET, BOS_ID, CHAIN_PROMPTS, CONTINUATION, followChain, K, MIN_MARGIN, successorTable } from './margin-spec.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'llava-margin-'));
const dir = path.join(tmp, 'hf');
let tok: LlamaTokenizer;
let model: LoadedLlava;

before(async () => {
  await writeMarginModel(dir);
  tok = loadTokenizer(dir);
  model = loadLlava(dir);
});
after(() => rmSync(tmp, { recursive: true, force: true }));

test('alphabet words are single pieces with the ids the task was trained on', () => {
  assert.equal(K, 32);
  for (const [word, id] of ALPHABET) assert.deepEqual(tok.encode(word, { addBos: false }), [id], word);
  assert.equal(tok.bosId, BOS_ID);
  assert.equal(tok.size, 32002);
});

test('the generated folder is a llava-hf LLaMA with GQA, an untied head and the padded vocabulary', () => {
  const t = model.config.text;
  assert.deepEqual([t.hiddenSize, t.numLayers, t.numHeads, t.numKvHeads, t.headDim, t.vocabSize], [64, 2, 4, 2, 16, FULL_VOCAB]);
  assert.equal(t.tieWordEmbeddings, false);
  assert.notEqual(model.model.languageModel.lmHead, model.model.languageModel.embedTokens);
});

test(`f32 greedy continuations follow the successor chain for ${CONTINUATION} tokens with margins ≥ ${MIN_MARGIN}`, () => {
  const T = successorTable();
  const index = new Map(ALPHABET.map(([, id], i) => [id, i]));
  let minMargin = Infinity;
  for (const text of CHAIN_PROMPTS) {
    const ids = tok.encode(text);
    const words = ids.slice(1).map((id) => index.get(id)!);
    const want = followChain(T, words, CONTINUATION).map((i) => ALPHABET[i]![1]);
    const steps = greedyWithMargins(model.model.languageModel, ids, CONTINUATION);
    assert.deepEqual(steps.map((s) => s.token), want, text);
    for (const s of steps) minMargin = Math.min(minMargin, s.margin);
  }
  assert.ok(minMargin >= MIN_MARGIN, `smallest margin ${minMargin}`);
});
