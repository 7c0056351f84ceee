/**
 * The SentencePiece BPE rules on a tiny hand-written model (serialized here as a ModelProto): merges by
 * descending score with ties to the leftmost pair, merges that only become possible after other merges,
 * byte fallback (UTF-8 bytes of unknown characters), one <unk> per run without it, UNUSED pieces merged then
 * split back, USER_DEFINED pieces matched whole and never merged, the dummy prefix, extra-whitespace removal,
 * source offsets, and protobuf errors. Every expected id list is worked out by hand in the comments.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseSentencePieceModel, PieceType, SentencePieceModel } from '../../src/tokenizer/index.js';

function varint(v: number): number[] {
  const out: number[] = [];
  do {
    let b = v % 128;
    v = Math.floor(v / 128);
    if (v > 0) b |= 0x80;
    out.push(b);
  } while (v > 0);
  return out;
}
const bytesField = (field: number, payload: number[]) => [...varint(field * 8 + 2), ...varint(payload.length), ...payload];
const varintField = (field: number, v: number) => [...varint(field * 8), ...varint(v)];
const utf8 = (s: string) => [...new TextEncoder().encode(s)];
function floatField(field: number, f: number): number[] {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setFloat32(0, f, true);
  return [...varint(field * 8 + 5), ...b];
}

interface Piece { piece: string; score: number; type: PieceType }

// ids: 0 <unk>, 1 <s>, 2 </s>, 3..258 bytes, then:
const EXTRA: Piece[] = [
  { piece: '▁', score: 0, type: PieceType.NORMAL }, // 259
  { piece: 'a', score: 0, type: PieceType.NORMAL }, // 260
  { piece: 'b', score: 0, type: PieceType.NORMAL }, // 261
  { piece: 'c', score: 0, type: PieceType.NORMAL }, // 262
  { piece: 'ab', score: -1, type: PieceType.NORMAL }, // 263
  { piece: 'bc', score: -1, type: PieceType.NORMAL }, // 264 (ties with ab)
  { piece: 'abc', score: -3, type: PieceType.NORMAL }, // 265
  { piece: '▁a', score: -2, type: PieceType.NORMAL }, // 266
  { piece: '▁▁', score: -5, type: PieceType.NORMAL }, // 267
  { piece: '<U>', score: 0, type: PieceType.USER_DEFINED }, // 268
  { piece: 'cc', score: -0.5, type: PieceType.UNUSED }, // 269
];

function model(opts: { byteFallback?: boolean; removeExtra?: boolean } = {}): Uint8Array {
  const pieces: Piece[] = [
    { piece: '<unk>', score: 0, type: PieceType.UNKNOWN }, { piece: '<s>', score: 0, type: PieceType.CONTROL },
    { piece: '</s>', score: 0, type: PieceType.CONTROL },
    ...Array.from({ length: 256 }, (_, b) => ({ piece: `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`, score: 0, type: PieceType.BYTE })),
    ...EXTRA,
  ];
  const out: number[] = [];
  for (const p of pieces) out.push(...bytesField(1, [...bytesField(1, utf8(p.piece)), ...floatField(2, p.score), ...varintField(3, p.type)]));
  out.push(...bytesField(2, [...varintField(3, 2), ...varintField(35, opts.byteFallback === false ? 0 : 1), ...bytesField(7, utf8('text'))]));
  out.push(...bytesField(3, [...bytesField(1, utf8('identity')), ...varintField(3, 1), ...varintField(4, opts.removeExtra ? 1 : 0), ...varintField(5, 1)]));
  return new Uint8Array(out);
}

const sp = new SentencePieceModel(parseSentencePieceModel(model()));
const ids = (text: string, m = sp) => m.encode(text).map((t) => t.id);
const B = (b: number) => 3 + b;

describe('SentencePiece BPE rules', () => {
  test('the model file parses: pieces, scores (float32), types, flags', () => {
    const spec = parseSentencePieceModel(model());
    assert.equal(spec.pieces.length, 270);
    assert.deepEqual(spec.pieces[269], { piece: 'cc', score: -0.5, type: PieceType.UNUSED });
    assert.equal(spec.modelType, 2);
    assert.equal(spec.byteFallback, true);
    assert.equal(spec.addDummyPrefix, true);
    assert.equal(spec.removeExtraWhitespaces, false);
  });

  test('highest score first, ties to the leftmost pair, later merges unlocked by earlier ones', () => {
    // ▁ a b c: ab (-1, left 1) and bc (-1, left 2) tie → ab; then ab+c = abc (-3); ▁+abc is no piece.
    assert.deepEqual(ids('abc'), [259, 265]);
    assert.deepEqual(ids('bc'), [259, 264]);
    // ▁ a a b: ab (-1) before ▁a (-2); then ▁+a = ▁a.
    assert.deepEqual(ids('aab'), [266, 263]);
    assert.deepEqual(ids('a'), [266]);
    // ▁ ▁ ▁ (dummy prefix + two spaces): both ▁▁ pairs tie → the left one merges.
    assert.deepEqual(ids('  '), [267, 259]);
    assert.deepEqual(ids(''), []);
  });

  test('byte fallback, unused pieces split back, user-defined pieces whole and frozen', () => {
    assert.deepEqual(ids('x'), [259, B(0x78)]);
    assert.deepEqual(ids('é'), [259, B(0xc3), B(0xa9)]);
    assert.deepEqual(ids('😀'), [259, B(0xf0), B(0x9f), B(0x98), B(0x80)]);
    assert.deepEqual(ids('cc'), [259, 262, 262]); // merged as the UNUSED piece "cc", emitted as c c
    assert.deepEqual(ids('a<U>b'), [266, 268, 261]);
    assert.deepEqual(ids('<U>'), [259, 268]);
  });

  test('without byte fallback a run of unknown characters is one <unk>', () => {
    const m = new SentencePieceModel(parseSentencePieceModel(model({ byteFallback: false })));
    assert.deepEqual(ids('xyz a', m), [259, 0, 266]);
  });

  test('remove_extra_whitespaces and the dummy prefix switch', () => {
    const m = new SentencePieceModel(parseSentencePieceModel(model({ removeExtra: true })));
    assert.deepEqual(ids('  a   b  ', m), [266, 259, 261]);
    assert.deepEqual(ids('ab', sp.withDummyPrefix(false)), [263]);
    assert.deepEqual(ids(' ab', sp.withDummyPrefix(false)), [259, 263]);
  });

  test('source offsets: each token starts at the character it covers (the dummy prefix at the first)', () => {
    assert.deepEqual(sp.encode('x ab').map((t) => [t.id, t.start]), [[259, 0], [B(0x78), 0], [259, 1], [263, 2]]);
    assert.deepEqual(sp.encode('é').map((t) => t.start), [0, 0, 0]);
  });

  test('malformed files fail with a clear message', () => {
    assert.throws(() => parseSentencePieceModel(new Uint8Array([0x0a, 0x05, 0x0a])), /runs past its message/);
    assert.throws(() => parseSentencePieceModel(new Uint8Array([0x10, 0x80])), /truncated varint/);
    assert.throws(() => parseSentencePieceModel(new Uint8Array([])), /no pieces found/);
    const unigram = model().slice();
    const spec = parseSentencePieceModel(unigram);
    assert.throws(() => new SentencePieceModel({ ...spec, modelType: 1 }), /unigram; only BPE models/);
    assert.throws(() => new SentencePieceModel({ ...spec, pieces: spec.pieces.slice(1) }), /no unknown piece/);
  });
});
