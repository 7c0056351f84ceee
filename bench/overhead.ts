/**
 * `npm run bench -- overhead`: what a call from TypeScript into a native kernel costs, and whether that cost
 * matters for a tiny model. Measures (1) a raw N-API kernel call, (2) a kernel dispatch, (3) a whole op on
 * a 64-element tensor, native and ts, and (4) the forward pass of a tiny 2-layer LLaMA-shaped decoder
 * (hidden 64, 4 heads, vocab 32064, 27 tokens: the shape of the tiny test checkpoint) built from engine
 * ops: its time, its number of dispatches, and the share of the time that per-op overhead explains.
 */
import { runKernel } from '../src/backends/native/addon.js';
import {
  Tensor, add, dispatch, dispatchCount, embedding, linear, mul, noGrad, randn, rmsNorm, rope, ropeTables,
  scaledDotProductAttention, silu, tensor, withBackend, arange, availableBackends,
} from '../src/index.js';
import { median, nowMs, printTable } from './util.js';

function perCallUs(fn: () => void, calls: number, reps = 5): number {
  for (let i = 0; i < calls / 10; i++) fn();
  const ts: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = nowMs();
    for (let i = 0; i < calls; i++) fn();
    ts.push(((nowMs() - t0) * 1000) / calls);
  }
  return median(ts);
}

interface TinyModel {
  embed: Tensor;
  layers: { ln1: Tensor; q: Tensor; k: Tensor; v: Tensor; o: Tensor; ln2: Tensor; gate: Tensor; up: Tensor; down: Tensor }[];
  norm: Tensor;
}

const H = 64, HEADS = 4, HD = 16, FF = 172, VOCAB = 32064, T = 27;

function tinyModel(): TinyModel {
  let seed = 1;
  const w = (shape: number[]) => mul(randn(shape, { seed: seed++ }), 0.05);
  return {
    embed: w([VOCAB, H]),
    layers: [0, 1].map(() => ({
      ln1: add(w([H]), 1), q: w([H, H]), k: w([H, H]), v: w([H, H]), o: w([H, H]),
      ln2: add(w([H]), 1), gate: w([FF, H]), up: w([FF, H]), down: w([H, FF]),
    })),
    norm: add(w([H]), 1),
  };
}

function forward(m: TinyModel, ids: Tensor, cos: Tensor, sin: Tensor): Tensor {
  let h = embedding(m.embed, ids); // (T, H)
  for (const l of m.layers) {
    const x = rmsNorm(h, l.ln1, 1e-5);
    const heads = (t: Tensor) => t.reshape(1, T, HEADS, HD).permute(0, 2, 1, 3); // (1, nh, T, hd)
    const q = rope(heads(linear(x, l.q)), cos, sin);
    const k = rope(heads(linear(x, l.k)), cos, sin);
    const v = heads(linear(x, l.v));
    const a = scaledDotProductAttention(q, k, v, { causal: true }); // (1, nh, T, hd)
    h = add(h, linear(a.permute(0, 2, 1, 3).reshape(T, H), l.o));
    const y = rmsNorm(h, l.ln2, 1e-5);
    h = add(h, linear(mul(silu(linear(y, l.gate)), linear(y, l.up)), l.down));
  }
  return linear(rmsNorm(h, m.norm, 1e-5), m.embed); // tied head: (T, VOCAB)
}

export async function run(_args: string[]): Promise<void> {
  const hasNative = availableBackends().includes('native');
  const rows: (string | number)[][] = [];
  const result: Record<string, unknown> = { bench: 'overhead' };

  if (hasNative) {
    const buf = new Float32Array(64);
    result.napi_call_us = perCallUs(() => runKernel('fill_f32', [buf], [0, 64, 1]), 200_000);
    const t = tensor(buf);
    result.dispatch_us = withBackend('native', () => perCallUs(() => dispatch('fill', t, 2), 200_000));
    rows.push(['raw N-API kernel call', result.napi_call_us as number, '']);
    rows.push(['dispatch (fill, 64 f32)', result.dispatch_us as number, '']);
  }
  const a = randn([64], { seed: 1 });
  const b = randn([64], { seed: 2 });
  const opUs: Record<string, number> = {};
  for (const be of hasNative ? ['native', 'ts'] : ['ts']) {
    opUs[be] = withBackend(be, () => noGrad(() => perCallUs(() => add(a, b), 50_000)));
    rows.push([`op add(64) on ${be}`, opUs[be]!, '']);
  }
  result.op_us = opUs;

  const m = tinyModel();
  const ids = tensor(Array.from({ length: T }, (_, i) => (i * 7919) % 32000), { dtype: 'i32' });
  const { cos, sin } = ropeTables(arange(0, T), HD, 10000);
  const fwd: Record<string, { ms: number; dispatches: number }> = {};
  for (const be of hasNative ? ['native', 'ts'] : ['ts']) {
    withBackend(be, () => noGrad(() => {
      const d0 = dispatchCount();
      forward(m, ids, cos, sin);
      const dispatches = dispatchCount() - d0;
      const ts: number[] = [];
      for (let r = 0; r < (be === 'ts' ? 3 : 20); r++) {
        const t0 = nowMs();
        forward(m, ids, cos, sin);
        ts.push(nowMs() - t0);
      }
      fwd[be] = { ms: median(ts), dispatches };
    }));
    rows.push([`tiny 2-layer forward on ${be}`, fwd[be]!.ms * 1000, `${fwd[be]!.dispatches} dispatches`]);
  }
  result.tiny_forward = fwd;
  if (hasNative) {
    // Overhead share: dispatches × (cost of a whole tiny op, which is almost all overhead) / forward time.
    const share = (fwd.native!.dispatches * opUs.native!) / (fwd.native!.ms * 1000);
    result.overhead_share = share;
    rows.push(['per-op overhead share of native forward', share * 100, '%']);
  }
  printTable(['measure', 'µs', 'note'], rows);
  process.stdout.write(JSON.stringify(result) + '\n');
}
