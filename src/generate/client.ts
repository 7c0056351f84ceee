/**
 * The public generation API: `loadModel(dir, options)` starts a worker thread that loads the folder and
 * owns the model; `generate(model, options)` is an async iterator over the reply's pieces, computed in that
 * worker so that the caller's event loop keeps running during a long prefill. Requests to one model run one
 * after another. Cancellation: the AbortSignal (or leaving the `for await` loop early) raises the request's
 * shared flag, which the worker reads after every layer; the iterator then throws the signal's reason.
 * The worker does not keep the process alive while no generation is running; `model.close()` ends it.
 *
 * Not here: the loop (core.ts), the worker side (worker.ts), chat sessions.
 */
import { Worker } from 'node:worker_threads';
import { infoOnce } from '../util/log.js';
import type { GenerationSummary } from './core.js';
import { checkBatch, forRequest, type BatchOptions, type BatchPiece, type BatchRequest, type GenerateOptions, type GenerateRequest, type Piece } from './options.js';
import type { BatchSummary } from './batch.js';
import type { FromWorker, ModelInfo, ToWorker, WorkerInit } from './protocol.js';
import { validateSampling } from './sampling.js';
import { checkWeightQuant, type WeightQuant } from '../models/llama/quant.js';

export interface LoadModelOptions {
  /** Native compute threads (LLAVA_THREADS); default: the machine's cores. */
  threads?: number;
  /** The CLIP folder of an original-layout checkpoint (`--vision-tower`). */
  visionTower?: string;
  /** Compute backend (LLAVA_BACKEND); default native when its addon loads. */
  backend?: 'ts' | 'native';
  /** The vision GGUF (`--mmproj`) of a model given as a text GGUF file, or replacing a quantize folder's. */
  mmproj?: string;
  /**
   * Quantize the language model in memory as it loads: every decoder linear weight in this type, the
   * embedding too, the output head q8_0, norms f32 (models/llama/quant.ts); vision tower and projector as stored.
   */
  quant?: WeightQuant;
}

type Listener = (m: FromWorker) => void;

/** A model loaded in its own worker thread. */
export class Model {
  private nextId = 1;
  private readonly listeners = new Map<number, Listener>();
  private failure: Error | null = null;
  private closed = false;

  private constructor(private readonly worker: Worker, readonly info: ModelInfo) {
    worker.on('message', (m: FromWorker) => {
      if ('id' in m) this.listeners.get(m.id)?.(m);
    });
    const fail = (e: Error) => {
      this.failure = e;
      for (const [id, l] of this.listeners) l({ type: 'error', id, name: e.name, message: e.message });
    };
    worker.on('error', fail);
    worker.on('exit', (code) => {
      if (!this.closed) fail(new Error(`the model's worker thread exited (code ${code})`));
    });
    worker.unref();
  }

  /** Starts the worker and waits until the model is loaded (load errors are thrown here). */
  static async load(dir: string, opts: LoadModelOptions = {}): Promise<Model> {
    if (typeof dir !== 'string' || dir.length === 0) throw new Error('loadModel: give the model folder as a non-empty string');
    if (opts.threads !== undefined && !(Number.isInteger(opts.threads) && opts.threads > 0)) {
      throw new Error(`loadModel: threads must be a positive integer, got ${JSON.stringify(opts.threads)}`);
    }
    if (opts.backend !== undefined && opts.backend !== 'ts' && opts.backend !== 'native') {
      throw new Error(`loadModel: backend must be 'ts' or 'native', got ${JSON.stringify(opts.backend)}`);
    }
    const quant = opts.quant === undefined ? undefined : checkWeightQuant(opts.quant, 'loadModel: quant');
    const env: NodeJS.ProcessEnv = { ...process.env };
    if (opts.threads !== undefined) env.LLAVA_THREADS = String(opts.threads);
    if (opts.backend !== undefined) env.LLAVA_BACKEND = opts.backend;
    const init: WorkerInit = { dir, visionTower: opts.visionTower, mmproj: opts.mmproj, quant };
    const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: init, env });
    const info = await new Promise<ModelInfo>((resolve, reject) => {
      const onMessage = (m: FromWorker) => {
        if (m.type === 'ready') resolve(m.info);
        else if (m.type === 'load-error') reject(new Error(m.message));
        else return;
        cleanup();
      };
      const onError = (e: Error) => { cleanup(); reject(e); };
      const onExit = (code: number) => { cleanup(); reject(new Error(`the model's worker thread exited while loading (code ${code})`)); };
      const cleanup = () => { worker.off('message', onMessage); worker.off('error', onError); worker.off('exit', onExit); };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
    }).catch(async (e: Error) => {
      await worker.terminate();
      throw e;
    });
    infoOnce(`backend ${info.backend}`); // deduplicated with the main thread's own line when they agree
    return new Model(worker, info);
  }

  /** Ends the worker thread (pending generations fail). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const [id, l] of this.listeners) l({ type: 'error', id, name: 'Error', message: 'the model was closed' });
    await this.worker.terminate();
  }

  /** Sends one request; `listener` gets its messages until `done`/`error`. Returns the abort flag. */
  request(req: GenerateRequest, listener: Listener): { abort: () => void } {
    return this.post((id, abort) => ({ type: 'generate', id, request: req, abort }), listener);
  }

  /** Posts the message `build` makes; `listener` gets the replies until `done`/`batch-done`/`chat-done`/`error`. */
  post(build: (id: number, abort: SharedArrayBuffer) => ToWorker, listener: Listener): { abort: () => void } {
    if (this.closed) throw new Error('the model was closed');
    if (this.failure) throw new Error(`the model's worker failed: ${this.failure.message}`);
    const id = this.nextId++;
    const sab = new SharedArrayBuffer(4);
    const flag = new Int32Array(sab);
    this.listeners.set(id, (m) => {
      if (m.type === 'done' || m.type === 'batch-done' || m.type === 'chat-done' || m.type === 'error') {
        this.listeners.delete(id);
        if (this.listeners.size === 0) this.worker.unref();
      }
      listener(m);
    });
    this.worker.ref();
    this.worker.postMessage(build(id, sab));
    return { abort: () => Atomics.store(flag, 0, 1) };
  }
}

