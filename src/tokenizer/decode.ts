/**
 * Decoding ids to text with the slow Hugging Face LlamaTokenizer's rules (transformers 4.37 `_decode` and
 * `convert_tokens_to_string`) over SentencePiece's piece decoding (0.1.x `Decode`), written as one
 * left-to-right state machine so that the same code serves both full decoding and streaming:
 *
 * - ids in `all_special_ids` are dropped when skipping special tokens;
 * - added tokens that are not special ("legacy added tokens", e.g. a non-special `<image>`) split the text
 *   into sub-texts joined by one space;
 * - within a sub-text the first token loses a leading `▁`; special tokens (when kept) are copied verbatim,
 *   preceded by a space in legacy mode, and split the rest into groups decoded by SentencePiece;
 * - SentencePiece drops the `▁` of the first piece of a group when the model adds a dummy prefix, turns `▁`
 *   into spaces, and assembles runs of byte pieces into UTF-8 characters (one U+FFFD per invalid byte).
 *
 * Streaming never emits a U+FFFD for a multi-byte character whose bytes have not all arrived: such bytes are
 * held until the character completes or is proven invalid. Text whose final form depends on later tokens
 * (the legacy-mode space before a kept special token) is held likewise, so the streamed pieces always join
 * to exactly the full decode. Not here: `clean_up_tokenization_spaces` (false for LLaMA tokenizers).
 */
import type { SentencePieceModel } from './sentencepiece.js';
import { SPACE } from './sentencepiece.js';

/** What the decoder needs to know about a tokenizer. */
export interface DecodeContext {
  sp: SentencePieceModel;
  legacy: boolean;
  allSpecialIds: ReadonlySet<number>;
  allSpecialTokens: ReadonlySet<string>;
  /** Added tokens that are not special tokens: decoded verbatim as their own sub-text. */
  legacyAddedTokens: ReadonlySet<string>;
  /** Token text for added ids (and for ids beyond the SentencePiece vocabulary). */
  addedContent: ReadonlyMap<number, string>;
  vocabSize: number;
}

export interface DecodeOptions {
  /** Drop special tokens (BOS, EOS, UNK, PAD, additional special tokens). Default true. */
  skipSpecialTokens?: boolean;
}

/** Length of a UTF-8 sequence starting with lead byte `b`, as sentencepiece's DecodeUTF8 accepts it (0: never valid). */
function seqLen(b: number): number {
  if (b < 0x80) return 1;
  if ((b & 0xe0) === 0xc0) return 2;
  if ((b & 0xf0) === 0xe0) return 3;
  if ((b & 0xf8) === 0xf0) return 4;
  return 0;
}

const isTrail = (b: number) => (b & 0xc0) === 0x80;

/**
 * sentencepiece's DecodeUTF8 on `bytes[i..]`: the code point and its length, or −1 with length 1 when the
 * bytes there are not a valid character (truncated, bad trail byte, overlong, surrogate, > U+10FFFF).
 */
function decodeUtf8(bytes: number[], i: number): [number, number] {
  const n = bytes.length - i;
  const b0 = bytes[i]!;
  const len = seqLen(b0);
  if (len === 1) return [b0, 1];
  if (len === 0 || n < len) return [-1, 1];
  let cp = len === 2 ? b0 & 0x1f : len === 3 ? b0 & 0x0f : b0 & 0x07;
  for (let k = 1; k < len; k++) {
    const b = bytes[i + k]!;
    if (!isTrail(b)) return [-1, 1];
    cp = (cp << 6) | (b & 0x3f);
  }
  const min = len === 2 ? 0x80 : len === 3 ? 0x800 : 0x10000;
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return [-1, 1];
  return [cp, len];
}

/** One SentencePiece `Decode` call (a group of pieces between special tokens). */
class PieceGroup {
  private isBosWs = true;
  private bosWsSeen = false;
  private empty = true;
  private bytes: number[] = [];

  constructor(private readonly sp: SentencePieceModel, private readonly out: (s: string) => void) {}

  private write(s: string): void {
    if (s.length === 0) return;
    this.empty = false;
    this.out(s);
  }

  /** Emits the characters the pending bytes already determine; with `final`, all of them. */
  private drainBytes(final: boolean): void {
    const b = this.bytes;
    let i = 0;
    while (i < b.length) {
      const len = seqLen(b[i]!);
      if (!final && len > 1 && b.length - i < len && b.slice(i + 1).every(isTrail)) break; // may still complete
      const [cp, used] = decodeUtf8(b, i);
      this.write(cp < 0 ? '\ufffd' : String.fromCodePoint(cp));
      i += used;
    }
    this.bytes = b.slice(i);
  }

