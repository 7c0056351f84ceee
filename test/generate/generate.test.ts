/**
 * `generate()` through the worker thread on the tiny LLaVA folder (assets/tiny-llava-1.5-hf = the golden
 * fixture's weights plus the LLaMA tokenizer): greedy tokens equal the fixture's golden ones for its compact
 * input ids and image (given as a path, a Buffer and a decoded image), streamed text joins to the full decode,
 * seeds reproduce, stop strings end the reply without leaking, an explicit maxNewTokens beyond the context is
 * refused, and cancellation (AbortSignal during the prefill or the decode, or leaving the loop early) stops
 * the worker with the next generation equal to a fresh one. Also: the worker runs the native backend when
 * the addon loads here (N-API addon loaded in a second context).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { nativeBackendIfLoaded } from '../../src/backends/index.js';
import { generate, loadModel, type GenerateOptions, type Model, type Piece } from '../../src/generate/index.js';
import { loadTokenizer } from '../../src/tokenizer/index.js';
import { decodeImage } from '../../src/vision/index.js';
import { fixtureExpected, ROOT } from '../helpers/tiny-llava.js';

const DIR = path.join(ROOT, 'assets', 'tiny-llava-1.5-hf');
const IMAGE = path.join(DIR, 'image.png');
const expected = fixtureExpected().json;
const COMPACT: number[] = expected.input_ids_compact;
const GOLDEN: number[] = expected.greedy.tokens;
const tok = loadTokenizer(DIR);

let model: Model;
before(async () => { model = await loadModel(DIR); });
after(() => model.close());

async function collect(opts: GenerateOptions): Promise<Piece[]> {
  const out: Piece[] = [];
  for await (const p of generate(model, opts)) out.push(p);
  return out;
}

const greedy: GenerateOptions = { inputIds: COMPACT, images: [IMAGE], temperature: 0, maxNewTokens: 5 };

test('the worker loaded the folder, on the native backend when the addon loads in this process', () => {
  assert.equal(model.info.contextLength, 256);
  assert.deepEqual(model.info.eosTokenIds, [2]);
  if (nativeBackendIfLoaded && process.env.LLAVA_BACKEND !== 'ts') assert.match(model.info.backend, /^native/);
});

test('greedy generate() equals the golden tokens, for a path, a Buffer and a decoded image', async () => {
  const decoded = await decodeImage(IMAGE);
  for (const image of [IMAGE, readFileSync(IMAGE), decoded]) {
    const pieces = await collect({ ...greedy, images: [image] });
    assert.deepEqual(pieces.map((p) => p.tokenId), GOLDEN);
    assert.equal(pieces.map((p) => p.text).join(''), tok.decode(GOLDEN, { skipSpecialTokens: true }));
  }
});

test('two images in one prompt, in order', async () => {
  const decoded = await decodeImage(IMAGE);
  const pieces = await collect({ prompt: 'Compare <image> with <image>.', images: [IMAGE, decoded], temperature: 0, maxNewTokens: 2 });
  assert.equal(pieces.length, 2);
  await assert.rejects(collect({ prompt: 'Only <image>.', images: [IMAGE, IMAGE], temperature: 0, maxNewTokens: 1 }), /image/);
});

test('sampled text streams to exactly the full decode; a seed reproduces, another differs', async () => {
  const opts: GenerateOptions = { prompt: 'Describe the image.', images: [IMAGE], temperature: 1, topK: 0, seed: 11, maxNewTokens: 40 };
  const a = await collect(opts);
  const ids = a.map((p) => p.tokenId);
  assert.equal(ids.length, 40);
  assert.equal(a.map((p) => p.text).join(''), tok.decode(ids, { skipSpecialTokens: true }));
  assert.deepEqual((await collect(opts)).map((p) => p.tokenId), ids);
  assert.notDeepEqual((await collect({ ...opts, seed: 12 })).map((p) => p.tokenId), ids);
});

test('prefill progress runs layer by layer through the tower and the decoder', async () => {
  const seen: string[] = [];
  await collect({ ...greedy, maxNewTokens: 1, onPrefillProgress: (p) => seen.push(`${p.stage} ${p.layer}/${p.layers} ${p.fraction}`) });
  assert.deepEqual(seen, ['vision 1/2 0.25', 'vision 2/2 0.5', 'language 1/2 0.75', 'language 2/2 1']);
});

test('stop strings end the reply and never appear, also split across tokens', async () => {
  // Golden reply: "Call" " graphics" " thousands"…; "ll gr" spans the first two tokens.
  const pieces = await collect({ ...greedy, stop: ['ll gr'] });
  assert.deepEqual(pieces, [{ text: 'Ca', tokenId: GOLDEN[0] }, { text: '', tokenId: GOLDEN[1] }]);
  const later = await collect({ ...greedy, stop: ['zzz', 'aphics thou'] });
  assert.equal(later.map((p) => p.text).join(''), 'Call gr');
  assert.equal(later.length, 3);
});

test('maxNewTokens beyond the context is refused with the numbers', async () => {
  await assert.rejects(collect({ ...greedy, maxNewTokens: 300 }), /maxNewTokens 300 does not fit: the prompt takes 27 of the model's 256 positions .* room for 229/);
  await assert.rejects(collect({ ...greedy, inputIds: new Array(300).fill(5), images: [] }), /the prompt takes 300 positions .* context is 256/);
});

test('contextLength sizes the context: the same tokens when it fits, errors naming it when it does not', async () => {
  assert.deepEqual((await collect({ ...greedy, contextLength: 40 })).map((p) => p.tokenId), GOLDEN);
  await assert.rejects(collect({ ...greedy, contextLength: 30 }), /maxNewTokens 5 does not fit: the prompt takes 27 of the requested 30 positions \(contextLength\), leaving room for 3/);
  await assert.rejects(collect({ ...greedy, contextLength: 20 }), /the prompt takes 27 positions .* requested context is 20 \(contextLength\)/);
  await assert.rejects(collect({ ...greedy, contextLength: 257 }), /contextLength must be an integer from 1 to the model's max_position_embeddings 256, got 257/);
  // Without maxNewTokens the default budget shrinks to the requested context.
  assert.equal((await collect({ ...greedy, maxNewTokens: undefined, contextLength: 30 })).length <= 3, true);
});

test('abort during the prefill, during decoding, or leaving the loop: the next generation equals a fresh one', async () => {
  const during = new AbortController();
  await assert.rejects(collect({ ...greedy, signal: during.signal, onPrefillProgress: () => during.abort() }), { name: 'AbortError' });

  const decoding = new AbortController();
  const got: number[] = [];
  await assert.rejects((async () => {
    for await (const p of generate(model, { ...greedy, maxNewTokens: 200, signal: decoding.signal })) {
      got.push(p.tokenId);
      if (got.length === 2) decoding.abort(new Error('user stop'));
    }
  })(), /user stop/);
  assert.ok(got.length >= 2 && got.length < 200, `stopped after ${got.length} tokens`);

  const already = new AbortController();
  already.abort();
  await assert.rejects(collect({ ...greedy, signal: already.signal }), { name: 'AbortError' });

  for await (const p of generate(model, { ...greedy, maxNewTokens: 200 })) if (p.tokenId === GOLDEN[1]) break;

  assert.deepEqual((await collect(greedy)).map((p) => p.tokenId), GOLDEN);
});

test('bad options are refused with one sentence', async () => {
  await assert.rejects(collect({ ...greedy, topP: 2 }), /topP must be a number in \(0, 1\]/);
  await assert.rejects(collect({ ...greedy, prompt: 'x' }), /exactly one of prompt, messages and inputIds/);
  await assert.rejects(collect({ ...greedy, images: [] }), /image/);
  await assert.rejects(loadModel(path.join(ROOT, 'no-such-model')), /does not exist/);
});
