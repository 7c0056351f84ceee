/**
 * Batched (left-padded) LLaVA against the single-sequence path on the tiny llava-hf fixture, on every
 * available backend: a batch of prompts of different merged lengths (one image, none, two different
 * images, an already-expanded image) gives each row the greedy tokens of its own unbatched run, and
 * the logits of every real position (prefill and decode steps) within 1e-5 of the unbatched ones.
 * Pads never change a real row (garbage pad vectors and pad positions give bit-identical logits), rows
 * stop at EOS independently, and the mask → position rule is checked on hand-derived values.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { availableBackends, cat, mul, narrow, noGrad, randn, tensor, withBackend, type Tensor } from '../../../src/index.js';
import { positionsFromMask } from '../../../src/models/llama/model.js';
import { greedyGenerate } from '../../../src/models/llava/greedy.js';
import { greedyGenerateBatch, type BatchPrompt } from '../../../src/models/llava/greedy-batch.js';
import { loadLlava } from '../../../src/models/llava/load.js';
import { leftPadding } from '../../../src/models/llava/merge.js';
import { fixtureExpected, FIXTURE, maxAbsDiff } from '../../helpers/tiny-llava.js';

const expected = fixtureExpected();
const compact: number[] = expected.json.input_ids_compact; // 12 ids, one image → 27 merged positions
const expandedIds: number[] = expected.json.input_ids; // 27 ids, 16 of them the expanded image
const golden: number[] = expected.json.greedy.tokens;
const model = loadLlava(FIXTURE).model;
const image = expected.tensor('pixel_values'); // (1, 3, 16, 16)
const other = randn([1, 3, 16, 16], { seed: 77 }); // a second, different image

const prompts: BatchPrompt[] = [
  { inputIds: compact, pixelValues: image },
  { inputIds: [1, 3148, 1001, 29901, 22933, 9047], pixelValues: null }, // text only: 6 positions
  { inputIds: [1, 3148, 32000, 29871, 32000, 13, 22933, 29901], pixelValues: cat([other, image], 0) }, // 6 + 32 = 38
  { inputIds: expandedIds, pixelValues: other },
];
const MERGED = [27, 6, 38, 27];

const single = (p: BatchPrompt, n: number, eos?: number[]) =>
  greedyGenerate(model, { inputIds: p.inputIds, pixelValues: p.pixelValues, maxNewTokens: n, eosTokenIds: eos, allPrefillLogits: true });

/** Row b's real columns [pad, L) of a [B, L, V] tensor as [1, L − pad, V]. */
function realColumns(t: Tensor, b: number, pad: number): Tensor {
  const L = t.shape[1]!;
  return narrow(narrow(t, 0, b, 1), 1, pad, L - pad);
}