  push(piece: string): void {
    const sp = this.sp;
    const id = sp.pieceToId(piece);
    if (sp.isByte(id)) {
      this.bytes.push(sp.byteValue(id));
      this.drainBytes(false);
      return;
    }
    this.drainBytes(true);
    if (this.bosWsSeen || !this.empty) this.isBosWs = false;
    let text: string;
    let seen = false;
    if (sp.isControl(id)) text = '';
    else if (sp.isUnknown(id)) text = sp.idToPiece(id) === piece ? sp.unkSurface : piece;
    else {
      let p = piece;
      if (this.isBosWs && sp.decodeStripsLeadingSpace) {
        seen = p.startsWith(SPACE);
        if (seen) p = p.slice(1);
        if (sp.removeExtraWhitespaces) seen = false;
      }
      text = p.split(SPACE).join(' ');
    }
    this.bosWsSeen = seen;
    this.write(text);
  }

  finish(): void {
    this.drainBytes(true);
  }
}

/** One `convert_tokens_to_string` call (a sub-text). */
class SubText {
  private index = 0;
  private prevIsSpecial = false;
  private group: PieceGroup;
  private held: string[] = [];
  produced = false;

  /** `hold`: keep each group's text until the group ends (legacy mode may put a space before it). */
  constructor(private readonly ctx: DecodeContext, private readonly hold: boolean, private readonly out: (s: string) => void) {
    this.group = this.newGroup();
  }

  private emit(s: string): void {
    if (s.length === 0) return;
    this.produced = true;
    this.out(s);
  }

  private newGroup(): PieceGroup {
    return new PieceGroup(this.ctx.sp, (s) => (this.hold ? this.held.push(s) : this.emit(s)));
  }

  private endGroup(): void {
    this.group.finish();
    this.emit(this.held.join(''));
    this.held = [];
  }

  push(token: string): void {
    const i = this.index++;
    const tok = i === 0 && token.startsWith(SPACE) ? token.slice(1) : token;
    if (this.ctx.allSpecialTokens.has(tok)) {
      if (!this.prevIsSpecial && i !== 0 && this.ctx.legacy) this.emit(' ');
      this.endGroup();
      this.emit(tok);
      this.group = this.newGroup();
      this.prevIsSpecial = true;
    } else {
      this.group.push(tok);
      this.prevIsSpecial = false;
    }
  }

  finish(): void {
    this.endGroup();
  }
}

/**
 * Incremental detokenizer: `push(id)` returns the text that became final with that id, `finish()` the rest.
 * The concatenation of everything returned equals `decode(ids)` for the same options.
 */
export class DecodeStream {
  private readonly skip: boolean;
  private sub: SubText | undefined;
  private subTexts = 0;
  private pendingSep = false;

  constructor(private readonly ctx: DecodeContext, opts: DecodeOptions = {}) {
    this.skip = opts.skipSpecialTokens ?? true;
  }

  private buf: string[] = [];

  private write(s: string): void {
    if (this.pendingSep) {
      this.buf.push(' ');
      this.pendingSep = false;
    }
    this.buf.push(s);
  }

  private take(): string {
    const s = this.buf.join('');
    this.buf = [];
    return s;
  }

  /** Starts a sub-text: the join separator is written lazily, with its first character. */
  private beginSubText(): void {
    if (this.subTexts > 0) this.pendingSep = true;
    this.subTexts++;
  }

  private token(id: number): string {
    if (!Number.isInteger(id) || id < 0) throw new Error(`cannot decode token id ${id}`);
    const added = this.ctx.addedContent.get(id);
    if (added !== undefined) return added;
    if (id >= this.ctx.vocabSize) throw new Error(`token id ${id} is outside the vocabulary (0..${this.ctx.vocabSize - 1} and added tokens)`);
    return this.ctx.sp.idToPiece(id);
  }

  push(id: number): string {
    if (this.skip && this.ctx.allSpecialIds.has(id)) return '';
    const tok = this.token(id);
    if (this.ctx.legacyAddedTokens.has(tok)) {
      this.endSubText(false);
      this.beginSubText();
      this.write(tok);
      return this.take();
    }
    if (!this.sub) {
      let started = false;
      this.sub = new SubText(this.ctx, this.ctx.legacy && !this.skip, (s) => {
        if (!started) {
          started = true;
          this.beginSubText();
        }
        this.write(s);
      });
    }
    this.sub.push(tok);
    return this.take();
  }

  /** Ends the current sub-text; at the end of the ids an empty one still counts as a (blank) sub-text. */
  private endSubText(atEnd: boolean): void {
    if (!this.sub) return;
    this.sub.finish();
    if (!this.sub.produced && atEnd) {
      this.beginSubText();
      this.write('');
    }
    this.sub = undefined;
  }

  finish(): string {
    this.endSubText(true);
    if (this.pendingSep) this.write('');
    return this.take();
  }
}

/** Full decode (the slow tokenizer's `decode`). */
export function decodeIds(ctx: DecodeContext, ids: Iterable<number>, opts: DecodeOptions = {}): string {
  const s = new DecodeStream(ctx, opts);
  const parts: string[] = [];
  for (const id of ids) parts.push(s.push(id));
  parts.push(s.finish());
  return parts.join('');
}
