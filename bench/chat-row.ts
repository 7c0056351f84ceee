/**
 * One row of `bench chat`, run in its own process so that its peak RSS is its own: loads a model folder
 * through the public API, generates greedily from one image and a short question with the KV cache sized
 * for `contextLength` positions, and prints one JSON line: load seconds, time to first token (from the
 * generate() call: image decode and encode, prefill, first sampling step), decode tokens/s over the
 * following tokens, and the process's VmHWM.
 *
 * Usage: node dist/bench/chat-row.js '<json: {dir, loadOptions?, image, prompt, contextLength, newTokens, cacheDtype}>'
 */
import { readFileSync } from 'node:fs';
import { generate, loadModel, type LoadModelOptions } from '../src/index.js';

interface RowSpec {
  dir: string;
  loadOptions?: LoadModelOptions;
  image: string;
  prompt: string;
  contextLength: number;
  newTokens: number;
  cacheDtype: 'f32' | 'f16';
}

/** VmHWM in bytes (the kernel reports kB = KiB). */
function vmHwmBytes(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

const spec = JSON.parse(process.argv[2] ?? '{}') as RowSpec;
const t0 = performance.now();
const model = await loadModel(spec.dir, spec.loadOptions ?? {});
const loadS = (performance.now() - t0) / 1000;
const contextLength = Math.min(spec.contextLength, model.info.contextLength);
const t1 = performance.now();
let first = 0;
let last = 0;
let n = 0;
let promptPositions = 0;
const it = generate(model, {
  prompt: spec.prompt, images: [spec.image], temperature: 0, maxNewTokens: spec.newTokens, contextLength, cacheDtype: spec.cacheDtype,
});
for (;;) {
  const r = await it.next();
  if (r.done) {
    promptPositions = r.value.promptPositions;
    break;
  }
  last = performance.now();
  if (n++ === 0) first = last;
}
model.close();
process.stdout.write(JSON.stringify({
  load_s: loadS, ttft_s: (first - t1) / 1000, decode_tok_s: n > 1 ? (n - 1) / ((last - first) / 1000) : null,
  new_tokens: n, prompt_positions: promptPositions, context_length: contextLength, peak_rss_mb: vmHwmBytes() / 1e6,
}) + '\n');
