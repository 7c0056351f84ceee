/**
 * The public, worker-backed ChatSession (loadModel + new ChatSession(model, …)) on the embedded tiny model:
 * its replies and history equal the in-thread session's turn for turn; an abort mid-reply keeps the partial
 * turn and the next turn equals a fresh session given that history; setImage/reset reach the worker in
 * order; a failed opening (unreadable image) surfaces at the next operation; sampling options reproduce;
 * imageMode (pad/crop) and optionNames reach the worker's session; ready(), contextLength, and lastTurn's
 * identity (kept until another reply finishes, as in-thread).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, test } from 'node:test';
import { ChatSession, loadModel, type ChatPiece } from '../../src/index.js';
import { loadChatModel } from '../../src/generate/chat-model.js';
import { ChatSession as LocalChatSession } from '../../src/generate/chat.js';
import { ROOT } from '../helpers/tiny-llava.js';

const ASSET = path.join(ROOT, 'assets', 'tiny-llava-1.5-hf');
const IMAGE = path.join(ASSET, 'image.png');
const model = await loadModel(ASSET);
const local = loadChatModel(ASSET);
after(() => model.close());

async function ids(it: AsyncIterable<ChatPiece>): Promise<number[]> {
  const out: number[] = [];
  for await (const p of it) out.push(p.tokenId);
  return out;
}

test('worker-backed session = in-thread session, turn for turn (tokens and history)', async () => {
  const remote = new ChatSession(model, { image: IMAGE });
  const inThread = new LocalChatSession(local, { image: IMAGE });
  for (const q of ['What is in this image?', 'And then?', 'Why?']) {
    assert.deepEqual(await ids(remote.send(q, { maxNewTokens: 5 })), await ids(inThread.send(q, { maxNewTokens: 5 })));
    assert.deepEqual(remote.history, inThread.history);
  }
  assert.equal(remote.history.length, 6);
  assert.ok(remote.lastTurn && remote.lastTurn.tokenIds.length > 0);
  await remote.reset();
  assert.deepEqual(remote.history, []);
  await remote.close();
});

test('an abort mid-reply keeps the partial turn; the next turn equals a fresh session with that history', async () => {
  const chat = new ChatSession(model, { image: IMAGE });
  const controller = new AbortController();
  const got: number[] = [];
  try {
    for await (const p of chat.send('What is in this image?', { maxNewTokens: 40, signal: controller.signal })) {
      got.push(p.tokenId);
      if (got.length === 2) controller.abort();
    }
  } catch (e) {
    assert.equal((e as Error).name, 'AbortError');
  }
  assert.ok(got.length >= 2 && got.length < 40, `${got.length} pieces`);
  const history = chat.history;
  assert.equal(history.length, 2);
  const next = await ids(chat.send('Go on.', { maxNewTokens: 5 }));
  const fresh = new ChatSession(model, { image: IMAGE, history });
  assert.deepEqual(await ids(fresh.send('Go on.', { maxNewTokens: 5 })), next);
});

test('setImage starts a new conversation; a bad opening image is reported by the next operation', async () => {
  const chat = new ChatSession(model, { image: IMAGE });
  await ids(chat.send('Hi', { maxNewTokens: 2 }));
  assert.equal(chat.history.length, 2);
  await chat.setImage(IMAGE);
  assert.deepEqual(chat.history, []);
  const bad = new ChatSession(model, { image: path.join(ASSET, 'no-such.png') });
  await assert.rejects(ids(bad.send('Hi', { maxNewTokens: 2 })), /no-such\.png/);
});

test('sampling options: the same seed reproduces a reply through the worker', async () => {
  const run = async (seed: number) => ids(new ChatSession(model, { image: IMAGE }).send('Hi', { maxNewTokens: 6, temperature: 1, topK: 1000, seed }));
  const a = await run(3);
  assert.deepEqual(await run(3), a);
  assert.notDeepEqual(await run(4), a);
});

test('prefill progress reaches the caller once per decoder layer', async () => {
  const layers: number[] = [];
  await ids(new ChatSession(model, { image: IMAGE }).send('Hi', { maxNewTokens: 1, onPrefillProgress: (p) => layers.push(p.layer) }));
  assert.deepEqual(layers, [1, 2]); // the tiny model's two decoder layers
});

test('in-thread: an abort during the prefill leaves no trace and a consistent cache', async () => {
  // In-thread, so that the abort lands between two layers deterministically.
  const chat = new LocalChatSession(local, { image: IMAGE });
  assert.ok((await ids(chat.send('What is in this image?', { maxNewTokens: 3 }))).length > 0);
  const controller = new AbortController();
  const seen: number[] = [];
  const got = await ids(chat.send('Tell me more.', {
    maxNewTokens: 5, signal: controller.signal,
    onPrefillProgress: (p) => { seen.push(p.layer); if (p.layer === 1) controller.abort(); },
  }));
  assert.deepEqual(got, []);
  assert.deepEqual(seen, [1]);
  assert.equal(chat.history.length, 2); // the aborted turn left nothing
  const next = await ids(chat.send('Tell me more.', { maxNewTokens: 5 }));
  const fresh = new LocalChatSession(local, { image: IMAGE, history: chat.history.slice(0, 2) });
  assert.deepEqual(await ids(fresh.send('Tell me more.', { maxNewTokens: 5 })), next);
});

/** A 20×12 RGB gradient (not square, so padding and cropping see different pixels). */
function wide(): { width: number; height: number; data: Uint8Array } {
  const width = 20;
  const height = 12;
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set([(i * 7) % 256, (i * 13) % 256, 255 - (i % 256)], i * 3);
  return { width, height, data };
}

