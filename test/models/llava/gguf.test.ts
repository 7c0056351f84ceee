/**
 * GGUF layouts end to end on the tiny llava-hf fixture: the fixture written as a `llava quantize` folder
 * (f16, q8_0, q4_0; mmproj f16 and q8_0; tied and untied heads), loaded back from the folder and from the two
 * files, gives prefill logits bit-identical to the fixture's weights converted in memory by rules written out
 * here (f16 rounding, or the same q8_0/q4_0 blocks), and the same greedy tokens. Also: the q/k RoPE row
 * permutation on a hand-derived case and its round trip on quantized rows, the per-tensor types of each
 * scheme, the llama.cpp names and metadata keys, and the tokenizer read back from the text file.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import '../../../src/backends/index.js';
import { contiguous, quantize, randn, tensor, to } from '../../../src/engine/ops/index.js';
import type { Tensor } from '../../../src/engine/tensor.js';
import type { GgufValue } from '../../../src/io/gguf-format.js';
import { openGguf } from '../../../src/io/gguf-reader.js';
import { writeGguf, type GgufTensorPlan } from '../../../src/io/gguf-writer.js';
import { writeSafetensors } from '../../../src/io/safetensors-writer.js';
import { MemoryWeightSource } from '../../../src/io/source.js';
import { assembleLlava } from '../../../src/models/llava/assemble.js';
import { ggufModelFiles, ggufTokenizer } from '../../../src/models/llava/gguf-load.js';
import { permuteRopeRows } from '../../../src/models/llava/gguf-text.js';
import { writeLlavaGguf } from '../../../src/models/llava/gguf-write.js';
import { greedyGenerate } from '../../../src/models/llava/greedy.js';
import { describeLlava, loadLlava } from '../../../src/models/llava/load.js';
import type { MmprojScheme, QuantScheme } from '../../../src/models/llava/weight-types.js';
import { tokenizerToGguf } from '../../../src/tokenizer/index.js';
import { FIXTURE, fixtureConfig, fixtureExpected, fixtureWeights } from '../../helpers/tiny-llava.js';
import { tokenizer } from '../../tokenizer/fixtures.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'llava-gguf-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const expected = fixtureExpected();
const ids: number[] = expected.json.input_ids_compact;
const pixelValues = expected.tensor('pixel_values');

test('q/k rows move into llama.cpp RoPE order (halves interleaved per head) and back, quantized rows included', () => {
  // 2 heads of 4 rows: per head, rows [a0, a1, b0, b1] (halves a, b) become [a0, b0, a1, b1].
  const t = tensor([[0], [1], [2], [3], [4], [5], [6], [7]]);
  assert.deepEqual(permuteRopeRows(t, 2, true).toArray(), [0, 2, 1, 3, 4, 6, 5, 7]);
  assert.deepEqual(permuteRopeRows(permuteRopeRows(t, 2, true), 2, false).toArray(), [0, 1, 2, 3, 4, 5, 6, 7]);
  const w = randn([16, 64], { seed: 5 });
  for (const d of ['q8_0', 'q4_0'] as const) {
    const q = quantize(w, d);
    // Permuting rows of blocks equals quantizing permuted rows, and the inverse restores the bytes.
    assert.deepEqual([...permuteRopeRows(q, 4, true).data], [...quantize(permuteRopeRows(w, 4, true), d).data], d);
    assert.deepEqual([...permuteRopeRows(permuteRopeRows(q, 4, true), 4, false).data], [...q.data], d);
  }
  assert.throws(() => permuteRopeRows(tensor([[1], [2], [3]]), 2, true), /3 rows are not 2 heads of an even size/);
});

/** The untied fixture: the same weights plus a separate random head. */
function untiedFixture(): string {
  const dir = path.join(tmp, 'untied-src');
  mkdirSync(dir);
  const cfg = fixtureConfig();
  cfg.tie_word_embeddings = false;
  (cfg.text_config as Record<string, unknown>).tie_word_embeddings = false;
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
  copyFileSync(path.join(FIXTURE, 'generation_config.json'), path.join(dir, 'generation_config.json'));
  const w = fixtureWeights();
  w.set('language_model.lm_head.weight', randn([32064, 64], { seed: 9 }));
  return dir;
}
let untiedDir: string | undefined;
async function untied(): Promise<string> {
  if (!untiedDir) {
    untiedDir = untiedFixture();
    const w = fixtureWeights();
    w.set('language_model.lm_head.weight', randn([32064, 64], { seed: 9 }));
    await writeSafetensors(path.join(untiedDir, 'model.safetensors'), w);
  }
  return untiedDir;
}

