/**
 * The public chat API: `new ChatSession(model, { image?, template?, system? })` on a model from
 * `loadModel`, then `for await (const piece of chat.send(text, options))`, `chat.setImage(pathOrBuffer)`,
 * `chat.reset()`, `chat.history`. The session itself (conversation, KV cache reused across turns, the image
 * encoded once) lives in the model's worker thread (chat-serve.ts over chat.ts), so a long prefill never
 * blocks the caller; this handle mirrors its history after every operation. Operations run in the order
 * they are called; an error of the constructor's opening (a bad image, an unknown template) surfaces at the
 * next operation. `send` takes generate()'s sampling options (greedy when none is given) and an
 * AbortSignal; an interrupted reply stays in the conversation as far as it got, as in-thread.
 *
 * Not here: the session logic (chat.ts), the worker's side (chat-serve.ts).
 */
import type { ChatNotice, ChatPiece, ChatSessionOptions, SendOptions, TurnStats } from './chat.js';
import type { ChatTurn } from './chat-prompt.js';
import { replies, type Model } from './client.js';
import type { ImageInput } from './options.js';
import type { ChatOp, FromWorker } from './protocol.js';
import { validateSampling } from './sampling.js';

/** The same options as the in-thread session (chat.ts). */
export type RemoteChatOptions = ChatSessionOptions;

let nextSession = 1;

export class ChatSession {
  private readonly session = nextSession++;
  private turns: ChatTurn[];
  private last: TurnStats | null = null;
  private context: number | null = null;
  /** The chain of operations: each starts when the previous one has ended. */
  private chain: Promise<void>;
  private readonly onNotice: ((n: ChatNotice) => void) | undefined;

  constructor(readonly model: Model, opts: RemoteChatOptions = {}) {
    const { onNotice, image, ...rest } = opts;
    this.onNotice = onNotice;
    this.turns = (opts.history ?? []).map((t) => ({ ...t }));
    const options = { ...rest, history: rest.history ? [...rest.history] : undefined, image: image == null ? null : Array.isArray(image) ? [...(image as readonly ImageInput[])] : (image as ImageInput) };
    this.chain = this.run({ kind: 'open', options });
  }

  /** The conversation as of the last finished operation (copies). */
  get history(): ChatTurn[] {
    return this.turns.map((t) => ({ ...t }));
  }

  /** Statistics of the last finished reply, or null (the same object until another reply finishes). */
  get lastTurn(): TurnStats | null {
    return this.last;
  }

  /**
   * The decoder's context in positions (as the in-thread session counts it), known once the session is open
   * in the worker (see `ready`); null before.
   */
  get contextLength(): number | null {
    return this.context;
  }

  /** Resolves once the session is open in the worker; rejects with the opening's error (an unknown template, a bad image). */
  ready(): Promise<void> {
    const p = this.chain.then(() => this.takeOpeningFailure());
    this.chain = p.catch(() => {});
    return p;
  }

  /** Use `image` (or several; null: none) from now on; on a non-empty conversation this starts a new one. */
  setImage(image: ImageInput | readonly ImageInput[] | null): Promise<void> {
    const img = image == null ? null : Array.isArray(image) ? [...(image as readonly ImageInput[])] : (image as ImageInput);
    return this.enqueue({ kind: 'set-image', image: img });
  }

  /** Forget the conversation (the images stay). */
  reset(): Promise<void> {
    return this.enqueue({ kind: 'reset' });
  }

  /** Ends the session in the worker (the model stays loaded). */
  close(): Promise<void> {
    return this.enqueue({ kind: 'close' });
  }

  /** Streams the reply to `text`; see the file header for the options. */
  async *send(text: string, options: Omit<SendOptions, 'nextToken'> = {}): AsyncGenerator<ChatPiece, void, undefined> {
    const { signal, onPrefillProgress, ...opts } = options;
    validateSampling(opts);
    let release!: () => void;
    const previous = this.chain;
    this.chain = new Promise<void>((r) => { release = r; });
    try {
      await previous;
      this.takeOpeningFailure();
      for await (const m of replies(this.model, (id, abort) => ({ type: 'chat', id, session: this.session, op: { kind: 'send', text, options: opts }, abort }), signal)) {
        if (m.type === 'piece') yield m.piece;
        else if (m.type === 'progress') onPrefillProgress?.(m.progress);
        else this.observe(m);
      }
    } finally {
      release();
    }
  }

  private enqueue(op: ChatOp): Promise<void> {
    const p = this.chain.then(() => this.run(op));
    this.chain = p.catch(() => {});
    return p;
  }

  /** Runs one operation to its end; errors reject (the opening's too, reported by the next operation). */
  private async run(op: ChatOp): Promise<void> {
    this.takeOpeningFailure();
    try {
      for await (const m of replies(this.model, (id, abort) => ({ type: 'chat', id, session: this.session, op, abort }))) this.observe(m);
    } catch (e) {
      if (op.kind === 'open') {
        this.opening = e as Error;
        return;
      }
      throw e;
    }
  }

  private opening: Error | null = null;

  /** The opening's error is reported once, by the operation that follows it. */
  private takeOpeningFailure(): void {
    const failure = this.opening;
    this.opening = null;
    if (failure) throw failure;
  }

  private observe(m: FromWorker): void {
    if (m.type === 'notice') this.onNotice?.(m.notice);
    else if (m.type === 'chat-done') {
      this.turns = m.history;
      this.context = m.contextLength;
      if (m.lastTurn) this.last = m.lastTurn;
    }
  }
}
