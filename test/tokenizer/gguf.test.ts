/**
 * The tokenizer through GGUF vocabulary data (models/llava's GGUF files carry exactly this): the entries the
 * converter's rules give for the LLaMA tokenizer and llava-hf's added tokens, and a tokenizer rebuilt from
 * them encoding the golden and random vectors to the ids python-sentencepiece gave, in all three modes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GgufTokenType, tokenizerFromGguf, tokenizerToGguf } from '../../src/tokenizer/index.js';
import { expected, golden, MODES, randomVectors, tokenizer } from './fixtures.js';

test('GGUF vocabulary entries follow the converter: pieces, [PAD{id}] fillers, added tokens as control', () => {
  const d = tokenizerToGguf(tokenizer('model', 'llava-hf'), 32064);
  assert.equal(d.tokens.length, 32064);
  assert.deepEqual([d.tokens[0], d.tokenTypes[0], d.scores[0]], ['<unk>', GgufTokenType.CONTROL, -1000]);
  assert.deepEqual([d.tokens[3], d.tokenTypes[3]], ['<0x00>', GgufTokenType.BYTE]);
  assert.deepEqual([d.tokens[15043], d.tokenTypes[15043]], ['▁Hello', GgufTokenType.NORMAL]);
  assert.deepEqual([d.tokens[32000], d.tokenTypes[32000], d.scores[32000]], ['<image>', GgufTokenType.CONTROL, -1000]);
  assert.deepEqual([d.tokens[32001], d.tokenTypes[32001]], ['<pad>', GgufTokenType.CONTROL]);
  assert.deepEqual([d.tokens[32002], d.tokenTypes[32002], d.scores[32002]], ['[PAD32002]', GgufTokenType.UNUSED, -10000]);
  assert.equal(d.tokens[32063], '[PAD32063]');
  assert.deepEqual([d.bosId, d.eosId, d.unkId, d.padId, d.addBos, d.addEos, d.addSpacePrefix], [1, 2, 0, 32001, true, false, true]);
  assert.throws(() => tokenizerToGguf(tokenizer('model', 'llava-hf'), 32001), /added token "<pad>" has id 32001, outside the 32001-row embedding/);
});

test('a tokenizer rebuilt from GGUF data encodes and decodes like the tokenizer.model, in every mode', () => {
  const g = golden();
  const r = randomVectors();
  for (const mode of MODES) {
    const orig = tokenizer('model', mode);
    const legacy = mode === 'legacy';
    const back = tokenizerFromGguf(tokenizerToGguf(orig, mode === 'llava-hf' ? 32064 : 32000), { legacy }, 'test');
    assert.equal(back.sp.size, 32000, mode);
    assert.equal(back.size, orig.size, mode);
    for (const v of g.encode) assert.deepEqual(back.encode(v.text), legacy ? v.ids_legacy : v.ids_nonlegacy, `${mode}: ${JSON.stringify(v.text)}`);
    for (const v of g.llava_prompt) assert.deepEqual(back.tokenizerImageToken(v.prompt), legacy ? v.ids_legacy : v.ids_nonlegacy, `${mode}: ${v.prompt}`);
    for (const c of r.cases.slice(0, 600)) {
      const e = expected(c, mode);
      assert.deepEqual(back.encode(c.t), e.ids, `${mode}: ${JSON.stringify(c.t)}`);
      assert.equal(back.decode(e.ids), orig.decode(e.ids), `${mode} decode: ${JSON.stringify(c.t)}`);
    }
  }
});

test('GGUF data without an unknown token, or with inconsistent arrays, is refused', () => {
  const d = tokenizerToGguf(tokenizer('model', true), 32000);
  assert.throws(() => tokenizerFromGguf({ ...d, scores: d.scores.slice(1) }, {}, 'f.gguf'), /f.gguf: tokenizer.ggml.tokens has 32000 entries but scores 31999/);
  assert.throws(() => tokenizerFromGguf({ ...d, unkId: null, tokenTypes: d.tokenTypes.map((t) => (t === GgufTokenType.UNKNOWN ? 1 : t)) }, {}, 'f.gguf'), /no unknown token/);
  assert.throws(() => tokenizerFromGguf({ ...d, bosId: 40000 }, {}, 'f.gguf'), /tokenizer.ggml.bos_token_id 40000 is outside the 32000-token vocabulary/);
});