/** The rules of the issue, written independently of weight-types.ts, applied to llava-hf names. */
function expectedStorage(name: string, shape: readonly number[], scheme: QuantScheme, mm: MmprojScheme, tied: boolean): string {
  if (shape.length < 2 || /position_embedding|class_embedding/.test(name)) return 'f32';
  if (/patch_embedding/.test(name)) return 'f16';
  if (!name.startsWith('language_model.')) return mm;
  const head = name === 'language_model.lm_head.weight' || (tied && name.endsWith('embed_tokens.weight'));
  if (scheme === 'q4_0' && head) return 'q8_0';
  return scheme;
}

function convertedModel(src: Map<string, Tensor>, cfg: Record<string, unknown>, scheme: QuantScheme, mm: MmprojScheme) {
  const tied = !src.has('language_model.lm_head.weight');
  const out = new Map<string, Tensor>();
  for (const [k, t] of src) {
    const s = expectedStorage(k, t.shape, scheme, mm, tied);
    out.set(k, s === 'q8_0' || s === 'q4_0' ? quantize(t, s) : s === 'f16' ? to(t, 'f16') : t);
  }
  return assembleLlava({ configJson: cfg, configWhere: 'test', weights: new MemoryWeightSource(out), weightsWhere: 'test' }).model;
}

/** Asserts two f32 tensors hold the same bits (first difference reported; no per-element assert on 865k logits). */
function sameBits(a: Tensor, b: Tensor, what: string): void {
  assert.deepEqual(a.shape, b.shape, what);
  const ca = contiguous(a);
  const cb = contiguous(b);
  const u = new Uint32Array(ca.data.buffer, ca.data.byteOffset + ca.offset * 4, ca.numel);
  const v = new Uint32Array(cb.data.buffer, cb.data.byteOffset + cb.offset * 4, cb.numel);
  const i = u.findIndex((w, k) => w !== v[k]);
  assert.equal(i, -1, `${what}: first difference at element ${i} (${ca.toArray()[i]} vs ${cb.toArray()[i]})`);
}

async function roundTrip(srcDir: string, scheme: QuantScheme, mm: MmprojScheme, label: string) {
  const out = path.join(tmp, label);
  mkdirSync(out);
  const tok = tokenizerToGguf(tokenizer('model', 'llava-hf'), 32064);
  const res = await writeLlavaGguf({
    model: describeLlava(srcDir), outDir: out, scheme, mmprojScheme: mm, name: label, tokenizer: tok, legacy: false,
    mean: [0.48145466, 0.4578275, 0.40821073], std: [0.26862954, 0.26130258, 0.27577711],
  });
  return { out, res };
}

