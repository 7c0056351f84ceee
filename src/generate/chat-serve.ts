/**
 * The worker side of chat sessions (see protocol.ts `ChatOp`): the worker keeps one in-thread ChatSession per
 * handle number, each with its conversation and KV cache, and runs the handle's operations on it in order.
 * A reply's pieces and any context-overflow notice are posted as they come; every operation ends with
 * `chat-done` (the session's history, context length and the statistics of a newly finished turn, so the
 * handle can answer synchronously and a turn keeps its identity there as it does in-thread) or `error`. The
 * abort flag of a send is read after every prefill layer and before every token choice and turned into the
 * session's own AbortSignal, so an interrupted reply ends exactly as an in-thread abort does.
 *
 * Not here: the session logic (chat.ts), the handle (chat-client.ts).
 */
import type { LoadedLlava } from '../models/llava/load.js';
import { ChatSession, tokenChooser, type NextToken, type TurnStats } from './chat.js';
import { chatModelFrom, type ChatModel } from './chat-model.js';
import type { PrefillProgress } from './options.js';
import type { ChatOp, FromWorker } from './protocol.js';

const sessions = new Map<number, ChatSession>();
/** The last-turn statistics each session's handle has been sent (a new turn is sent once, then kept there). */
const sentTurn = new Map<number, TurnStats | null>();
/** The request whose notices a session's callback posts (the one running its send). */
const current = new Map<number, number>();
let chatModel: ChatModel | null = null;

export async function serveChat(loaded: LoadedLlava, id: number, session: number, op: ChatOp, abort: SharedArrayBuffer, post: (m: FromWorker) => void): Promise<void> {
  chatModel ??= chatModelFrom(loaded);
  const m = chatModel;
  const get = () => {
    const s = sessions.get(session);
    if (!s) throw new Error('this chat session was closed');
    return s;
  };
  const done = (s: ChatSession | undefined) => {
    const last = s?.lastTurn ?? null;
    const fresh = last !== null && last !== sentTurn.get(session);
    if (fresh) sentTurn.set(session, last);
    post({ type: 'chat-done', id, history: s ? s.history : [], contextLength: s ? s.contextLength : 0, ...(fresh ? { lastTurn: last } : {}) });
  };
  switch (op.kind) {
    case 'open': {
      // The image is encoded in the background; a failure is reported by the next send, as in-thread.
      const s = new ChatSession(m, { ...op.options, onNotice: (notice) => post({ type: 'notice', id: current.get(session) ?? id, notice }) });
      sessions.set(session, s);
      return done(s);
    }
    case 'send': {
      const s = get();
      const flag = new Int32Array(abort);
      const controller = new AbortController();
      const choose = tokenChooser(op.options);
      // The shared flag becomes the session's signal; checked before each token is chosen.
      const nextToken: NextToken = (logits, generated) => {
        if (Atomics.load(flag, 0) !== 0) controller.abort();
        return choose(logits, generated);
      };
      current.set(session, id);
      try {
        const onPrefillProgress = (progress: PrefillProgress) => {
          post({ type: 'progress', id, progress });
          if (Atomics.load(flag, 0) !== 0) controller.abort(); // checked by the session after every layer
        };
        for await (const piece of s.send(op.text, { ...op.options, signal: controller.signal, nextToken, onPrefillProgress })) {
          post({ type: 'piece', id, piece });
          if (Atomics.load(flag, 0) !== 0) controller.abort();
        }
      } finally {
        current.delete(session);
      }
      return done(s);
    }
    case 'set-image': {
      const s = get();
      await s.setImage(op.image);
      return done(s);
    }
    case 'reset': {
      const s = get();
      s.reset();
      return done(s);
    }
    case 'close':
      sessions.delete(session);
      sentTurn.delete(session);
      return done(undefined);
  }
}
