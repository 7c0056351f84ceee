/**
 * Our side of the interchange comparison: greedy decoding of a loaded LLaVA's language model from token
 * ids, with the top-1 margin (best logit minus the best other logit) of every step. Same loop as
 * models/llava/greedy.ts (one prefill, then one cached position per token, ties to the lowest id) but it
 * keeps the margins, which that loop has no reason to expose.
 *
 * Not here: llama.cpp (llamacpp.ts), model files (margin-model.ts).
 */
import { noGrad, tensor } from '../../src/index.js';
import type { LlamaForCausalLM } from '../../src/models/llama/model.js';
import type { GreedyStep } from './llamacpp.js';

/** Greedy continuation of `ids` by `n` tokens with the margin of each choice. */
export function greedyWithMargins(lm: LlamaForCausalLM, ids: readonly number[], n: number): GreedyStep[] {
  return noGrad(() => {
    const cache = lm.newCache(ids.length + n);
    let logits = lm.forward(lm.embed(tensor([[...ids]], { dtype: 'i32' })), { cache, logits: 'last' }).logits!;
    const steps: GreedyStep[] = [];
    for (;;) {
      const row = logits.toArray();
      let best = 0;
      for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
      let second = -Infinity;
      for (let i = 0; i < row.length; i++) if (i !== best && row[i]! > second) second = row[i]!;
      steps.push({ token: best, margin: row[best]! - second });
      if (steps.length === n) return steps;
      logits = lm.forward(lm.embed(tensor([[best]], { dtype: 'i32' })), { cache, logits: 'last' }).logits!;
    }
  });
}
