/**
 * ChatSession on the embedded tiny LLaVA-1.5 model (real weights, tokenizer, preprocessing and image):
 * KV-cache prefix reuse gives the tokens of a fresh session given the same history (and the decoder really
 * ran over fewer positions: its forward calls are counted; through a reply exactly as far as its ids are what
 * the reference's re-rendering tokenizes it to), replies are kept the way LLaVA's CLI keeps them (ids of the
 * padded vocabulary left out),
 * stop strings are held back, interrupted turns leave a consistent cache, an image switch starts a new
 * conversation, and the context rule drops the oldest turns after the first or names the sizes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import '../../src/index.js';
import { loadChatModel, type ChatModel } from '../../src/generate/chat-model.js';
import { ChatSession, greedyNextToken, type ChatNotice, type ChatPiece, type SendOptions } from '../../src/generate/chat.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { tensor } from '../../src/engine/index.js';
import { KVCache } from '../../src/nn/kv-cache.js';
import { cat } from '../../src/engine/ops/index.js';
import { greedyGenerate } from '../../src/models/llava/greedy.js';
import { preprocessImage, preprocessRgb } from '../../src/vision/preprocess.js';
import { ROOT } from '../helpers/tiny-llava.js';

const ASSET = path.join(ROOT, 'assets', 'tiny-llava-1.5-hf');
const IMAGE = path.join(ASSET, 'image.png');
// llava_v1's system prompt (LLaVA's conversation.py), which the CLI rule picks for this folder's name.
const SYSTEM = 'A chat between a curious human and an artificial intelligence assistant. '
  + "The assistant gives helpful, detailed, and polite answers to the human's questions.";
const Q = ['What is in this image?', 'And what colour is it?', 'Describe it in one word.', 'Why?', 'Tell me more.', 'Anything else?'];

const model = loadChatModel(ASSET);

/** Counts the positions the decoder computes (a pass-through wrapper around the real forward). */
function countPositions(m: ChatModel): { positions: number; stop(): void } {
  const lm = m.model.languageModel;
  const original = lm.forward;
  const counter = {
    positions: 0,
    stop: () => { lm.forward = original; },
  };
  lm.forward = function (embeds: Tensor, opts) {
    counter.positions += embeds.shape[1]!;
    return original.call(this, embeds, opts);
  };
  return counter;
}

async function reply(chat: ChatSession, text: string, opts: SendOptions = {}): Promise<{ text: string; pieces: ChatPiece[] }> {
  const pieces: ChatPiece[] = [];
  for await (const p of chat.send(text, { maxNewTokens: 6, ...opts })) pieces.push(p);
  return { text: pieces.map((p) => p.text).join(''), pieces };
}

/** A 20×12 RGB gradient: a second image, different from image.png. */
function gradient(): { width: number; height: number; data: Uint8Array } {
  const width = 20;
  const height = 12;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set([x * 12, y * 20, 255 - x * 6], (y * width + x) * 3);
  }
  return { width, height, data };
}

for (const kvCache of ['f32', 'f16'] as const) test(`prefix reuse across turns (${kvCache} cache): same tokens as a fresh session given the full history, fewer positions computed`, async () => {
  const a = new ChatSession(model, { image: IMAGE, kvCache });
  const stats = [];
  for (const q of Q.slice(0, 3)) {
    const count = countPositions(model);
    await reply(a, q);
    count.stop();
    const s = a.lastTurn!;
    assert.equal(s.stopReason, 'length');
    assert.equal(s.tokenIds.length, 6);
    assert.equal(s.prefilledPositions, s.promptPositions - s.reusedPositions);
    // What the decoder really ran over: the prefill plus one position per token fed back (5 of 6).
    assert.equal(count.positions, s.prefilledPositions + 5);
    stats.push(s);
  }
  assert.equal(stats[0]!.reusedPositions, 0);
  for (let k = 1; k < 3; k++) {
    // The previous prompt is a prefix of this one ("… ASSISTANT:" then " reply</s>USER: …").
    assert.ok(stats[k]!.reusedPositions >= stats[k - 1]!.promptPositions, `turn ${k + 1} reused ${stats[k]!.reusedPositions}`);
    assert.ok(stats[k]!.prefilledPositions < stats[k]!.promptPositions / 2);
  }
  const history = a.history;
  assert.deepEqual(history.filter((t) => t.role === 'user').map((t) => t.content), Q.slice(0, 3));

  for (const k of [1, 2]) {
    const fresh = new ChatSession(model, { image: IMAGE, kvCache, history: history.slice(0, 2 * k) });
    const count = countPositions(model);
    await reply(fresh, Q[k]!);
    count.stop();
    const s = fresh.lastTurn!;
    assert.equal(s.prompt, stats[k]!.prompt);
    assert.deepEqual(s.tokenIds, stats[k]!.tokenIds, `turn ${k + 1}`);
    assert.equal(s.reusedPositions, 0);
    assert.equal(count.positions, s.promptPositions + 5);
  }
});