for (const backend of availableBackends()) {
  test(`${backend}: batched greedy tokens equal each prompt's unbatched run (lengths ${MERGED.join(', ')}; images 1, 0, 2, 1)`, () => {
    withBackend(backend, () => {
      const batch = greedyGenerateBatch(model, { prompts, maxNewTokens: 6, allPrefillLogits: true });
      assert.deepEqual(batch.attentionMask.shape, [4, 38]);
      assert.deepEqual(batch.attentionMask.toArray().filter((m) => m === 1).length, MERGED.reduce((a, b) => a + b));
      const runs = prompts.map((p) => single(p, 6));
      const want = runs.map((r) => r.outputIds);
      assert.deepEqual(batch.outputIds, want);
      // The images of all rows went through the tower in one call; the prefill still matches row by row.
      runs.forEach((r, b) => {
        const d = maxAbsDiff(realColumns(batch.prefillLogits, b, 38 - MERGED[b]!), r.prefillLogits);
        assert.ok(d <= 1e-5, `row ${b} prefill logits: max abs diff ${d}`);
      });
      assert.deepEqual(batch.outputIds[0]!.slice(0, 5), golden, 'row 0 is the fixture prompt: the reference tokens');
      // The two single-image rows differ only by their image: a check that images reach their own rows.
      assert.notDeepEqual(want[0], want[3]);
    });
  });

  test(`${backend}: logits of every real position equal the unbatched ones within 1e-5 (prefill and 3 decode steps)`, (t) => {
    withBackend(backend, () => noGrad(() => {
      const feats = prompts.map((p) => (p.pixelValues ? model.imageFeatures(p.pixelValues).projected : null));
      const batch = model.inputsEmbedsBatch(prompts.map((p, b) => ({ ids: p.inputIds, projected: feats[b]! })));
      assert.deepEqual(batch.lengths, MERGED);
      const { pads, mask } = leftPadding(batch.lengths);
      const lm = model.languageModel;
      const cache = lm.newCache(48, { batch: 4 });
      const pre = lm.forward(batch.inputsEmbeds, { cache, attentionMask: batch.attentionMask, logits: 'all' }).logits!;
      const caches = prompts.map(() => lm.newCache(48));
      const singles = prompts.map((p, b) => lm.forward(model.inputsEmbeds(p.inputIds, feats[b]!), { cache: caches[b]!, logits: 'all' }).logits!);
      let worst = 0;
      prompts.forEach((_, b) => {
        const d = maxAbsDiff(realColumns(pre, b, pads[b]!), singles[b]!);
        worst = Math.max(worst, d);
        assert.ok(d <= 1e-5, `row ${b} prefill: max abs diff ${d}`);
      });
      // Decode steps feed arbitrary (different) tokens per row through both caches.
      const feeds = [[5, 100, 2000, 31000], [29901, 13, 8251, 1], [17202, 17202, 3, 32063]];
      for (const [s, feed] of feeds.entries()) {
        mask.forEach((row) => row.push(1));
        const x = lm.embed(tensor(feed.map((id) => [id]), { dtype: 'i32' }));
        const got = lm.forward(x, { cache, attentionMask: tensor(mask, { dtype: 'bool' }), logits: 'last' }).logits!; // (4, 1, V)
        feed.forEach((id, b) => {
          const want = lm.forward(lm.embed(tensor([[id]], { dtype: 'i32' })), { cache: caches[b]!, logits: 'last' }).logits!;
          const d = maxAbsDiff(narrow(got, 0, b, 1), want);
          worst = Math.max(worst, d);
          assert.ok(d <= 1e-5, `row ${b} decode step ${s + 1}: max abs diff ${d}`);
        });
      }
      t.diagnostic(`${backend}: worst real-position logit diff ${worst.toExponential(2)}`);
    }));
  });

  test(`${backend}: pads never change real rows (garbage pad vectors and pad positions give identical logits)`, () => {
    withBackend(backend, () => noGrad(() => {
      const lm = model.languageModel;
      const feats = prompts.map((p) => (p.pixelValues ? model.imageFeatures(p.pixelValues).projected : null));
      const rows = prompts.map((p, b) => model.inputsEmbeds(p.inputIds, feats[b]!)); // each (1, L_b, D)
      const { pads, width } = leftPadding(rows.map((r) => r.shape[1]!));
      const D = model.config.text.hiddenSize;
      const batch = model.inputsEmbedsBatch(prompts.map((p, b) => ({ ids: p.inputIds, projected: feats[b]! })));
      const clean = lm.forward(batch.inputsEmbeds, { attentionMask: batch.attentionMask, logits: 'all' }).logits!;
      // Large random pad vectors instead of zeros, and pad positions 7 instead of HF's 1.
      const noisy = cat(rows.map((r, b) => (pads[b] ? cat([mul(randn([1, pads[b]!, D], { seed: 10 + b }), 1000), r], 1) : r)), 0);
      const pos = tensor(pads.map((p) => Array.from({ length: width }, (_, j) => (j < p ? 7 : j - p))), { dtype: 'i32' });
      const dirty = lm.forward(noisy, { attentionMask: batch.attentionMask, positionIds: pos, logits: 'all' }).logits!;
      pads.forEach((p, b) => assert.equal(maxAbsDiff(realColumns(dirty, b, p), realColumns(clean, b, p)), 0, `row ${b}`));
      // The default positions are the mask's (real tokens from 0 in every row): column indices instead
      // shift a padded row's rotary angles, which RoPE's relative form hides only up to rounding.
      const columns = tensor(pads.map(() => Array.from({ length: width }, (_, j) => j)), { dtype: 'i32' });
      const shifted = lm.forward(batch.inputsEmbeds, { attentionMask: batch.attentionMask, positionIds: columns, logits: 'all' }).logits!;
      assert.ok(maxAbsDiff(realColumns(shifted, 1, pads[1]!), realColumns(clean, 1, pads[1]!)) > 0, 'positions must come from the mask');
      // A batch of one without pads is the single-sequence forward, bit for bit.
      const one = model.inputsEmbedsBatch([{ ids: compact, projected: feats[0]! }]);
      const alone = lm.forward(one.inputsEmbeds, { attentionMask: one.attentionMask, logits: 'all' }).logits!;
      assert.equal(maxAbsDiff(alone, lm.forward(rows[0]!, { logits: 'all' }).logits!), 0);
    }));
  });
}

