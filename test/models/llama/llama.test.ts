/**
 * LLaMA decoder properties on random tiny weights: grouped-query attention equals multi-head attention
 * with each kv head's weights repeated for its query heads; KV-cache decoding (prefill n−1, then 1)
 * equals the full forward, also token by token and with an f16 cache (to f16 rounding); tied and untied
 * heads; clear errors for bad inputs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cat, narrow, noGrad, tensor, type Tensor } from '../../../src/index.js';
import { MemoryWeightSource } from '../../../src/io/source.js';
import { LlamaForCausalLM } from '../../../src/models/llama/model.js';
import { assertClose } from '../../helpers/assert.js';
import { tinyLlamaConfig, tinyLlamaWeights, type TinyLlamaSpec } from '../../helpers/tiny-llama.js';

const GQA: TinyLlamaSpec = { vocab: 50, hidden: 32, inter: 48, layers: 2, heads: 4, kvHeads: 2, seed: 11 };
const IDS = [3, 17, 42, 8, 1, 29, 33];

function build(spec: TinyLlamaSpec, weights = tinyLlamaWeights(spec), head: Tensor | null = null): LlamaForCausalLM {
  const heads = head ? new MemoryWeightSource(new Map([['weight', head]])) : null;
  return LlamaForCausalLM.load(new MemoryWeightSource(weights), heads, tinyLlamaConfig(spec, { tie_word_embeddings: head === null }));
}

function fullLogits(m: LlamaForCausalLM, ids: number[]): Tensor {
  return noGrad(() => m.forward(m.embed(tensor([ids], { dtype: 'i32' })), { logits: 'all' }).logits!);
}

test('GQA equals MHA whose k/v projections repeat each kv head for its query heads', () => {
  const w = tinyLlamaWeights(GQA);
  const mha = new Map(w);
  const hd = GQA.hidden / GQA.heads;
  const groups = GQA.heads / GQA.kvHeads;
  for (let i = 0; i < GQA.layers; i++) {
    for (const p of ['k_proj', 'v_proj']) {
      const key = `layers.${i}.self_attn.${p}.weight`;
      const kv = w.get(key)!; // (Hkv·hd, D)
      // Query head h reads kv head floor(h / groups): rows of that head, repeated.
      const rows = Array.from({ length: GQA.heads }, (_, h) => narrow(kv, 0, Math.floor(h / groups) * hd, hd));
      mha.set(key, cat(rows, 0)); // (H·hd, D)
    }
  }
  const a = fullLogits(build(GQA, w), IDS);
  const b = fullLogits(build({ ...GQA, kvHeads: GQA.heads }, mha), IDS);
  assert.deepEqual(a.shape, [1, IDS.length, GQA.vocab]);
  assertClose(a, b, { atol: 1e-5, rtol: 1e-5 }, 'GQA vs repeated MHA');
  // And the kv heads matter: swapping them changes the result.
  const swapped = new Map(w);
  for (let i = 0; i < GQA.layers; i++) {
    const key = `layers.${i}.self_attn.k_proj.weight`;
    const kv = w.get(key)!;
    swapped.set(key, cat([narrow(kv, 0, hd, hd), narrow(kv, 0, 0, hd)], 0));
  }
  assert.throws(() => assertClose(fullLogits(build(GQA, swapped), IDS), a, { atol: 1e-3 }));
});

test('KV cache: prefill n−1 then decode 1 equals the full forward', () => {
  const m = build(GQA);
  const full = fullLogits(m, IDS);
  const n = IDS.length;
  noGrad(() => {
    const cache = m.newCache(n + 2);
    const pre = m.forward(m.embed(tensor([IDS.slice(0, n - 1)], { dtype: 'i32' })), { cache, logits: 'all' });
    assertClose(pre.logits!, narrow(full, 1, 0, n - 1), { atol: 1e-5, rtol: 1e-5 }, 'prefill');
    assert.equal(cache.length, n - 1);
    const step = m.forward(m.embed(tensor([[IDS[n - 1]!]], { dtype: 'i32' })), { cache });
    assert.deepEqual(step.logits!.shape, [1, 1, GQA.vocab]);
    assertClose(step.logits!, narrow(full, 1, n - 1, 1), { atol: 1e-5, rtol: 1e-5 }, 'decode step');
    assert.equal(cache.length, n);
  });
});

test('KV cache: token-by-token decoding from position 0, f32 and f16 caches', () => {
  const m = build(GQA);
  const full = fullLogits(m, IDS);
  for (const [dtype, tol] of [['f32', 1e-5], ['f16', 5e-3]] as const) {
    noGrad(() => {
      const cache = m.newCache(IDS.length, { dtype });
      IDS.forEach((id, i) => {
        const l = m.forward(m.embed(tensor([[id]], { dtype: 'i32' })), { cache }).logits!;
        assertClose(l, narrow(full, 1, i, 1), { atol: tol, rtol: tol }, `${dtype} cache, position ${i}`);
      });
      assert.throws(() => m.forward(m.embed(tensor([[1]], { dtype: 'i32' })), { cache }), /exceed its size 7/);
    });
  }
});

test('tied head = embedding matrix; an untied head is its own matrix', () => {
  const spec = { ...GQA, seed: 5 };
  const w = tinyLlamaWeights(spec);
  const tied = build(spec, w);
  assert.equal(tied.lmHead, tied.embedTokens);
  const sameAsTied = build(spec, w, w.get('embed_tokens.weight')!);
  assertClose(fullLogits(sameAsTied, IDS), fullLogits(tied, IDS), { atol: 0, rtol: 0 }, 'explicit copy of the tied head');
  // An untied head: logits are hidden · headᵀ, checked with plain dot products.
  const head = tinyLlamaWeights({ ...spec, seed: 99 }).get('embed_tokens.weight')!; // (V, D)
  const m = build(spec, w, head);
  const out = noGrad(() => m.forward(m.embed(tensor([IDS], { dtype: 'i32' })), { logits: 'all' }));
  const h = out.hidden.toArray();
  const hw = head.toArray();
  const D = spec.hidden;
  const expected: number[] = [];
  for (let t = 0; t < IDS.length; t++) {
    for (let v = 0; v < spec.vocab; v++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += h[t * D + d]! * hw[v * D + d]!;
      expected.push(s);
    }
  }
  assertClose(out.logits!, expected, { atol: 1e-5, rtol: 1e-5 }, 'untied head');
});

test('bad inputs and weights are clear errors', () => {
  const m = build(GQA);
  assert.throws(() => m.forward(tensor([[[1, 2]]])), /inputs_embeds must be f32 \[B, T, 32\]/);
  const w = tinyLlamaWeights(GQA);
  w.set('layers.1.mlp.up_proj.weight', tensor(new Float32Array(48 * 31), { shape: [48, 31] }));
  assert.throws(() => build(GQA, w), /"layers.1.mlp.up_proj.weight" in memory has shape \[48, 31\], expected \[48, 32\]/);
  w.delete('layers.1.mlp.up_proj.weight');
  assert.throws(() => build(GQA, w), /missing tensor "layers.1.mlp.up_proj.weight"/);
});