test('the image is encoded once per image, and reset() keeps it and reuses the cached prompt', async () => {
  const tower = model.model;
  const original = tower.imageFeatures;
  let calls = 0;
  tower.imageFeatures = function (pv) {
    calls++;
    return original.call(this, pv);
  };
  try {
    const a = new ChatSession(model, { image: IMAGE });
    const first = await reply(a, Q[0]!);
    await reply(a, Q[1]!);
    await reply(a, Q[2]!);
    assert.equal(calls, 1);
    a.reset();
    assert.deepEqual(a.history, []);
    const again = await reply(a, Q[0]!);
    assert.equal(calls, 1);
    assert.equal(again.text, first.text);
    // The whole first prompt is still cached; only its last position is recomputed for its logits.
    assert.equal(a.lastTurn!.reusedPositions, a.lastTurn!.promptPositions - 1);
  } finally {
    tower.imageFeatures = original;
  }
});

test('replies are kept as LLaVA\'s CLI keeps them: decoded with special tokens, stripped, then the separator', async () => {
  // Three greedy tokens, then EOS: the reply ends the way a real model's does.
  const endAfter3: SendOptions['nextToken'] = (logits, generated) => (generated.length === 3 ? 2 : greedyNextToken(logits, generated));
  const a = new ChatSession(model, { image: IMAGE });
  const r1 = await reply(a, Q[0]!, { nextToken: endAfter3 });
  assert.equal(a.lastTurn!.stopReason, 'eos');
  assert.equal(a.lastTurn!.tokenIds.length, 4);
  assert.equal(a.lastTurn!.tokenIds[3], 2);
  assert.ok(r1.pieces.every((p) => p.tokenId !== 2), 'EOS is not streamed');
  assert.equal(a.lastTurn!.prompt, `${SYSTEM} USER: <image>\n${Q[0]} ASSISTANT:`);
  const [, answer] = a.history;
  assert.equal(answer!.content, r1.text.trim());
  assert.ok(!answer!.content.includes('</s>'));
  // tokenizer.decode(output_ids) keeps </s>; get_prompt() then appends sep2, so the prompt has two.
  assert.equal(answer!.stored, `${answer!.content}</s>`);
  await reply(a, Q[1]!);
  assert.equal(a.lastTurn!.prompt, `${SYSTEM} USER: <image>\n${Q[0]} ASSISTANT: ${answer!.content}</s></s>USER: ${Q[1]} ASSISTANT:`);
  // A reply cut by the length limit has no </s> of its own: one separator.
  const [, , , second] = a.history;
  assert.equal(second!.stored, undefined);
  await reply(a, Q[2]!);
  assert.ok(a.lastTurn!.prompt.endsWith(`ASSISTANT: ${second!.content}</s>USER: ${Q[2]} ASSISTANT:`));
});

/** A token chooser that returns `ids` in order (whatever the logits say). */
const forced = (ids: readonly number[]): SendOptions['nextToken'] => (_logits, generated) => ids[generated.length]!;

/**
 * How the reference's re-rendering tokenizes a reply `text` that ended with EOS: the ids between the first
 * prompt and the first `</s>` in the next turn's prompt (taken from a session given that turn as history).
 */