test('rows finish at EOS independently; the others go on as their unbatched runs', () => {
  // Row 0 produces 18533 as its 2nd token (the fixture's greedy sequence); make it an EOS.
  const eos = [2, 18533];
  const batch = greedyGenerateBatch(model, { prompts, maxNewTokens: 6, eosTokenIds: eos, padTokenId: 0 });
  assert.deepEqual(batch.outputIds[0], golden.slice(0, 2));
  assert.deepEqual(batch.outputIds, prompts.map((p) => single(p, 6, eos).outputIds));
  assert.ok(batch.outputIds.some((o) => o.length === 6), 'some row must keep decoding after row 0 stopped');
  // Whatever finished rows are fed does not matter.
  assert.deepEqual(greedyGenerateBatch(model, { prompts, maxNewTokens: 6, eosTokenIds: eos, padTokenId: 31999 }).outputIds, batch.outputIds);
});

test('mixed text-only and image prompts, batch of text-only prompts, max new tokens 0, f16 cache', () => {
  const text = [prompts[1]!, { inputIds: [1, 22933, 9047, 13566, 29901, 29871, 13, 3148, 1001], pixelValues: null }];
  assert.deepEqual(greedyGenerateBatch(model, { prompts: text, maxNewTokens: 4 }).outputIds, text.map((p) => single(p, 4).outputIds));
  const mixed = [text[1]!, prompts[0]!];
  assert.deepEqual(greedyGenerateBatch(model, { prompts: mixed, maxNewTokens: 4 }).outputIds, mixed.map((p) => single(p, 4).outputIds));
  assert.deepEqual(greedyGenerateBatch(model, { prompts: mixed, maxNewTokens: 0 }).outputIds, [[], []]);
  // An f16 cache rounds keys and values the same way batched or not.
  const f16 = (p: BatchPrompt) => greedyGenerate(model, { inputIds: p.inputIds, pixelValues: p.pixelValues, maxNewTokens: 4, cacheDtype: 'f16' }).outputIds;
  assert.deepEqual(greedyGenerateBatch(model, { prompts: mixed, maxNewTokens: 4, cacheDtype: 'f16' }).outputIds, mixed.map(f16));
});

test('batch errors name the row problem', () => {
  assert.throws(() => greedyGenerateBatch(model, { prompts: [], maxNewTokens: 2 }), /at least one sequence/);
  assert.throws(() => greedyGenerateBatch(model, { prompts: [{ inputIds: [1, 2], pixelValues: image }], maxNewTokens: 2 }),
    /stand for 0 image\(s\) but 1 image\(s\) were given/);
  assert.throws(() => greedyGenerateBatch(model, { prompts: [prompts[1]!, { inputIds: [], pixelValues: null }], maxNewTokens: 2 }),
    /sequence 1 has no input ids/);
  assert.throws(() => greedyGenerateBatch(model, { prompts, maxNewTokens: -1 }), /max new tokens must be a non-negative integer/);
  assert.throws(() => greedyGenerateBatch(model, { prompts, maxNewTokens: 1, padTokenId: 32064 }), /pad token id 32064 is not a token id/);
  const lm = model.languageModel;
  const x = lm.embed(tensor([[1, 2, 3]], { dtype: 'i32' }));
  assert.throws(() => lm.forward(x, { attentionMask: tensor([[1, 1]], { dtype: 'bool' }) }), /attention mask must be bool \[1, 3\].*got bool \[1, 2\]/);
  assert.throws(() => lm.forward(x, { attentionMask: tensor([[1, 1, 1]], { dtype: 'i32' }) }), /attention mask must be bool/);
  assert.throws(() => lm.forward(x, { positionIds: tensor([0, 1, 2], { dtype: 'i32' }) }), /position ids must be i32 \[1, 3\]/);
});

test('left padding and mask → positions on hand-derived values', () => {
  assert.deepEqual(leftPadding([3, 1, 2]), { width: 3, pads: [0, 2, 1], mask: [[1, 1, 1], [0, 0, 1], [0, 1, 1]] });
  assert.throws(() => leftPadding([2, 0]), /sequence 1 has length 0/);
  const mask = tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1], [0, 1, 1, 1, 1]], { dtype: 'bool' });
  // Real tokens count from 0 within their row; pads sit at 1 (HF generate).
  assert.deepEqual(positionsFromMask(mask, 5).toArray(), [1, 1, 0, 1, 2, 0, 1, 2, 3, 4, 1, 0, 1, 2, 3]);
  assert.deepEqual(positionsFromMask(mask, 1).toArray(), [2, 4, 3]);
  assert.deepEqual(positionsFromMask(mask, 1).shape, [3, 1]);
});
