/**
 * Worker-thread entry of a model handle (see protocol.ts): loads the folder named in workerData with the
 * backends registered (LLAVA_BACKEND / LLAVA_THREADS come from the worker's environment, which the handle
 * sets), then runs generation requests one at a time, posting pieces as they are produced. Compute is
 * synchronous here, which is the point: the thread that waits on it is this one, not the caller's.
 *
 * Not here: the loops themselves (core.ts, batch.ts), chat sessions (chat-serve.ts).
 */
import '../backends/index.js';
import { parentPort, workerData } from 'node:worker_threads';
import { activeBackend } from '../engine/backend.js';
import { loadLlava, type LoadedLlava } from '../models/llava/load.js';
import { generateTokens } from './core.js';
import { generateBatchTokens } from './batch.js';
import { checkBatch, requestError } from './options.js';
import { serveChat } from './chat-serve.js';
import { pixelValuesFor } from './images.js';
import type { FromWorker, ToWorker, WorkerInit } from './protocol.js';

const port = parentPort;
if (!port) throw new Error('src/generate/worker.js runs as a worker thread only');
const post = (m: FromWorker) => port.postMessage(m);
const init = workerData as WorkerInit;

let loaded: LoadedLlava | null = null;
try {
  loaded = loadLlava(init.dir, { visionTower: init.visionTower, mmproj: init.mmproj, quant: init.quant });
  post({
    type: 'ready',
    info: {
      dir: init.dir,
      contextLength: loaded.config.text.maxPositions,
      eosTokenIds: [...loaded.eosTokenIds],
      layout: loaded.layout.name,
      backend: activeBackend().describe(),
      quant: init.quant ?? null,
    },
  });
} catch (e) {
  post({ type: 'load-error', message: (e as Error).message });
}

async function serve(msg: ToWorker): Promise<void> {
  const flag = new Int32Array(msg.abort);
  const aborted = () => Atomics.load(flag, 0) !== 0;
  try {
    if (!loaded) throw new Error('the model did not load');
    if (msg.type === 'chat') return await serveChat(loaded, msg.id, msg.session, msg.op, msg.abort, post);
    if (msg.type === 'generate-batch') return await serveBatch(loaded, msg, aborted);
    const pixelValues = await pixelValuesFor(loaded, msg.request.images);
    const it = generateTokens(loaded, msg.request, pixelValues, {
      aborted,
      progress: (progress) => post({ type: 'progress', id: msg.id, progress }),
    });
    for (;;) {
      const r = it.next();
      if (r.done) {
        post({ type: 'done', id: msg.id, summary: r.value });
        return;
      }
      post({ type: 'piece', id: msg.id, piece: r.value });
    }
  } catch (e) {
    const err = e as Error;
    post({ type: 'error', id: msg.id, name: err.name ?? 'Error', message: err.message ?? String(e) });
  }
}

async function serveBatch(l: LoadedLlava, msg: Extract<ToWorker, { type: 'generate-batch' }>, aborted: () => boolean): Promise<void> {
  checkBatch(msg.requests);
  const pixels = await Promise.all(msg.requests.map((r, i) => pixelValuesFor(l, r.images).catch((e: unknown) => { throw requestError(i, e); })));
  const it = generateBatchTokens(l, msg.requests, pixels, {
    aborted,
    cacheDtype: msg.cacheDtype,
    progress: (progress) => post({ type: 'progress', id: msg.id, progress }),
  });
  for (let r = it.next(); ; r = it.next()) {
    if (r.done) return post({ type: 'batch-done', id: msg.id, summary: r.value });
    post({ type: 'batch-piece', id: msg.id, piece: r.value });
  }
}

let queue: Promise<void> = Promise.resolve();
port.on('message', (msg: ToWorker) => {
  queue = queue.then(() => serve(msg));
});
