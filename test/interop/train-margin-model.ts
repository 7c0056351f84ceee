/**
 * Trains the core weights of the interchange test model with the engine's own autograd and writes them to
 * test/fixtures/interop/margin-core.safetensors (the generator, margin-model.ts, expands them to the full
 * LLaMA vocabulary). Run by hand, not by the test suite:
 *
 *   npx tsc -p . && node dist/test/interop/train-margin-model.js [steps] [out.safetensors]
 *
 * Why trained rather than random: a random tiny LLaMA echoes its input and its top logits tie within
 * quantization noise, so "llama.cpp and we pick the same tokens" would prove little. Trained on the
 * successor task of margin-spec.ts (next word = T[prev][cur]) with cross-entropy, the model puts the right
 * word several logits above every other, and gets there only through the parts a GGUF conversion can break
 * (a previous-token attention head needs RoPE and the q/k row order; the pair → word lookup needs the MLP).
 *
 * Training data: BOS then uniformly random alphabet words, every position from the second word on labelled
 * with T[previous][current]; the weights are the LLaMA decoder over a 33-id vocabulary (32 words + BOS)
 * with an untied head. Adam with warm-up and cosine decay; the last 40% of the steps are quantization-aware
 * (forward at the f32, q8_0 or q4_0 round trip of the weights in turn, updates on the f32 masters), since
 * plainly trained weights broke chains at q4_0 (tens of wrong tokens over all pairs). Then a check over chains
 * from every word pair in each stored form; the summary goes into the file's metadata.
 *
 * Not here: the full-vocabulary expansion, model folders, llama.cpp (margin-model.ts, llamacpp.ts).
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { backward, crossEntropy, dequantizeRow, noGrad, quantizeRow, Rng, storageLength, tensor, type QuantDType, type Tensor } from '../../src/index.js';
import { MemoryWeightSource } from '../../src/io/source.js';
import { writeSafetensors } from '../../src/io/safetensors-writer.js';
import { LlamaForCausalLM } from '../../src/models/llama/model.js';
import { ROOT } from '../helpers/tiny-llava.js';
import { coreConfig, coreNames, CORE_FILE } from './margin-model.js';
import { followChain, K, successorTable, TRAIN_VOCAB } from './margin-spec.js';

const steps = Number(process.argv[2] ?? 2000);
const B = 16;
const L = 64;
const T = successorTable();
const rng = new Rng(7);

function initWeights(): Map<string, Tensor> {
  const cfg = coreConfig();
  const w = new Map<string, Tensor>();
  for (const [name, shape] of coreNames(cfg)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(n);
    if (name.endsWith('norm.weight')) v.fill(1);
    else {
      const fanIn = shape[1]!;
      const std = name.includes('embed_tokens') ? 1 : name.includes('o_proj') || name.includes('down_proj') ? 0.5 / Math.sqrt(fanIn) : 1 / Math.sqrt(fanIn);
      for (let i = 0; i < n; i++) v[i] = rng.normal() * std;
    }
    const t = tensor(v, { shape });
    t.requiresGrad = true;
    w.set(name, t);
  }
  return w;
}

function build(w: Map<string, Tensor>): LlamaForCausalLM {
  const src = new MemoryWeightSource(w);
  return LlamaForCausalLM.load(src.prefix('model'), src.prefix('lm_head'), coreConfig());
}

function batch(): { ids: Tensor; targets: Tensor } {
  const ids: number[] = [];
  const targets: number[] = [];
  for (let b = 0; b < B; b++) {
    const row = [K];
    for (let t = 1; t < L; t++) row.push(rng.int(K));
    for (let t = 0; t < L; t++) targets.push(t >= 2 ? T[row[t - 1]!]![row[t]!]! : -100);
    ids.push(...row);
  }
  return { ids: tensor(ids, { shape: [B, L], dtype: 'i32' }), targets: tensor(targets, { shape: [B, L], dtype: 'i32' }) };
}

/**
 * Adam on f32 master copies of the parameters. The tensors the model reads hold either the masters or
 * their quantization round trip (`show`), so the quantization-aware phase trains the masters through a
 * straight-through estimator: forward and gradient at the rounded weights, update on the exact ones.
 */
class Adam {
  readonly master = new Map<Tensor, Float32Array>();
  private m = new Map<Tensor, Float32Array>();
  private v = new Map<Tensor, Float32Array>();
  private t = 0;
  constructor(private readonly params: Map<string, Tensor>) {
    for (const p of params.values()) {
      this.master.set(p, Float32Array.from(p.data as Float32Array));
      this.m.set(p, new Float32Array(p.numel));
      this.v.set(p, new Float32Array(p.numel));
    }
  }

