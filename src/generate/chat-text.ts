/**
 * The visible text of a reply as it streams: token ids → text through the tokenizer's incremental decoder
 * (special tokens skipped, a multi-byte character only once all its bytes arrived), with stop strings held
 * back while the text could still turn into one and never released once it does.
 *
 * The stop-string holding itself is stop.ts's StopFilter (the held text is the longest suffix of everything
 * decoded that is a proper prefix of some stop string, so text released before can never be part of one).
 *
 * Also Python's `str.strip()`, which decides the exact reply text the reference keeps for later turns.
 *
 * Not here: choosing tokens, EOS handling (the caller stops before pushing an EOS id).
 */
import type { DecodeStream, LlamaTokenizer } from '../tokenizer/index.js';
import { StopFilter } from './stop.js';

export interface PushResult {
  /** Text released by this token (may be empty while bytes or a possible stop string are held). */
  text: string;
  /** The stop string that just completed, if any; the text before it has been released with `text`. */
  stop: string | null;
}

export class ReplyText {
  private readonly decoder: DecodeStream;
  private readonly filter: StopFilter;
  private released = '';

  constructor(tokenizer: LlamaTokenizer, stops: readonly string[]) {
    this.decoder = tokenizer.decodeStream({ skipSpecialTokens: true });
    this.filter = new StopFilter(stops.filter((s) => s.length > 0));
  }

  /** All text released so far (for a stopped reply: exactly the text before the stop string). */
  get text(): string {
    return this.released;
  }

  /** The stop string that ended the reply, or null. */
  get stop(): string | null {
    return this.filter.stopped;
  }

  push(id: number): PushResult {
    if (this.filter.stopped !== null) throw new Error('reply text: a token was pushed after the stop string completed');
    const text = this.filter.push(this.decoder.push(id));
    this.released += text;
    return { text, stop: this.filter.stopped };
  }

  /** End of the reply (EOS, length or interruption): everything still held is released. */
  finish(): string {
    if (this.filter.stopped !== null) return '';
    const text = this.filter.push(this.decoder.finish()) + this.filter.finish();
    this.released += text;
    return text;
  }
}

// The characters Python's str.isspace() accepts (str.strip() with no argument removes these).
const PY_SPACE = /^[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;

/** Python's `s.strip()`. */
export function pyStrip(s: string): string {
  return s.replace(PY_SPACE, '');
}
