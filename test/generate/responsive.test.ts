/**
 * The main thread stays responsive while the model's worker runs a long prefill: a 5 ms interval timer keeps
 * firing (largest gap measured) while the worker prefills ~900 positions on the ts backend (the tiny fixture
 * with its context raised to 4096 in a temporary copy of the folder; several seconds of compute). The
 * prefill must take ≥ 0.5 s for the measurement to mean anything (checked). Also: an abort raised during
 * that prefill ends it when the running layer ends (no further layer completes).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { generate, loadModel } from '../../src/generate/index.js';
import { ROOT } from '../helpers/tiny-llava.js';

const SRC = path.join(ROOT, 'assets', 'tiny-llava-1.5-hf');
const dir = mkdtempSync(path.join(os.tmpdir(), 'llava-long-'));
for (const f of readdirSync(SRC)) if (f !== 'config.json') symlinkSync(path.join(SRC, f), path.join(dir, f));
const config = JSON.parse(readFileSync(path.join(SRC, 'config.json'), 'utf8'));
config.text_config.max_position_embeddings = 4096;
writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
after(() => rmSync(dir, { recursive: true, force: true }));

const LONG = Array.from({ length: 900 }, (_, i) => 3 + ((i * 7919) % 31000));

test('a 5 ms timer keeps firing (max gap < 100 ms) during a ≥ 0.5 s prefill in the worker', async (t) => {
  const model = await loadModel(dir, { backend: 'ts' });
  try {
    let last = performance.now();
    let maxGap = 0;
    let ticks = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      ticks++;
    }, 5);
    const t0 = performance.now();
    let prefillEnd = 0;
    let tokens = 0;
    try {
      last = performance.now();
      for await (const p of generate(model, {
        inputIds: LONG, temperature: 0, maxNewTokens: 1,
        onPrefillProgress: (q) => { if (q.fraction === 1) prefillEnd = performance.now(); },
      })) if (Number.isInteger(p.tokenId)) tokens++;
    } finally {
      clearInterval(timer);
    }
    const prefillMs = prefillEnd - t0;
    t.diagnostic(`prefill of ${LONG.length} positions ${prefillMs.toFixed(0)} ms; ${ticks} ticks, max gap ${maxGap.toFixed(1)} ms`);
    assert.equal(tokens, 1);
    assert.ok(prefillMs >= 500, `the prefill took ${prefillMs.toFixed(0)} ms: too short to show anything`);
    assert.ok(maxGap < 100, `the main thread was blocked for ${maxGap.toFixed(1)} ms (${ticks} ticks in ${prefillMs.toFixed(0)} ms)`);
    assert.ok(ticks >= prefillMs / 5 / 4, `only ${ticks} ticks in ${prefillMs.toFixed(0)} ms`);
  } finally {
    await model.close();
  }
});

test('an abort during a long prefill ends it at the end of the running layer', async () => {
  const model = await loadModel(dir, { backend: 'ts' });
  try {
    const ac = new AbortController();
    let layersDone = 0;
    setTimeout(() => ac.abort(), 150); // inside the first decoder layer (each takes about a second on ts)
    await assert.rejects(collectAll(generate(model, {
      inputIds: LONG, temperature: 0, maxNewTokens: 1, signal: ac.signal, onPrefillProgress: () => { layersDone++; },
    })), { name: 'AbortError' });
    assert.equal(layersDone, 0, 'no layer completed after the abort');
  } finally {
    await model.close();
  }
});

async function collectAll<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}