for (const [scheme, mm, tiedHead] of [['f16', 'f16', true], ['q8_0', 'f16', true], ['q4_0', 'q8_0', true], ['q4_0', 'f16', false], ['q8_0', 'q8_0', false]] as const) {
  test(`${scheme} text + ${mm} mmproj (${tiedHead ? 'tied' : 'untied'} head): logits equal the in-memory conversion bit for bit`, async () => {
    const srcDir = tiedHead ? FIXTURE : await untied();
    const { out, res } = await roundTrip(srcDir, scheme, mm, `${scheme}-${mm}-${tiedHead ? 'tied' : 'untied'}`);
    const src = fixtureWeights();
    if (!tiedHead) src.set('language_model.lm_head.weight', randn([32064, 64], { seed: 9 }));
    const cfg = JSON.parse(readFileSync(path.join(srcDir, 'config.json'), 'utf8')) as Record<string, unknown>;
    const ref = greedyGenerate(convertedModel(src, cfg, scheme, mm), { inputIds: ids, pixelValues, maxNewTokens: 4, allPrefillLogits: true });
    for (const [how, loaded] of [['folder', loadLlava(out)], ['files', loadLlava(res.text, { mmproj: res.mmproj })]] as const) {
      assert.equal(loaded.layout.name, 'gguf');
      const got = greedyGenerate(loaded.model, { inputIds: ids, pixelValues, maxNewTokens: 4, allPrefillLogits: true });
      assert.deepEqual(got.outputIds, ref.outputIds, `${how}: greedy tokens`);
      sameBits(got.prefillLogits, ref.prefillLogits, `${how}: prefill logits bit for bit`);
    }
    if (scheme === 'f16' && tiedHead) {
      // Rounding to f16 changes little: the golden greedy tokens survive.
      assert.deepEqual(ref.outputIds, expected.json.greedy.tokens.slice(0, 4));
    }
    // Stored types follow the table of the issue.
    const t = res.types.text;
    const head = scheme === 'q4_0' ? 'Q8_0' : scheme.toUpperCase();
    assert.equal(t.get('token_embd.weight'), tiedHead ? head : scheme.toUpperCase());
    assert.equal(t.get('output.weight'), tiedHead ? undefined : head);
    assert.equal(t.get('blk.1.attn_q.weight'), scheme.toUpperCase());
    assert.equal(t.get('blk.1.ffn_down.weight'), scheme.toUpperCase());
    assert.equal(t.get('blk.0.attn_norm.weight'), 'F32');
    assert.equal(t.get('output_norm.weight'), 'F32');
    const v = res.types.mmproj;
    assert.deepEqual([v.get('v.patch_embd.weight'), v.get('v.position_embd.weight'), v.get('v.class_embd'), v.get('v.pre_ln.bias')], ['F16', 'F32', 'F32', 'F32']);
    assert.deepEqual([v.get('v.blk.0.attn_q.weight'), v.get('v.blk.1.ffn_up.weight'), v.get('mm.0.weight'), v.get('mm.2.weight'), v.get('mm.2.bias')], [mm.toUpperCase(), mm.toUpperCase(), mm.toUpperCase(), mm.toUpperCase(), 'F32']);
  });
}

test('names, shapes and metadata follow llama.cpp conventions', async () => {
  const { res } = await roundTrip(FIXTURE, 'f16', 'f16', 'conventions');
  const text = openGguf(res.text);
  const m = text.metadata;
  const val = (k: string) => { const x = m.get(k); assert.ok(x, k); return x.value; };
  assert.equal(val('general.architecture'), 'llama');
  assert.deepEqual(
    ['block_count', 'context_length', 'embedding_length', 'feed_forward_length', 'attention.head_count', 'attention.head_count_kv', 'vocab_size', 'rope.dimension_count'].map((k) => val(`llama.${k}`)),
    [2, 256, 64, 128, 4, 4, 32064, 16]);
  assert.equal(val('llama.attention.layer_norm_rms_epsilon'), Math.fround(1e-5));
  assert.equal(val('llama.rope.freq_base'), 10000);
  assert.equal(val('general.file_type'), 1);
  assert.equal(val('tokenizer.ggml.model'), 'llama');
  assert.equal((val('tokenizer.ggml.tokens') as string[])[32000], '<image>');
  assert.deepEqual([val('tokenizer.ggml.bos_token_id'), val('tokenizer.ggml.eos_token_id'), val('tokenizer.ggml.padding_token_id'), val('tokenizer.ggml.add_bos_token')], [1, 2, 32001, true]);
  assert.deepEqual(text.keys().slice(0, 4), ['token_embd.weight', 'blk.0.attn_norm.weight', 'blk.0.attn_q.weight', 'blk.0.attn_k.weight']);
  assert.deepEqual(text.info('blk.0.ffn_gate.weight').shape, [128, 64]);
  assert.ok(!text.has('output.weight'));
  // The q rows are stored permuted: row 1 of head 0 in the file is row 8 (second half, first row) of the source.
  const q = text.get('blk.0.attn_q.weight');
  const srcQ = to(fixtureWeights().get('language_model.model.layers.0.self_attn.q_proj.weight')!, 'f16');
  assert.deepEqual([...q.data.subarray(64, 128)], [...srcQ.data.subarray(8 * 64, 9 * 64)]);

  const mm = openGguf(res.mmproj);
  const mv = (k: string) => mm.metadata.get(k)!.value;
  assert.equal(mv('general.architecture'), 'clip');
  assert.equal(mv('clip.projector_type'), 'mlp');
  assert.equal(mv('clip.has_llava_projector'), true);
  assert.equal(mv('clip.use_gelu'), false);
  // vision_feature_layer −2 of a 3-layer tower: hidden state 2, two layers stored.
  assert.deepEqual(mv('clip.vision.feature_layer'), [2]);
  assert.equal(mv('clip.vision.block_count'), 2);
  assert.deepEqual(['image_size', 'patch_size', 'embedding_length', 'feed_forward_length', 'attention.head_count', 'projection_dim'].map((k) => mv(`clip.vision.${k}`)), [16, 4, 32, 64, 4, 64]);
  assert.ok(mm.has('v.blk.1.ffn_up.weight') && !mm.has('v.blk.2.attn_q.weight') && !mm.has('v.post_ln.weight'));
  assert.deepEqual(mm.info('v.blk.0.ffn_up.weight').shape, [64, 32]); // fc1
  assert.deepEqual(mm.info('mm.0.weight').shape, [64, 32]);
  assert.deepEqual(mm.info('v.patch_embd.weight').shape, [32, 3, 4, 4]);
});

