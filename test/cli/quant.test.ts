/**
 * `--quant q8_0|q4_0` end to end, in real processes: `llava run` prints the ids that the API gives for the
 * same folder loaded with `quant` (and, on the demo model, ids that differ from the float model's, so the flag
 * reached the loader); `llava chat` replies as a ChatSession over `loadChatModel(dir, { quant })`; a bad
 * type is one sentence naming the flag. Also `loadModel(dir, { quant })`: the worker loads it quantized.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import '../../src/index.js';
import { generate, loadModel } from '../../src/generate/client.js';
import { ChatSession, loadChatModel } from '../../src/generate/chat.js';
import { greedyGenerate } from '../../src/models/llava/greedy.js';
import { loadLlava } from '../../src/models/llava/load.js';
import { fixtureExpected, ROOT } from '../helpers/tiny-llava.js';

const MAIN = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
const ASSET = path.join(ROOT, 'assets', 'tiny-llava-1.5-hf');
const IMAGE = path.join(ASSET, 'image.png');
const expected = fixtureExpected();
const COMPACT: number[] = expected.json.input_ids_compact;
/** A longer reply than the fixture's 5 golden tokens, so that q4_0 has room to differ from float. */
const N = 24;

function cli(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [MAIN, ...args], { input, encoding: 'utf8', timeout: 60_000, env: { ...process.env, LLAVA_QUIET: '1' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function apiIds(quant: 'q8_0' | 'q4_0' | undefined): number[] {
  const m = loadLlava(ASSET, { quant }).model;
  return greedyGenerate(m, { inputIds: COMPACT, pixelValues: expected.tensor('pixel_values'), maxNewTokens: N, eosTokenIds: [] }).outputIds;
}

test('llava run --quant: the API\'s quantized tokens (q4_0 differs from float on the demo model)', () => {
  const float = apiIds(undefined);
  for (const quant of ['q8_0', 'q4_0'] as const) {
    // The reply may end early at EOS: compared with the API's ids (generated without EOS) up to its length.
    const r = cli(['run', '--model', ASSET, '--image', IMAGE, '--input-ids', COMPACT.join(','), '--temperature', '0',
      '--max-new-tokens', String(N), '--json', '--quant', quant]);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { output_ids: number[] };
    const want = apiIds(quant);
    assert.deepEqual(out.output_ids, want.slice(0, out.output_ids.length), quant);
    assert.ok(out.output_ids.length > 0);
    if (quant === 'q4_0') assert.notDeepEqual(want, float, 'q4_0 should change the demo model\'s greedy reply');
  }
});

test('llava chat --quant: replies equal a ChatSession over the quantized model', async () => {
  const r = cli(['chat', '--temperature', '0', '--max-new-tokens', '8', '--quant', 'q4_0'], 'What is in this image?\n');
  assert.equal(r.status, 0, r.stderr);
  const s = new ChatSession(loadChatModel(ASSET, { quant: 'q4_0' }), { image: IMAGE });
  for await (const piece of s.send('What is in this image?', { maxNewTokens: 8 })) void piece;
  assert.equal(r.stdout, `${s.history.at(-1)!.content}\n`);
});

test('a bad --quant is one sentence naming the flag (run and chat)', () => {
  for (const args of [['run', '--prompt', 'hi'], ['chat']]) {
    const cmd = args[0];
    const r = cli([...args, '--quant', 'q3_0'], '');
    assert.equal(r.status, 1, cmd);
    assert.match(r.stderr, /^llava: --quant must be q8_0 or q4_0, got "q3_0"\n$/, cmd);
  }
});

test('loadModel({ quant }): the worker runs the quantized model', async () => {
  await assert.rejects(loadModel(ASSET, { quant: 'q2' as 'q8_0' }), /loadModel: quant must be q8_0 or q4_0, got "q2"/);
  const model = await loadModel(ASSET, { quant: 'q4_0' });
  try {
    assert.equal(model.info.quant, 'q4_0');
    const ids: number[] = [];
    for await (const p of generate(model, { inputIds: COMPACT, images: [IMAGE], temperature: 0, maxNewTokens: N })) ids.push(p.tokenId);
    const want = apiIds('q4_0');
    assert.deepEqual(ids, want.slice(0, ids.length));
    assert.ok(ids.length > 0);
  } finally {
    await model.close();
  }
});
