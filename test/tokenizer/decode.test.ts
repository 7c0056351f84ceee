/**
 * Decoding: `decode(ids)` of every random string against the decode make_random.py computed with the real
 * SentencePiece (skip_special_tokens=True, both modes), and the incremental detokenizer fed one id at a time:
 * what it has emitted is always a prefix of the full decode (so no U+FFFD is ever emitted for a character
 * whose bytes are still arriving) and everything it emits joins to the full decode. Byte-level cases are
 * derived by hand from SentencePiece's rules (one U+FFFD per invalid or truncated byte).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { LlamaTokenizer } from '../../src/tokenizer/index.js';
import { expected, MODES, randomVectors, tokenizer } from './fixtures.js';

/** Streams `ids`, checking the prefix property after every id; returns the joined stream. */
function streamed(tok: LlamaTokenizer, ids: number[], full: string, skipSpecialTokens = true): string {
  const s = tok.decodeStream({ skipSpecialTokens });
  let out = '';
  for (const id of ids) {
    out += s.push(id);
    if (!full.startsWith(out)) throw new Error(`stream emitted ${JSON.stringify(out)}, not a prefix of ${JSON.stringify(full)}`);
  }
  return out + s.finish();
}

const byte = (b: number) => b + 3; // LLaMA's <0xXX> pieces are ids 3..258

describe('decode against python3-sentencepiece', () => {
  const r = randomVectors();
  for (const src of ['model', 'json'] as const) {
    for (const mode of MODES) {
      test(`${r.cases.length} strings, ${src}, ${mode}: decode and streaming`, () => {
        const tok = tokenizer(src, mode);
        const bad: string[] = [];
        let withBytes = 0;
        for (const c of r.cases) {
          const want = expected(c, mode);
          const full = tok.decode(want.ids);
          if (full !== want.decoded) bad.push(`${JSON.stringify(c.t)}: ${JSON.stringify(full)} vs ${JSON.stringify(want.decoded)}`);
          const joined = streamed(tok, want.ids, full);
          if (joined !== full) bad.push(`stream ${JSON.stringify(c.t)}: ${JSON.stringify(joined)} vs ${JSON.stringify(full)}`);
          const keep = streamed(tok, want.ids, tok.decode(want.ids, { skipSpecialTokens: false }), false);
          if (keep !== tok.decode(want.ids, { skipSpecialTokens: false })) bad.push(`stream (specials kept) ${JSON.stringify(c.t)}`);
          if (want.ids.some((id) => id >= 3 && id <= 258)) withBytes++;
        }
        assert.equal(bad.length, 0, `${bad.length} mismatches, first:\n${bad.slice(0, 5).join('\n')}`);
        assert.ok(withBytes > 300, `${withBytes} strings with byte pieces`);
      });
    }
  }
});

describe('byte pieces', () => {
  const tok = tokenizer('model', true);
  const smile = [byte(0xf0), byte(0x9f), byte(0x98), byte(0x80)];

  test('a 4-byte character is emitted only with its last byte', () => {
    assert.deepEqual(tok.encode('😀'), [1, 29871, ...smile]);
    const s = tok.decodeStream();
    assert.deepEqual([1, 29871, ...smile].map((id) => s.push(id)), ['', '', '', '', '', '😀']);
    assert.equal(s.finish(), '');
  });

  test('truncated and invalid sequences decode to one U+FFFD per byte', () => {
    assert.equal(tok.decode(smile.slice(0, 2)), '\ufffd\ufffd');
    assert.equal(tok.decode([...smile, byte(0xf0)]), '😀\ufffd');
    assert.equal(tok.decode([byte(0xc0), byte(0x80)]), '\ufffd\ufffd'); // overlong
    assert.equal(tok.decode([byte(0xed), byte(0xa0), byte(0x80)]), '\ufffd\ufffd\ufffd'); // surrogate
    // The stream holds a truncated character until it is proven invalid, then emits it as the full decode does.
    const s = tok.decodeStream();
    assert.equal(s.push(smile[0]!) + s.push(smile[1]!), '');
    assert.equal(s.push(15043), '\ufffd\ufffd Hello'); // text before it: '▁Hello' keeps its space
    assert.equal(tok.decodeStream().push(byte(0xff)), '\ufffd'); // never valid: emitted at once
  });

  test('a cut inside a character: the held bytes come out at finish', () => {
    const s = tok.decodeStream();
    assert.equal(s.push(15043) + s.push(smile[0]!) + s.push(smile[1]!) + s.push(smile[2]!), 'Hello');
    assert.equal(s.finish(), '\ufffd\ufffd\ufffd');
  });
});

describe('special tokens and leading spaces', () => {
  test('skip_special_tokens=false keeps them, with the legacy space before a special token', () => {
    // Derived from convert_tokens_to_string: "<s>" first, then the group "▁Hello▁world" (its first ▁ dropped
    // by SentencePiece in legacy mode; kept as a space without the dummy prefix), then " " (legacy only)
    // before "</s>".
    assert.equal(tokenizer('model', true).decode([1, 15043, 3186, 2, 1], { skipSpecialTokens: false }), '<s> Hello world</s><s>');
    assert.equal(tokenizer('model', false).decode([1, 15043, 3186, 2, 1], { skipSpecialTokens: false }), '<s> Hello world</s><s>');
    assert.equal(tokenizer('model', true).decode([1, 15043, 2]), 'Hello');
  });

  test('a leading space survives only in non-legacy mode', () => {
    const ids = [1, 29871, 8236, 2913]; // " leading space"
    assert.equal(tokenizer('model', true).decode(ids), 'leading space');
    assert.equal(tokenizer('model', false).decode(ids), ' leading space');
  });

  test('bad ids are refused with a clear error', () => {
    assert.throws(() => tokenizer('model', true).decode([32000]), /token id 32000 is outside the vocabulary/);
    assert.throws(() => tokenizer('model', true).decode([-200]), /cannot decode token id -200/);
  });
});