async function renderedReply(text: string): Promise<{ ids: number[]; firstPromptPositions: number }> {
  const opening = new ChatSession(model, { image: IMAGE });
  await reply(opening, Q[0]!, { maxNewTokens: 1 });
  const before = opening.lastTurn!.promptIds;
  const given = new ChatSession(model, { image: IMAGE, history: [{ role: 'user', content: Q[0]! }, { role: 'assistant', content: text, stored: `${text}</s>` }] });
  await reply(given, Q[1]!, { maxNewTokens: 1 });
  const after = given.lastTurn!.promptIds;
  assert.deepEqual(after.slice(0, before.length), before);
  return { ids: after.slice(before.length, after.indexOf(2, before.length)), firstPromptPositions: opening.lastTurn!.promptPositions };
}

test('the cache is reused through a reply whose ids are what its text re-tokenizes to, and up to the first differing id otherwise', async () => {
  const tok = model.tokenizer;
  const text = 'The cat is red, and the sky is blue.';
  const { ids: canonical, firstPromptPositions } = await renderedReply(text);
  assert.equal(tok.decode(canonical, { skipSpecialTokens: true }), text);
  // The same text from other ids: the first piece after the first that splits into two pieces of the
  // vocabulary, split.
  let at = -1;
  let split: number[] = [];
  for (const [k, id] of canonical.entries()) {
    if (k === 0) continue;
    const piece = tok.idToToken(id);
    for (let cut = 1; cut < piece.length && at < 0; cut++) {
      const [a, b] = [tok.tokenToId(piece.slice(0, cut)), tok.tokenToId(piece.slice(cut))];
      if (a !== undefined && b !== undefined) {
        at = k;
        split = [...canonical.slice(0, k), a, b, ...canonical.slice(k + 1)];
      }
    }
    if (at >= 0) break;
  }
  assert.ok(at > 0, 'no piece of the reply splits into two vocabulary pieces');
  assert.equal(tok.decode(split, { skipSpecialTokens: true }), text);

  for (const [label, ids, reused] of [
    // Every id fed back (the EOS never is) is where the next prompt has it: all of them are reused.
    ['canonical ids', canonical, firstPromptPositions + canonical.length],
    // The reference's tokens decide: the cache serves up to the split piece, not beyond.
    ['a split piece', split, firstPromptPositions + at],
  ] as const) {
    const chat = new ChatSession(model, { image: IMAGE });
    await reply(chat, Q[0]!, { nextToken: forced([...ids, 2]), maxNewTokens: ids.length + 1 });
    assert.deepEqual(chat.history[1], { role: 'assistant', content: text, stored: `${text}</s>` }, label);
    const next = await reply(chat, Q[1]!);
    assert.equal(chat.lastTurn!.reusedPositions, reused, label);
    const fresh = new ChatSession(model, { image: IMAGE, history: chat.history.slice(0, 2) });
    assert.deepEqual((await reply(fresh, Q[1]!)).pieces, next.pieces, label);
  }
});

test('ids of the padded vocabulary (the tokenizer has no text for them) are left out of the kept reply', async () => {
  const { ids } = await renderedReply('The cat is red.');
  const padded = model.model.config.text.vocabSize - 1;
  assert.ok(!model.tokenizer.hasId(padded));
  for (const [label, chosen, stored] of [
    ['ended by EOS', [ids[0]!, padded, ...ids.slice(1), 2], 'The cat is red.</s>'],
    ['ended by the limit', [...ids, padded], undefined],
  ] as const) {
    const chat = new ChatSession(model, { image: IMAGE });
    await reply(chat, Q[0]!, { nextToken: forced(chosen), maxNewTokens: chosen.length });
    assert.deepEqual(chat.lastTurn!.tokenIds, chosen, label);
    assert.deepEqual(chat.history[1], { role: 'assistant', content: 'The cat is red.', ...(stored ? { stored } : {}) }, label);
  }
});

