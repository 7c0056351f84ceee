/**
 * The llama.cpp side of `bench llm`, run as a child process of the bench (child_process.fork) so that the
 * two sides share no process state: neither one's allocation, garbage collection or unmapping can change
 * the other's page tables or caches mid-run (on a virtual machine a burst of unmapping in one side made the
 * other's next pass over its weights re-fault them). The parent sends one request at a time and waits:
 *   {cmd:'open', threads}                    → {systemInfo} | {error}
 *   {cmd:'load', file, contextSize}          → {} (the model and a context with one sequence)
 *   {cmd:'run', ids, decode}                 → {timing: {prefillS, decodeS, decoded}}
 *   {cmd:'unload'}                           → {}
 * and disconnects when done (the child then exits).
 *
 * Not here: the llava-ts side, the model files and the report (bench/llm.ts).
 */
import { nowMs } from './util.js';

export interface Timing { prefillS: number; decodeS: number; decoded: number }

type Request =
  | { cmd: 'open'; threads: number }
  | { cmd: 'load'; file: string; contextSize: number }
  | { cmd: 'run'; ids: number[]; decode: number }
  | { cmd: 'unload' };

type Llama = Awaited<ReturnType<typeof import('node-llama-cpp')['getLlama']>>;
type Model = Awaited<ReturnType<Llama['loadModel']>>;
type Context = Awaited<ReturnType<Model['createContext']>>;

let llama: Llama | null = null;
let threads = 2;
let loaded: { model: Model; context: Context; seq: ReturnType<Context['getSequence']> } | null = null;

async function handle(req: Request): Promise<object> {
  switch (req.cmd) {
    case 'open': {
      threads = req.threads;
      let nlc: typeof import('node-llama-cpp');
      try {
        nlc = await import('node-llama-cpp');
      } catch (e) {
        return { error: `node-llama-cpp is not installed (npm ci installs it as a devDependency): ${(e as Error).message.split('\n')[0]}` };
      }
      llama = await nlc.getLlama({ gpu: false, build: 'never', logLevel: nlc.LlamaLogLevel.error, maxThreads: threads });
      return { systemInfo: llama.systemInfo };
    }
    case 'load': {
      const model = await llama!.loadModel({ modelPath: req.file, gpuLayers: 0 });
      // batchSize = the prompt: one prefill batch, as ours; the KV cache in llama.cpp's default f16.
      const context = await model.createContext({ contextSize: req.contextSize, batchSize: Math.min(req.contextSize, 512), sequences: 1, threads });
      loaded = { model, context, seq: context.getSequence() };
      return {};
    }
    case 'run': {
      const seq = loaded!.seq;
      await seq.clearHistory();
      const t0 = nowMs();
      let t1 = 0;
      let n = 0;
      // temperature 0: llama.cpp's greedy sampler alone; every generated token is fed back.
      for await (const _ of seq.evaluate(req.ids as never, { temperature: 0 })) {
        if (n === 0) t1 = nowMs();
        if (n++ === req.decode) break;
      }
      // n − 1 tokens followed the first; fewer than asked when llama.cpp ended the sequence itself.
      const timing: Timing = { prefillS: (t1 - t0) / 1000, decodeS: (nowMs() - t1) / 1000, decoded: Math.min(n - 1, req.decode) };
      return { timing };
    }
    case 'unload': {
      await loaded?.context.dispose();
      await loaded?.model.dispose();
      loaded = null;
      return {};
    }
  }
}

if (process.send) {
  process.on('message', (req: Request) => {
    handle(req).then(
      (r) => process.send!(r),
      (e: unknown) => process.send!({ error: e instanceof Error ? e.message : String(e) }),
    );
  });
  process.on('disconnect', () => {
    void (async () => {
      await loaded?.context.dispose();
      await loaded?.model.dispose();
      await llama?.dispose();
      process.exit(0);
    })();
  });
}
