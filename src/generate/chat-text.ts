/**
 * The visible text of a reply as it streams: token ids → text through the tokenizer's incremental decoder
 * (special tokens skipped, a multi-byte character only once all its bytes arrived), with stop strings held
 * back while the text could still turn into one and never released once it does.
 *
 * The invariant: the held text is the longest suffix of everything decoded that is a proper prefix of some
 * stop string, so a stop string that completes later can only begin inside it — text released before can
 * never be part of one.
 *
 * Also Python's `str.strip()`, which decides the exact reply text the reference keeps for later turns.
 *
 * Not here: choosing tokens, EOS handling (the caller stops before pushing an EOS id).
 */
import type { DecodeStream, LlamaTokenizer } from '../tokenizer/index.js';

export interface PushResult {
  /** Text released by this token (may be empty while bytes or a possible stop string are held). */
  text: string;
  /** The stop string that just completed, if any; the text before it has been released with `text`. */
  stop: string | null;
}

export class ReplyText {
  private readonly decoder: DecodeStream;
  private readonly stops: string[];
  private held = '';
  private released = '';
  private stopped: string | null = null;

  constructor(tokenizer: LlamaTokenizer, stops: readonly string[]) {
    this.decoder = tokenizer.decodeStream({ skipSpecialTokens: true });
    this.stops = stops.filter((s) => s.length > 0);
  }

  /** All text released so far (for a stopped reply: exactly the text before the stop string). */
  get text(): string {
    return this.released;
  }

  /** The stop string that ended the reply, or null. */
  get stop(): string | null {
    return this.stopped;
  }

  push(id: number): PushResult {
    if (this.stopped !== null) throw new Error('reply text: a token was pushed after the stop string completed');
    return this.release(this.held + this.decoder.push(id), false);
  }

  /** End of the reply (EOS, length or interruption): everything still held is released. */
  finish(): string {
    if (this.stopped !== null) return '';
    return this.release(this.held + this.decoder.finish(), true).text;
  }

  private release(s: string, final: boolean): PushResult {
    let at = -1;
    let which: string | null = null;
    for (const stop of this.stops) {
      const i = s.indexOf(stop);
      if (i >= 0 && (at < 0 || i < at)) [at, which] = [i, stop];
    }
    if (which !== null) {
      this.stopped = which;
      this.held = '';
      return this.emit(s.slice(0, at), which);
    }
    const keep = final ? 0 : this.heldLength(s);
    this.held = s.slice(s.length - keep);
    return this.emit(s.slice(0, s.length - keep), null);
  }

  private emit(text: string, stop: string | null): PushResult {
    this.released += text;
    return { text, stop };
  }

  /** Length of the longest suffix of `s` that is a proper prefix of a stop string. */
  private heldLength(s: string): number {
    let best = 0;
    for (const stop of this.stops) {
      for (let n = Math.min(stop.length - 1, s.length); n > best; n--) {
        if (s.endsWith(stop.slice(0, n))) {
          best = n;
          break;
        }
      }
    }
    return best;
  }
}

// The characters Python's str.isspace() accepts (str.strip() with no argument removes these).
const PY_SPACE = /^[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;

/** Python's `s.strip()`. */
export function pyStrip(s: string): string {
  return s.replace(PY_SPACE, '');
}