test('a stop string split across tokens is held back, never streamed, and ends the reply', async () => {
  const plain = await reply(new ChatSession(model, { image: IMAGE }), Q[0]!);
  const texts = plain.pieces.map((p) => p.text);
  const k = texts.findIndex((t, i) => i > 0 && t.length >= 2 && texts[i - 1]!.length >= 2);
  assert.ok(k > 0, `no two neighbouring pieces of 2+ characters in ${JSON.stringify(texts)}`);
  const stop = texts[k - 1]!.slice(-2) + texts[k]!.slice(0, 2);
  const before = plain.text.slice(0, plain.text.indexOf(stop));
  const a = new ChatSession(model, { image: IMAGE });
  const r = await reply(a, Q[0]!, { stop: [stop] });
  // Exactly the text before the stop string: not one of its characters was streamed.
  assert.equal(r.text, before);
  assert.equal(a.lastTurn!.stopReason, 'stop');
  assert.equal(a.history[1]!.content, before.trim());
  await reply(a, Q[1]!);
  assert.ok(a.lastTurn!.prompt.includes(`ASSISTANT: ${before.trim()}</s>USER: ${Q[1]}`));
});

test('after an interrupted turn (AbortSignal, or leaving the loop) the next turn equals a fresh session\'s', async () => {
  const a = new ChatSession(model, { image: IMAGE });
  await reply(a, Q[0]!);
  const ac = new AbortController();
  const got: ChatPiece[] = [];
  for await (const p of a.send(Q[1]!, { maxNewTokens: 6, signal: ac.signal })) {
    got.push(p);
    if (got.length === 2) ac.abort();
  }
  assert.equal(got.length, 2);
  assert.equal(a.lastTurn!.stopReason, 'abort');
  assert.deepEqual(a.lastTurn!.tokenIds, got.map((p) => p.tokenId));
  assert.equal(a.history.length, 4);
  assert.equal(a.history[3]!.content, model.tokenizer.decode(got.map((p) => p.tokenId)).trim());

  for await (const p of a.send(Q[2]!, { maxNewTokens: 6 })) {
    void p;
    break;
  }
  assert.equal(a.lastTurn!.stopReason, 'abort');
  assert.equal(a.lastTurn!.tokenIds.length, 1);
  assert.equal(a.history.length, 6);

  // An abort from a timer lands between two tokens: the session yields to the event loop while decoding.
  const timed = new AbortController();
  setTimeout(() => timed.abort(), 0);
  const partial = await reply(a, Q[3]!, { maxNewTokens: 100, signal: timed.signal });
  assert.equal(a.lastTurn!.stopReason, 'abort');
  assert.ok(partial.pieces.length >= 1 && partial.pieces.length < 100, `${partial.pieces.length} pieces`);
  assert.equal(a.history.length, 8);

  await reply(a, Q[3]!);
  const resumed = a.lastTurn!;
  assert.ok(resumed.reusedPositions > 0);
  const fresh = new ChatSession(model, { image: IMAGE, history: a.history.slice(0, 8) });
  await reply(fresh, Q[3]!);
  assert.equal(fresh.lastTurn!.prompt, resumed.prompt);
  assert.deepEqual(fresh.lastTurn!.tokenIds, resumed.tokenIds);
});

test('a send started while another reply streams ends that reply first; of two sends waiting for the image the later one runs', async () => {
  const a = new ChatSession(model, { image: IMAGE });
  const first = a.send(Q[0]!, { maxNewTokens: 6 });
  const p = await first.next();
  assert.equal(p.done, false);
  await reply(a, Q[1]!);
  assert.deepEqual((await first.next()).done, true);
  assert.deepEqual(a.history.map((t) => t.role === 'user' ? t.content : 'reply'), [Q[0], 'reply', Q[1], 'reply']);
  const fresh = new ChatSession(model, { image: IMAGE, history: a.history.slice(0, 2) });
  await reply(fresh, Q[1]!);
  assert.equal(fresh.lastTurn!.prompt, a.lastTurn!.prompt);
  assert.deepEqual(fresh.lastTurn!.tokenIds, a.lastTurn!.tokenIds);

  const b = new ChatSession(model, { image: IMAGE });
  const early = b.send(Q[0]!, { maxNewTokens: 3 }).next();
  const late = b.send(Q[1]!, { maxNewTokens: 3 }).next();
  assert.equal((await early).done, true);
  assert.equal((await late).done, false);
  assert.equal(b.lastTurn, null);
  assert.equal(b.history.length, 0);
});

