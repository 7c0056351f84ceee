/**
 * Stop strings over streamed text: the filter holds back the longest tail that could still begin a stop
 * string, so a stop string is never emitted, also when it arrives split across several chunks (tokens); on
 * a match everything before it is released and the stream ends. Pure text in, text out.
 *
 * Not here: token ids and the UTF-8-safe detokenizer in front of it (chat-text.ts's ReplyText), EOS ids.
 */

/** Text filter for stop strings; `push` returns what is safe to emit now. */
export class StopFilter {
  private held = '';
  private stoppedAt: string | null = null;
  private readonly stops: string[];

  constructor(stops: readonly string[]) {
    for (const s of stops) if (typeof s !== 'string' || s.length === 0) throw new Error(`stop strings must be non-empty strings, got ${JSON.stringify(s)}`);
    this.stops = [...new Set(stops)];
  }

  /** The stop string that ended the text, or null. */
  get stopped(): string | null {
    return this.stoppedAt;
  }

  push(text: string): string {
    if (this.stoppedAt !== null) return '';
    const s = this.held + text;
    // The first stop string to complete wins (the earliest end; at equal ends the longer): what a reader
    // of the text growing character by character would see first, whatever the chunking.
    let at = -1;
    let end = Infinity;
    for (const stop of this.stops) {
      const i = s.indexOf(stop);
      if (i < 0) continue;
      const e = i + stop.length;
      if (e < end || (e === end && i < at)) {
        at = i;
        end = e;
        this.stoppedAt = stop;
      }
    }
    if (at >= 0) {
      this.held = '';
      return s.slice(0, at);
    }
    const keep = this.partialTail(s);
    this.held = s.slice(s.length - keep);
    return s.slice(0, s.length - keep);
  }

  /** Releases the held tail at the end of the text (it can no longer complete a stop string). */
  finish(): string {
    const s = this.stoppedAt === null ? this.held : '';
    this.held = '';
    return s;
  }

  /** Length of the longest suffix of `s` that is a proper prefix of some stop string. */
  private partialTail(s: string): number {
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
