/**
 * Stop strings and streamed text: the stop filter never emits a stop string, whatever the chunking (3,000
 * random texts, stop strings and split points against the direct definition: the text up to the first stop
 * string to complete), releases held text that can no longer match, and, over the real LLaMA tokenizer's
 * streaming decoder, stops on strings split across tokens (also inside a character made of byte tokens)
 * and streams multi-byte characters without a U+FFFD.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { Rng } from '../../src/engine/random.js';
import { ReplyText } from '../../src/generate/chat-text.js';
import { StopFilter } from '../../src/generate/stop.js';
import { loadTokenizer } from '../../src/tokenizer/index.js';
import { ROOT } from '../helpers/tiny-llava.js';

const tok = loadTokenizer(path.join(ROOT, 'assets', 'tiny-llava-1.5-hf'));

function run(stops: string[], chunks: string[]): { pieces: string[]; stopped: string | null } {
  const f = new StopFilter(stops);
  const pieces = chunks.map((c) => f.push(c));
  if (f.stopped === null) pieces.push(f.finish());
  return { pieces, stopped: f.stopped };
}

test('held while it could still match, released when it cannot, cut at the match', () => {
  assert.deepEqual(run(['###'], ['Hello #', '#', ' world']).pieces, ['Hello ', '', '## world', '']);
  assert.deepEqual(run(['###'], ['Hello #', '#', '# world', 'more']), { pieces: ['Hello ', '', '', ''], stopped: '###' });
  assert.deepEqual(run(['</s>'], ['a<', '/', 's']).pieces, ['a', '', '', '</s']);
  // The first stop string to complete wins (at equal ends the longer), whichever the chunking.
  assert.deepEqual(run(['cd', 'abc'], ['xab', 'cd']), { pieces: ['x', ''], stopped: 'abc' });
  assert.deepEqual(run(['b', 'abc'], ['xabc']), { pieces: ['xa'], stopped: 'b' });
  assert.deepEqual(run(['bc', 'abc'], ['xabc']), { pieces: ['x'], stopped: 'abc' });
  assert.deepEqual(run([], ['a', 'b']).pieces, ['a', 'b', '']);
  assert.throws(() => new StopFilter(['']), /stop strings must be non-empty strings/);
});

test('any chunking of any text: output = text up to the first completed stop match, never a stop string', () => {
  const rng = new Rng(42);
  const alphabet = 'ab#';
  const rand = (n: number) => Array.from({ length: n }, () => alphabet[rng.int(alphabet.length)]).join('');
  for (let trial = 0; trial < 3000; trial++) {
    const stops = Array.from({ length: 1 + rng.int(2) }, () => rand(1 + rng.int(4)));
    const text = rand(rng.int(14));
    const chunks: string[] = [];
    for (let i = 0; i < text.length;) {
      const n = rng.int(4); // empty chunks too
      chunks.push(text.slice(i, i + n));
      i += n;
    }
    // Direct definition: the match that ends first (then the one that starts first).
    let cut = text.length;
    let end = Infinity;
    for (const s of stops) {
      const i = text.indexOf(s);
      if (i >= 0 && (i + s.length < end || (i + s.length === end && i < cut))) {
        cut = i;
        end = i + s.length;
      }
    }
    const { pieces, stopped } = run(stops, chunks);
    const out = pieces.join('');
    const label = `stops ${JSON.stringify(stops)} chunks ${JSON.stringify(chunks)}`;
    assert.equal(out, text.slice(0, cut), label);
    assert.equal(stopped !== null, cut < text.length, label);
    for (const s of stops) assert.ok(!out.includes(s), label);
  }
});

function stream(ids: number[], stops: string[]): { pieces: string[]; stopped: string | null; used: number } {
  const r = new ReplyText(tok, stops);
  const pieces: string[] = [];
  let used = 0;
  for (const id of ids) {
    const { text, stop } = r.push(id);
    pieces.push(text);
    used++;
    if (stop !== null) {
      assert.equal(r.text, pieces.join(''));
      return { pieces, stopped: stop, used };
    }
  }
  pieces.push(r.finish());
  return { pieces, stopped: null, used };
}

test('over the tokenizer: a stop string split across tokens is never emitted', () => {
  const ids = tok.encode('USER: hi ASSISTANT: there', { addBos: false }); // ASSISTANT = A + SS + IST + ANT
  const r = stream(ids, ['ASSISTANT:']);
  assert.equal(r.stopped, 'ASSISTANT:');
  assert.equal(r.pieces.join(''), 'USER: hi ');
  assert.equal(r.used, ids.length - 1, 'stops on the token that completes the match');
  for (const p of r.pieces) assert.ok(!/[A-Z]{2}IST/.test(p), `piece ${JSON.stringify(p)}`);
  // Without a match, everything held comes out at the end and equals the full decode.
  const none = stream(ids, ['ASSISTANT!']);
  assert.equal(none.pieces.join(''), tok.decode(ids, { skipSpecialTokens: true }));
});

test('over the tokenizer: multi-byte characters stream whole (no U+FFFD) and stop strings inside them match', () => {
  const text = 'snow ☃ and 🦙 llama';
  const ids = tok.encode(text, { addBos: false });
  assert.ok(ids.filter((id) => id >= 3 && id < 259).length >= 7, 'the characters are byte-fallback tokens');
  const all = stream(ids, []);
  assert.equal(all.pieces.join(''), tok.decode(ids, { skipSpecialTokens: true }));
  for (const p of all.pieces) assert.ok(!p.includes('\uFFFD'), `piece ${JSON.stringify(p)}`);
  const cut = stream(ids, ['🦙']);
  assert.equal(cut.pieces.join(''), 'snow ☃ and ');
  assert.equal(cut.stopped, '🦙');
});
