/**
 * Messages between a model handle (client.ts, any thread) and its worker thread (worker.ts). The worker is
 * started with `WorkerInit` as workerData, loads the model and answers `ready` (or `load-error`); then it
 * serves `generate` and `generate-batch` requests and chat-session operations one after another (the handle
 * ends it with terminate()), streaming `progress`, `piece`/`batch-piece` and `notice` messages and ending each
 * with `done` (generate), `batch-done`, `chat-done` (chat) or `error`. Cancellation does not travel as a message — the worker's event loop is busy while
 * it computes — but through the request's shared flag (an Int32Array over a SharedArrayBuffer) that the
 * decoding loop reads after every layer: nonzero = abort.
 *
 * Not here: the loop (core.ts) and option validation.
 */
import type { ChatNotice, ChatSessionOptions, SendOptions, TurnStats } from './chat.js';
import type { ChatTurn } from './chat-prompt.js';
import type { GenerationSummary } from './core.js';
import type { WeightQuant } from '../models/llama/quant.js';
import type { BatchSummary } from './batch.js';
import type { BatchPiece, BatchRequest, GenerateRequest, ImageInput, Piece, PrefillProgress } from './options.js';

export interface WorkerInit {
  dir: string;
  visionTower?: string;
  mmproj?: string;
  quant?: WeightQuant;
}

/** What the handle learns about the loaded model. */
export interface ModelInfo {
  dir: string;
  /** The language model's context (max_position_embeddings). */
  contextLength: number;
  eosTokenIds: number[];
  layout: string;
  /** The compute backend as it describes itself. */
  backend: string;
  /** The in-memory quantization asked for at load, or null. */
  quant: WeightQuant | null;
}

/** Chat-session operations; the worker keeps each session (and its KV cache) under the handle's number. */
export type ChatOp =
  | { kind: 'open'; options: Omit<ChatSessionOptions, 'onNotice'> }
  | { kind: 'send'; text: string; options: Omit<SendOptions, 'signal' | 'nextToken' | 'onPrefillProgress'> }
  | { kind: 'set-image'; image: ImageInput | ImageInput[] | null }
  | { kind: 'reset' }
  | { kind: 'close' };

export type ToWorker =
  | { type: 'generate'; id: number; request: GenerateRequest; abort: SharedArrayBuffer }
  | { type: 'generate-batch'; id: number; requests: BatchRequest[]; cacheDtype?: 'f32' | 'f16'; abort: SharedArrayBuffer }
  | { type: 'chat'; id: number; session: number; op: ChatOp; abort: SharedArrayBuffer };

export type FromWorker =
  | { type: 'ready'; info: ModelInfo }
  | { type: 'load-error'; message: string }
  | { type: 'progress'; id: number; progress: PrefillProgress }
  | { type: 'piece'; id: number; piece: Piece }
  | { type: 'done'; id: number; summary: GenerationSummary }
  | { type: 'batch-piece'; id: number; piece: BatchPiece }
  | { type: 'batch-done'; id: number; summary: BatchSummary }
  | { type: 'notice'; id: number; notice: ChatNotice }
  /**
   * The end of a chat operation, with the session's state after it: its history, its context length, and the
   * statistics of a turn that finished since the session's previous `chat-done` (absent: none did).
   */
  | { type: 'chat-done'; id: number; history: ChatTurn[]; contextLength: number; lastTurn?: TurnStats }
  | { type: 'error'; id: number; name: string; message: string };
