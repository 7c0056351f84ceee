/**
 * llama.cpp through node-llama-cpp (a pinned devDependency), for the GGUF interchange test: load a text
 * GGUF on the CPU with the prebuilt binaries, tokenize, and decode greedily from given token ids while
 * reading llama.cpp's own next-token distribution at every step.
 *
 * Greedy here means llama.cpp's greedy sampler alone: `controlledEvaluate` with temperature 0 (node-llama-cpp
 * then builds a chain of just the greedy sampler: no top-k/top-p/min-p, and no repetition, presence,
 * frequency or DRY penalty, none of which is asked for) one token at a time. With `probabilities` the
 * addon returns the softmax of the raw logits over the whole vocabulary, so the top-1 margin in logits is
 * ln p₁ − ln p₂ (softmax is shift-invariant; float32 probabilities keep it to ~1e-6 for margins below ~80).
 *
 * The context keeps its KV cache in f32 (llama.cpp's default is f16; ours is f32) so that the two sides do
 * the same arithmetic wherever the weights' storage allows it.
 *
 * `openLlamaCpp` answers a reason instead of an instance when node-llama-cpp cannot load on this platform,
 * so the test can skip saying why; any other failure (a GGUF it rejects, a bad token) throws.
 *
 * Not here: our side of the comparison, model files (margin-model.ts), assertions (llamacpp.test.ts).
 */
import type { Llama, LlamaContext, LlamaContextSequence, LlamaModel } from 'node-llama-cpp';

export interface GreedyStep {
  token: number;
  /** Logit of the chosen token minus the best other logit, from llama.cpp's distribution. */
  margin: number;
}

export interface LlamaCppModel {
  /** llama.cpp's tokenization of `text` (no BOS is added; `special` parses `<s>`, `<image>` … as tokens). */
  tokenize(text: string, special: boolean): number[];
  /**
   * Greedy continuation of `ids` by `n` tokens (stops early only at an end-of-generation token). Reading
   * the distribution costs ~10× the step on this tiny model; `margins: false` skips it (margins are NaN).
   */
  greedy(ids: readonly number[], n: number, opts?: { margins?: boolean }): Promise<GreedyStep[]>;
  /** llama.cpp's vocabulary size and its reading of the BOS/EOS ids from the GGUF metadata. */
  readonly info: { vocab: number; bos: number | null; eos: number | null };
  dispose(): Promise<void>;
}

export interface LlamaCpp {
  /** llama.cpp's build and CPU flags, as node-llama-cpp reports them. */
  systemInfo: string;
  /**
   * Loads a GGUF on the CPU. One thread by default: this model is tiny, and llama.cpp's worker threads
   * spin-wait, which on a loaded machine costs far more than it saves.
   */
  load(ggufPath: string, opts?: { contextSize?: number; threads?: number }): Promise<LlamaCppModel>;
  dispose(): Promise<void>;
}

/** node-llama-cpp's Llama on the CPU (prebuilt binaries, never a build), or why it cannot load here. */
export async function openLlamaCpp(): Promise<LlamaCpp | { reason: string }> {
  let llama: Llama;
  try {
    const nlc = await import('node-llama-cpp');
    llama = await nlc.getLlama({ gpu: false, build: 'never', logLevel: nlc.LlamaLogLevel.error, maxThreads: 2 });
  } catch (e) {
    return { reason: `node-llama-cpp cannot load on ${process.platform}-${process.arch}: ${(e as Error).message.split('\n')[0]}` };
  }
  return {
    systemInfo: llama.systemInfo,
    load: (file, opts) => loadModel(llama, file, opts ?? {}),
    dispose: () => llama.dispose(),
  };
}

async function loadModel(llama: Llama, file: string, opts: { contextSize?: number; threads?: number }): Promise<LlamaCppModel> {
  const model: LlamaModel = await llama.loadModel({ modelPath: file, gpuLayers: 0, useMmap: false });
  const context: LlamaContext = await model.createContext({
    contextSize: opts.contextSize ?? 256, batchSize: opts.contextSize ?? 256, sequences: 1, threads: opts.threads ?? 1,
    // An f32 cache and plain attention: llama.cpp's default f16 cache (and the f16 Q·K it implies) nudges
    // activations enough to flip q8_0 roundings of the next matmul's inputs, which moves q8_0/q4_0 logits by
    // ~0.1–0.4; with f32 they match ours to the last printed digit.
    experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32', flashAttention: false,
  });
  const sequence: LlamaContextSequence = context.getSequence();
  const vocab = [...model.iterateAllTokens()].length;
  return {
    info: { vocab, bos: model.tokens.bos, eos: model.tokens.eos },
    tokenize: (text, special) => [...model.tokenize(text, special)],
    greedy: async (ids, n, o) => {
      await sequence.clearHistory();
      const margins = o?.margins ?? true;
      const steps: GreedyStep[] = [];
      let input: number[] = [...ids];
      while (steps.length < n) {
        const generateNext = { token: true, probabilities: margins, options: { temperature: 0 } };
        const items = input.map((t, i) => (i < input.length - 1 ? t : [t, { generateNext }] as const));
        const out = await sequence.controlledEvaluate(items as Parameters<LlamaContextSequence['controlledEvaluate']>[0]);
        const next = out[input.length - 1]?.next;
        if (next?.token == null || (margins && !next.probabilities)) throw new Error(`llama.cpp produced no token at step ${steps.length}`);
        steps.push({ token: next.token, margin: margins ? marginOf(next.token, next.probabilities!) : NaN });
        if (next.token === model.tokens.eos) break;
        input = [next.token];
      }
      return steps;
    },
    dispose: async () => {
      await context.dispose();
      await model.dispose();
    },
  };
}

/**
 * ln p(chosen) − ln p(runner-up): the logit gap (softmax cancels the normalizer). The addon returns the
 * distribution sorted by logit, so the runner-up is the first other entry.
 */
function marginOf(token: number, probs: Map<number, number>): number {
  for (const [t, p] of probs) if (t !== token) return p > 0 ? Math.log(probs.get(token)!) - Math.log(p) : Infinity;
  return Infinity;
}
