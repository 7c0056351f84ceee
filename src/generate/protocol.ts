/**
 * Messages between a model handle (client.ts, any thread) and its worker thread (worker.ts). The worker is
 * started with `WorkerInit` as workerData, loads the model and answers `ready` (or `load-error`); then it
 * serves `generate` requests one after another (the handle ends it with terminate()), streaming `progress` and `piece` messages and ending each
 * with `done` or `error`. Cancellation does not travel as a message — the worker's event loop is busy while
 * it computes — but through the request's shared flag (an Int32Array over a SharedArrayBuffer) that the
 * decoding loop reads after every layer: nonzero = abort.
 *
 * Not here: the loop (core.ts) and option validation.
 */
import type { GenerationSummary } from './core.js';
import type { GenerateRequest, Piece, PrefillProgress } from './options.js';

export interface WorkerInit {
  dir: string;
  visionTower?: string;
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
}

export type ToWorker = { type: 'generate'; id: number; request: GenerateRequest; abort: SharedArrayBuffer };

export type FromWorker =
  | { type: 'ready'; info: ModelInfo }
  | { type: 'load-error'; message: string }
  | { type: 'progress'; id: number; progress: PrefillProgress }
  | { type: 'piece'; id: number; piece: Piece }
  | { type: 'done'; id: number; summary: GenerationSummary }
  | { type: 'error'; id: number; name: string; message: string };