test('an image switch starts a new conversation; the text before the image is still reused', async () => {
  const a = new ChatSession(model, { image: IMAGE });
  await reply(a, Q[0]!);
  await reply(a, Q[1]!);
  await a.setImage(gradient());
  assert.deepEqual(a.history, []);
  const switched = await reply(a, Q[0]!);
  const s = a.lastTurn!;
  assert.equal(s.prompt, `${SYSTEM} USER: <image>\n${Q[0]} ASSISTANT:`);
  assert.equal(s.reusedPositions, s.promptIds.indexOf(-200));
  const fresh = new ChatSession(model, { image: gradient() });
  const expected = await reply(fresh, Q[0]!);
  assert.deepEqual(s.tokenIds, fresh.lastTurn!.tokenIds);
  assert.equal(switched.text, expected.text);

  // The image as file bytes gives what the path gives.
  const byPath = await reply(new ChatSession(model, { image: IMAGE }), Q[0]!);
  const byBytes = await reply(new ChatSession(model, { image: readFileSync(IMAGE) }), Q[0]!);
  assert.deepEqual(byBytes.pieces, byPath.pieces);
  // And the first image's reply is not the second's (the features reach the decoder).
  assert.notDeepEqual(byPath.pieces.map((p) => p.tokenId), s.tokenIds);
});

test('several images go into the first message in order; the first turn equals plain greedy decoding of the same prompt', async () => {
  const second = gradient();
  const pixels = cat([(await preprocessImage(IMAGE, model.preprocess!)).pixelValues, preprocessRgb(second, model.preprocess!).pixelValues], 0);
  const a = new ChatSession(model, { image: [IMAGE, second] });
  await reply(a, Q[0]!);
  const s = a.lastTurn!;
  assert.equal(s.prompt, `${SYSTEM} USER: <image>\n<image>\n${Q[0]} ASSISTANT:`);
  assert.equal(s.promptPositions, s.promptIds.length + 2 * (16 - 1));
  const direct = greedyGenerate(model.model, { inputIds: s.promptIds, pixelValues: pixels, maxNewTokens: 6, eosTokenIds: model.eosTokenIds });
  assert.deepEqual(s.tokenIds, direct.outputIds);
  // Turn two reuses everything up to the reply and matches a fresh session.
  await reply(a, Q[1]!);
  assert.ok(a.lastTurn!.reusedPositions >= s.promptPositions);
  const fresh = new ChatSession(model, { image: [IMAGE, second], history: a.history.slice(0, 2) });
  await reply(fresh, Q[1]!);
  assert.deepEqual(fresh.lastTurn!.tokenIds, a.lastTurn!.tokenIds);
  // The order matters: swapped images are different inputs (no cache reuse past the first image either).
  await a.setImage([second, IMAGE]);
  await reply(a, Q[0]!);
  assert.equal(a.lastTurn!.reusedPositions, s.promptIds.indexOf(-200));
  const swapped = greedyGenerate(model.model, { inputIds: s.promptIds, pixelValues: cat([pixels.narrow(0, 1, 1), pixels.narrow(0, 0, 1)], 0), maxNewTokens: 6, eosTokenIds: model.eosTokenIds });
  assert.deepEqual(a.lastTurn!.tokenIds, swapped.outputIds);
});