test('imageMode reaches the worker\'s session: pad and crop each equal the in-thread session on a model loaded with that mode', async () => {
  const got: Record<string, number[]> = {};
  for (const mode of ['pad', 'crop'] as const) {
    const remote = await ids(new ChatSession(model, { image: wide(), imageMode: mode }).send('What is in this image?', { maxNewTokens: 12 }));
    const inThread = await ids(new LocalChatSession(loadChatModel(ASSET, { imageMode: mode }), { image: wide() }).send('What is in this image?', { maxNewTokens: 12 }));
    assert.deepEqual(remote, inThread, mode);
    got[mode] = remote;
  }
  assert.notDeepEqual(got.pad, got.crop);
  const bad = new ChatSession(model, { imageMode: 'square' as 'pad' });
  await assert.rejects(bad.ready(), /imageMode must be 'pad' or 'crop', got "square"/);
});

test('ready() and contextLength; the context error names maxNewTokens, or the name optionNames gives; lastTurn keeps its identity until a new turn', async () => {
  const chat = new ChatSession(model, { image: IMAGE });
  assert.equal(chat.contextLength, null);
  await chat.ready();
  assert.equal(chat.contextLength, 256); // the tiny model's max_position_embeddings
  await ids(chat.send('Hi', { maxNewTokens: 3 }));
  const first = chat.lastTurn;
  assert.ok(first && first.tokenIds.length === 3);
  await chat.reset();
  assert.equal(chat.lastTurn, first);
  await ids(chat.send('Hi', { maxNewTokens: 2 }));
  assert.notEqual(chat.lastTurn, first);
  assert.equal(chat.lastTurn!.tokenIds.length, 2);

  const tooMany = { maxNewTokens: 250 };
  await assert.rejects(ids(chat.send('Hi', tooMany)), /plus 250 new tokens; shorten the message or start a new conversation or lower maxNewTokens$/);
  const cli = new ChatSession(model, { image: IMAGE, optionNames: { maxNewTokens: '--max-new-tokens' } });
  await assert.rejects(ids(cli.send('Hi', tooMany)), /plus 250 new tokens; shorten the message or lower --max-new-tokens$/);
});
