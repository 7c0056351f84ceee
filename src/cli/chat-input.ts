/**
 * Input plumbing of `llava chat`: a queue of typed lines (so lines that arrive while a reply streams, or a
 * whole piped file at once, are answered one after the other) and the output stream readline draws its
 * prompt and echo on, which can be silenced while a reply is printed.
 *
 * Not here: the commands and the conversation (chat.ts).
 */
import { Writable } from 'node:stream';

/** Lines in arrival order; `next()` waits for one, null once input has ended. */
export class LineQueue {
  private readonly lines: string[] = [];
  private waiter: ((line: string | null) => void) | null = null;
  private ended = false;

  push(line: string): void {
    if (this.ended) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w(line);
    } else {
      this.lines.push(line);
    }
  }

  /** No more lines: those already queued are still handed out, then null. */
  end(): void {
    this.ended = true;
    if (this.waiter && this.lines.length === 0) {
      const w = this.waiter;
      this.waiter = null;
      w(null);
    }
  }

  /** Drop what is queued and end now (an exit request). */
  abandon(): void {
    this.lines.length = 0;
    this.end();
  }

  /** A line already queued, without waiting. */
  take(): string | undefined {
    return this.lines.shift();
  }

  next(): Promise<string | null> {
    if (this.lines.length > 0) return Promise.resolve(this.lines.shift()!);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve) => { this.waiter = resolve; });
  }
}

/**
 * A terminal stream seen through a switch: writes pass to `target` unless `muted`. It presents the
 * terminal's size and resize events, which readline uses to redraw the line being edited.
 */
export class MutableOutput extends Writable {
  muted = false;
  readonly isTTY = true;

  constructor(readonly target: NodeJS.WriteStream) {
    super();
    target.on('resize', () => this.emit('resize'));
  }

  get columns(): number {
    return this.target.columns;
  }

  get rows(): number {
    return this.target.rows;
  }

  override _write(chunk: Buffer | string, encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    if (this.muted) done();
    else this.target.write(chunk, encoding, done);
  }
}