test('the tokenizer read from the text GGUF encodes like the llava-hf tokenizer', async () => {
  const { out, res } = await roundTrip(FIXTURE, 'q8_0', 'f16', 'tokenizer');
  const files = ggufModelFiles(out)!;
  const tok = ggufTokenizer(files)!;
  const ref = tokenizer('model', 'llava-hf');
  for (const s of ['USER: <image>\nWhat is shown here? ASSISTANT:', ' leading space', 'Hello\n\nworld <pad>']) {
    assert.deepEqual(tok.encode(s), ref.encode(s), s);
    assert.deepEqual(tok.tokenizerImageToken(s), ref.tokenizerImageToken(s), s);
  }
  assert.equal(tok.legacy, false);
  assert.equal(ggufTokenizer({ ...files, text: res.text, config: null })!.legacy, true);
});

test('GGUF model paths are checked with clear errors', async () => {
  const { out, res } = await roundTrip(FIXTURE, 'q4_0', 'f16', 'errors');
  assert.throws(() => loadLlava(res.text), /a text GGUF needs its vision tower and projector: pass --mmproj FILE.gguf/);
  assert.throws(() => loadLlava(res.text, { mmproj: path.join(out, 'nope.gguf') }), /--mmproj .*nope.gguf: no such file/);
  assert.throws(() => loadLlava(FIXTURE, { mmproj: res.mmproj }), /--mmproj applies to a text GGUF model/);
  assert.throws(() => loadLlava(res.mmproj, { mmproj: res.text }), /no "token_embd.weight" tensor; not a LLaMA text GGUF/);
});

test('an mmproj in the older conversion style (fc1 named ffn_down, post_ln kept, no feature_layer) gives the same model', async () => {
  const { res } = await roundTrip(FIXTURE, 'q8_0', 'f16', 'legacy-mmproj');
  const mm = openGguf(res.mmproj);
  // Older files: block_count = layers − 1 of the source and no feature_layer (llama.cpp then takes hidden state block_count − 1).
  const meta = [...mm.metadata].filter(([k]) => k !== 'clip.vision.feature_layer')
    .map(([k, v]): [string, GgufValue] => (k === 'clip.vision.block_count' ? [k, { type: 'u32', value: 3 }] : [k, v]));
  const swap = (n: string) => n.replace(/ffn_(up|down)/, (_, w: string) => `ffn_${w === 'up' ? 'down' : 'up'}`);
  const plans: GgufTensorPlan[] = mm.keys().map((k) => ({ name: swap(k), type: mm.storedType(k), shape: mm.info(k).shape, produce: () => mm.get(k) }));
  for (const leaf of ['weight', 'bias']) plans.push({ name: `v.post_ln.${leaf}`, type: 'F32', shape: [32], produce: () => randn([32], { seed: 3 }) });
  const legacy = path.join(tmp, 'legacy-mmproj.gguf');
  await writeGguf(legacy, meta, plans);
  const a = greedyGenerate(loadLlava(res.text, { mmproj: res.mmproj }).model, { inputIds: ids, pixelValues, maxNewTokens: 3, allPrefillLogits: true });
  const b = greedyGenerate(loadLlava(res.text, { mmproj: legacy }).model, { inputIds: ids, pixelValues, maxNewTokens: 3, allPrefillLogits: true });
  sameBits(b.prefillLogits, a.prefillLogits, 'legacy mmproj logits');
});