  step(lr: number, b1 = 0.9, b2 = 0.98, eps = 1e-8): void {
    this.t++;
    const c1 = 1 - b1 ** this.t;
    const c2 = 1 - b2 ** this.t;
    for (const p of this.params.values()) {
      const g = p.grad!.data as Float32Array;
      const x = this.master.get(p)!;
      const m = this.m.get(p)!;
      const v = this.v.get(p)!;
      for (let i = 0; i < x.length; i++) {
        m[i] = b1 * m[i]! + (1 - b1) * g[i]!;
        v[i] = b2 * v[i]! + (1 - b2) * g[i]! * g[i]!;
        x[i] = x[i]! - (lr * m[i]! / c1) / (Math.sqrt(v[i]! / c2) + eps);
      }
      p.grad = null;
    }
  }

  /** Loads the model's tensors with the masters as `llava quantize --type scheme` would store them. */
  show(scheme: Scheme): void {
    for (const [name, p] of this.params) {
      const x = this.master.get(p)!;
      const dt = storedType(name, scheme);
      (p.data as Float32Array).set(dt === 'f32' ? x : roundTrip(x, dt));
    }
  }
}

type Scheme = 'f32' | 'q8_0' | 'q4_0';

/** The stored type of a weight under a scheme: norms stay f32; with q4_0 the head is q8_0. */
function storedType(name: string, scheme: Scheme): 'f32' | QuantDType {
  if (scheme === 'f32' || name.endsWith('norm.weight')) return 'f32';
  return scheme === 'q4_0' && name === 'lm_head.weight' ? 'q8_0' : scheme;
}

function roundTrip(x: Float32Array, dt: QuantDType): Float32Array {
  const q = new Uint8Array(storageLength(dt, x.length));
  quantizeRow(dt, x, 0, x.length, q, 0);
  const out = new Float32Array(x.length);
  dequantizeRow(dt, q, 0, x.length, out, 0);
  return out;
}

/** Greedy chains from every word pair: (tokens that break the chain, smallest top-1 margin). */
function evaluate(model: LlamaForCausalLM, n: number): { wrong: number; minMargin: number } {
  return noGrad(() => {
    let wrong = 0;
    let minMargin = Infinity;
    for (let a = 0; a < K; a++) {
      const prompts = Array.from({ length: K }, (_, b) => [K, a, b]);
      const seqs = prompts.map((p) => [...p]);
      for (let s = 0; s < n; s++) {
        const ids = tensor(seqs.flat(), { shape: [K, seqs[0]!.length], dtype: 'i32' });
        const logits = model.forward(model.embed(ids), { logits: 'last' }).logits!.toArray();
        for (let b = 0; b < K; b++) {
          const row = logits.slice(b * TRAIN_VOCAB, (b + 1) * TRAIN_VOCAB);
          const order = row.map((v, i) => [v, i] as const).sort((x, y) => y[0] - x[0]);
          minMargin = Math.min(minMargin, order[0]![0] - order[1]![0]);
          seqs[b]!.push(order[0]![1]);
        }
      }
      for (let b = 0; b < K; b++) {
        const want = followChain(T, [a, b], n);
        wrong += seqs[b]!.slice(3).filter((x, i) => x !== want[i]).length;
      }
    }
    return { wrong, minMargin };
  });
}

const w = initWeights();
const model = build(w);
const opt = new Adam(w);
const warm = 100;
const qatFrom = Math.round(steps * 0.6);
const schemes: Scheme[] = ['f32', 'q8_0', 'q4_0'];
const t0 = performance.now();
for (let s = 1; s <= steps; s++) {
  // The last 40% of the steps cycle through the stored forms of `llava quantize` (quantization-aware).
  opt.show(s > qatFrom ? schemes[s % 3]! : 'f32');
  const { ids, targets } = batch();
  const logits = model.forward(model.embed(ids), { logits: 'all' }).logits!;
  const loss = crossEntropy(logits, targets);
  backward(loss);
  const peak = 3e-3;
  const lr = s <= warm ? (peak * s) / warm : 1e-4 + 0.5 * (peak - 1e-4) * (1 + Math.cos((Math.PI * (s - warm)) / (steps - warm)));
  opt.step(lr);
  if (s % 50 === 0 || s === 1) console.log(`step ${s} loss ${loss.item().toFixed(4)} lr ${lr.toExponential(2)} ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  if (s % 500 === 0) {
    opt.show('q4_0');
    const e = evaluate(model, 8);
    console.log(`  q4_0 chains of 8: ${e.wrong} wrong tokens, min margin ${e.minMargin.toFixed(3)}`);
  }
}
const summary: Record<string, string> = { steps: String(steps) };
for (const scheme of schemes) {
  opt.show(scheme);
  const e = evaluate(model, 40);
  console.log(`final ${scheme}: chains of 40 from all ${K * K} pairs: ${e.wrong} wrong tokens, min margin ${e.minMargin.toFixed(3)}`);
  summary[`${scheme}_wrong`] = String(e.wrong);
  summary[`${scheme}_min_margin`] = e.minMargin.toFixed(4);
}
const out = process.argv[3] ?? path.join(ROOT, CORE_FILE);
mkdirSync(path.dirname(out), { recursive: true });
await writeSafetensors(out, new Map([...w].map(([k, t]) => [k, tensor(opt.master.get(t)!, { shape: t.shape })])), { metadata: summary });
console.log(`wrote ${out}`);