test('image placement errors and a bad history are refused with a clear message', async () => {
  await assert.rejects(async () => { for await (const _ of new ChatSession(model).send('look: <image>')) void _; }, /contains <image> but the session has no image/);
  const a = new ChatSession(model, { image: IMAGE });
  await reply(a, Q[0]!);
  await assert.rejects(async () => { for await (const _ of a.send('another <image>')) void _; }, /the prompt places 2 image\(s\) but the session has 1: only the first message places them/);
  assert.equal(a.history.length, 2);
  const missing = path.join(os.tmpdir(), 'no-such-image-for-chat.png');
  const b = new ChatSession(model, { image: IMAGE });
  await reply(b, Q[0]!);
  await assert.rejects(b.setImage(missing), /cannot read image .*no-such-image-for-chat\.png/);
  assert.deepEqual(b.history, [], 'setImage started a new conversation');
  await assert.rejects(async () => { for await (const _ of b.send(Q[0]!)) void _; }, /cannot read image .*no-such-image-for-chat\.png/);
  assert.throws(() => new ChatSession(model, { history: [{ role: 'user', content: 'hi' }] }), /must end with an assistant turn/);
  assert.throws(() => new ChatSession(model, { history: [{ role: 'assistant', content: 'hi' }, { role: 'user', content: 'x' }] }), /turn 0 should be a user turn/);
  await assert.rejects(async () => { for await (const _ of a.send('x', { maxNewTokens: 0 })) void _; }, /maxNewTokens must be a positive integer, got 0/);
  await assert.rejects(async () => { for await (const _ of a.send('x', { nextToken: () => -5 })) void _; }, /the token chooser returned -5, not a token id of this model \(0\.\.32063\)/);
  assert.equal(a.history.length, 2, 'a turn that produced no token leaves no trace');
  await reply(a, Q[1]!);
  assert.ok(a.lastTurn!.reusedPositions > 0, 'the cache is still usable after the failed turn');
});

// A copy of the tiny model whose decoder has 128 positions (the weights are linked, config.json edited).
const small = mkdtempSync(path.join(os.tmpdir(), 'llava-chat-'));
after(() => rmSync(small, { recursive: true, force: true }));
for (const f of readdirSync(ASSET)) if (f !== 'config.json') symlinkSync(path.join(ASSET, f), path.join(small, f));
const cfg = JSON.parse(readFileSync(path.join(ASSET, 'config.json'), 'utf8')) as { text_config: Record<string, unknown> };
cfg.text_config.max_position_embeddings = 128;
writeFileSync(path.join(small, 'config.json'), JSON.stringify(cfg));
const smallModel = loadChatModel(small);
const CONTEXT = 128;

test('context overflow drops the oldest turns after the first, with a notice; the result equals a fresh session\'s', async () => {
  const notices: ChatNotice[] = [];
  const a = new ChatSession(smallModel, { image: IMAGE, template: 'llava_v1', onNotice: (n) => notices.push(n) });
  assert.equal(a.contextLength, CONTEXT);
  let turn = 0;
  let before = a.history;
  while (notices.length === 0) {
    assert.ok(turn < Q.length, 'the conversation never reached the context');
    before = a.history;
    await reply(a, Q[turn++]!);
    assert.ok(a.lastTurn!.promptPositions + 6 <= CONTEXT);
  }
  const s = a.lastTurn!;
  assert.equal(notices.length, 1);
  assert.equal(notices[0]!.kind, 'context-overflow');
  assert.equal(notices[0]!.droppedTurns, s.droppedTurns);
  assert.match(notices[0]!.message, /context of 128 positions.*dropped/);
  assert.ok(s.droppedTurns >= 1);
  // The first (image) turn stays; the oldest ones after it are gone; the rest is unchanged.
  const kept = [...before.slice(0, 2), ...before.slice(2 + 2 * s.droppedTurns)];
  assert.deepEqual(a.history.slice(0, -2), kept);
  assert.ok(s.prompt.startsWith(`${SYSTEM} USER: <image>\n${Q[0]} ASSISTANT:`));
  assert.ok(!s.prompt.includes(`USER: ${Q[1]} ASSISTANT:`));
  assert.ok(s.reusedPositions > 0 && s.reusedPositions < s.promptPositions);
  const fresh = new ChatSession(smallModel, { image: IMAGE, template: 'llava_v1', history: kept });
  await reply(fresh, Q[turn - 1]!);
  assert.equal(fresh.lastTurn!.prompt, s.prompt);
  assert.deepEqual(fresh.lastTurn!.tokenIds, s.tokenIds);
});