/** Loads a model folder in a worker thread (see `Model`). */
export function loadModel(dir: string, opts: LoadModelOptions = {}): Promise<Model> {
  return Model.load(dir, opts);
}

function abortReason(signal: AbortSignal | undefined): unknown {
  if (signal?.reason !== undefined) return signal.reason;
  const e = new Error('generation aborted');
  e.name = 'AbortError';
  return e;
}

/**
 * The reply to `opts` as pieces `{ text, tokenId }`, streamed from the model's worker. The joined texts are
 * the reply (stop strings excluded; not stripped — the reference strips the reply it stores); an EOS token
 * comes as the last piece. The iterator's return value is the summary (finish reason, timings).
 */
export async function* generate(model: Model, opts: GenerateOptions): AsyncGenerator<Piece, GenerationSummary, undefined> {
  const { signal, onPrefillProgress, ...request } = opts;
  validateSampling(request);
  for await (const m of replies(model, (id, abort) => ({ type: 'generate', id, request, abort }), signal)) {
    if (m.type === 'piece') yield m.piece;
    else if (m.type === 'progress') onPrefillProgress?.(m.progress);
    else if (m.type === 'done') return m.summary;
  }
  throw new Error('the worker ended the request without a result');
}

/**
 * Several requests decoded together in one left-padded batch in the model's worker (see batch.ts): each
 * request has `generate`'s prompt fields and its own sampling options, seed, stop strings and
 * `maxNewTokens`; the batch shares the signal, the prefill progress and the cache dtype. Pieces come as
 * `{ index, text, tokenId }` (index: the request's position), step by step, rows in order; a request's
 * pieces are exactly those `generate` gives for it alone. The return value is the summary.
 */
export async function* generateBatch(
  model: Model, requests: readonly BatchRequest[], opts: BatchOptions = {},
): AsyncGenerator<BatchPiece, BatchSummary, undefined> {
  checkBatch(requests);
  requests.forEach((r, i) => forRequest(i, () => validateSampling(r)));
  const { signal, onPrefillProgress, cacheDtype } = opts;
  const list = [...requests];
  for await (const m of replies(model, (id, abort) => ({ type: 'generate-batch', id, requests: list, cacheDtype, abort }), signal)) {
    if (m.type === 'batch-piece') yield m.piece;
    else if (m.type === 'progress') onPrefillProgress?.(m.progress);
    else if (m.type === 'batch-done') return m.summary;
  }
  throw new Error('the worker ended the batch without a result');
}

/**
 * The worker's messages for one posted request, up to and including its `done` / `batch-done` / `chat-done`; an `error`
 * is thrown (the signal's reason when it was an abort the caller asked for). The signal, or leaving the
 * loop early, raises the request's abort flag.
 */
export async function* replies(
  model: Model, build: (id: number, abort: SharedArrayBuffer) => ToWorker, signal?: AbortSignal,
): AsyncGenerator<FromWorker, void, undefined> {
  if (signal?.aborted) throw abortReason(signal);
  const queue: FromWorker[] = [];
  let wake: (() => void) | null = null;
  const handle = model.post(build, (m) => {
    queue.push(m);
    wake?.();
  });
  const onAbort = () => handle.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  let finished = false;
  try {
    for (;;) {
      while (queue.length === 0) await new Promise<void>((r) => { wake = r; });
      wake = null;
      const m = queue.shift()!;
      if (m.type === 'error') {
        finished = true;
        if (m.name === 'AbortError' && signal?.aborted) throw abortReason(signal);
        const e = new Error(m.message);
        if (m.name === 'AbortError') e.name = m.name;
        throw e;
      }
      if (m.type === 'done' || m.type === 'batch-done' || m.type === 'chat-done') finished = true;
      yield m;
      if (finished) return;
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    if (!finished) handle.abort(); // the consumer left early: stop the worker at its next check
  }
}