test('a first turn that does not fit is an error naming the sizes; a default maxNewTokens shrinks instead', async () => {
  const a = new ChatSession(smallModel, { image: IMAGE, template: 'llava_v1' });
  const long = 'word '.repeat(90);
  await assert.rejects(async () => { for await (const _ of a.send(long, { maxNewTokens: 6 })) void _; },
    /does not fit the model's context of 128 positions: the first message alone take \d+ positions \(16 of them for the image\), plus 6 new tokens/);
  assert.deepEqual(a.history, []);
  await reply(a, Q[0]!);
  await assert.rejects(async () => { for await (const _ of a.send(long, { maxNewTokens: 6 })) void _; },
    /the first turn and the new message alone take \d+ positions .*plus 6 new tokens/);
  assert.equal(a.history.length, 2);
  // 100 new tokens do not fit after the first turn either: refused when asked for explicitly …
  await assert.rejects(async () => { for await (const _ of a.send(Q[1]!, { maxNewTokens: 100 })) void _; }, /plus 100 new tokens/);
  // … while the default (512) takes what the context leaves.
  const pieces: ChatPiece[] = [];
  for await (const p of a.send(Q[1]!)) pieces.push(p);
  const s = a.lastTurn!;
  assert.equal(s.maxNewTokens, CONTEXT - s.promptPositions);
  assert.ok(s.tokenIds.length <= s.maxNewTokens);
});

test('KVCache.truncate and resized: the kept prefix survives a move to a larger buffer; bad sizes are refused', () => {
  for (const dtype of ['f32', 'f16'] as const) {
    const cache = new KVCache({ layers: 2, batch: 1, kvHeads: 1, headDim: 2, maxLength: 3, dtype });
    const k = tensor([[[[1, 2], [3, 4]]]]);
    const v = tensor([[[[-1, -2], [0.5, 8]]]]);
    for (const layer of [0, 1]) cache.write(layer, k, v);
    cache.advance(2);
    const big = cache.resized(6);
    assert.equal(big.maxLength, 6);
    assert.equal(big.length, 2);
    assert.equal(big.dtype, dtype);
    const { k: k1, v: v1 } = big.read(1, 0);
    assert.deepEqual(k1.toArray(), [1, 2, 3, 4]);
    assert.deepEqual(v1.toArray(), [-1, -2, 0.5, 8]);
    big.truncate(1);
    assert.equal(big.length, 1);
    big.write(0, tensor([[[[9, 9]]]]), tensor([[[[7, 7]]]]));
    big.write(1, tensor([[[[9, 9]]]]), tensor([[[[7, 7]]]]));
    big.advance(1);
    assert.deepEqual(big.read(0, 0).k.toArray(), [1, 2, 9, 9]);
    assert.throws(() => big.truncate(3), /KVCache: cannot truncate to 3 positions \(it holds 2\)/);
    assert.throws(() => big.truncate(-1), /cannot truncate to -1/);
    assert.throws(() => big.resized(1), /KVCache: cannot resize to 1 positions \(it holds 2\)/);
    // The original is untouched by the copy's writes.
    assert.deepEqual(cache.read(0, 0).k.toArray(), [1, 2, 3, 4]);
  }
});

test('sampling options: a seed reproduces a reply, another seed changes it; none given means greedy', async () => {
  const ids = async (opts: SendOptions) => (await reply(new ChatSession(model, { image: gradient() }), 'Describe it.', { maxNewTokens: 6, ...opts })).pieces.map((p) => p.tokenId);
  const sampling = { temperature: 1, topK: 1000, topP: 0.99 };
  const a = await ids({ ...sampling, seed: 11 });
  assert.deepEqual(await ids({ ...sampling, seed: 11 }), a);
  assert.notDeepEqual(await ids({ ...sampling, seed: 12 }), a);
  assert.deepEqual(await ids({ temperature: 0 }), await ids({}));
  await assert.rejects(ids({ topP: 2 }), /top/i);
});
