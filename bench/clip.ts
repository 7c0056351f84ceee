/**
 * `npm run bench -- clip [--reps N] [--threads N] [--layers N] [--dtype f32|f16]`: one CLIP ViT-L/14-336
 * encode (LLaVA-1.5's vision tower: 24 layers, hidden 1024, 16 heads, MLP 4096, 577 positions) with random
 * weights, seconds per image, ours against PyTorch in the same run. Both run every layer by default (what
 * HF's CLIPVisionModel does when LLaVA asks for hidden states; our LLaVA path stops at the selected layer,
 * 23 of 24 for feature layer −2). Ours and torch alternate for several rounds (the cores are shared, load
 * drifts); each figure is the median over rounds of the per-round median. Prints a table, then one JSON line
 * `{"bench":"clip","seconds":…,"torch_seconds":…}`.
 *
 * Torch builds the same architecture from its own primitives (conv2d, layer_norm, linear, matmul/softmax
 * attention, quick_gelu) in f32: torch has no fast CPU f16 path, so an f16 row is compared with torch f32.
 *
 * Not here: image decoding and preprocessing (microseconds next to the encode), the projector.
 */
import os from 'node:os';
import { randn, tensor, to, type Tensor } from '../src/index.js';
import { MemoryWeightSource } from '../src/io/source.js';
import { normalizeClipVisionConfig, CLIP_VISION_DEFAULTS } from '../src/models/clip/config.js';
import { ClipVisionTower } from '../src/models/clip/vision.js';
import { describeTorch, LoadMeter, startTorch } from './torch.js';
import { arg, median, nowMs, printTable, setThreads } from './util.js';

const L14_336 = { ...CLIP_VISION_DEFAULTS, hidden_size: 1024, intermediate_size: 4096, num_hidden_layers: 24, num_attention_heads: 16, image_size: 336, patch_size: 14, projection_dim: 768 };

const TORCH_CLIP = String.raw`
import torch.nn.functional as F
_model = None
def _build(d, f, layers, heads, size, patch):
    g = torch.Generator().manual_seed(0)
    r = lambda *s: torch.randn(*s, generator=g) * 0.02
    ls = []
    for _ in range(layers):
        ls.append(dict(ln1=(torch.ones(d), torch.zeros(d)), q=(r(d, d), r(d)), k=(r(d, d), r(d)), v=(r(d, d), r(d)),
                       o=(r(d, d), r(d)), ln2=(torch.ones(d), torch.zeros(d)), fc1=(r(f, d), r(f)), fc2=(r(d, f), r(d))))
    n = (size // patch) ** 2
    return dict(d=d, heads=heads, patch=patch, conv=r(d, 3, patch, patch), cls=r(d), pos=r(n + 1, d),
                pre=(torch.ones(d), torch.zeros(d)), layers=ls, pixels=torch.randn(1, 3, size, size, generator=g))
def _encode(m):
    d, H = m['d'], m['heads']
    x = F.conv2d(m['pixels'], m['conv'], stride=m['patch']).flatten(2).transpose(1, 2)
    x = torch.cat([m['cls'].expand(1, 1, d), x], 1) + m['pos']
    x = F.layer_norm(x, (d,), *m['pre'], 1e-5)
    B, T, _ = x.shape
    for l in m['layers']:
        h = F.layer_norm(x, (d,), *l['ln1'], 1e-5)
        q, k, v = (F.linear(h, *l[n]).view(B, T, H, d // H).transpose(1, 2) for n in ('q', 'k', 'v'))
        a = torch.softmax((q * (d // H) ** -0.5) @ k.transpose(-1, -2), -1) @ v
        x = x + F.linear(a.transpose(1, 2).reshape(B, T, d), *l['o'])
        h = F.layer_norm(x, (d,), *l['ln2'], 1e-5)
        h = F.linear(h, *l['fc1'])
        x = x + F.linear(h * torch.sigmoid(1.702 * h), *l['fc2'])
    return x
def handle(q):
    global _model
    if q['op'] == 'build':
        _model = _build(q['d'], q['f'], q['layers'], q['heads'], q['size'], q['patch'])
        return {'ok': True}
    return {'seconds': median_seconds(lambda: _encode(_model), q['reps'])}
`;

/** A tower with random weights of the given shape (scale 0.02, as CLIP's init), in `dtype`. */
function randomTower(layers: number, dtype: 'f32' | 'f16'): ClipVisionTower {
  const raw = { ...L14_336, num_hidden_layers: layers };
  const cfg = normalizeClipVisionConfig(raw, 'clip bench');
  const { hiddenSize: d, intermediateSize: f, patchSize: p, numPatches: n } = cfg;
  const m = new Map<string, Tensor>();
  let seed = 1;
  const w = (shape: number[]) => {
    const t = randn(shape, { seed: seed++ });
    for (let i = 0; i < t.data.length; i++) t.data[i] = (t.data[i] as number) * 0.02;
    return dtype === 'f32' || shape.length < 2 ? t : to(t, dtype);
  };
  const ones = () => tensor(new Array(d).fill(1));
  m.set('embeddings.patch_embedding.weight', w([d, 3, p, p]));
  m.set('embeddings.class_embedding', w([d]));
  m.set('embeddings.position_embedding.weight', w([n + 1, d]));
  m.set('pre_layrnorm.weight', ones());
  m.set('pre_layrnorm.bias', w([d]));
  for (let i = 0; i < layers; i++) {
    const l = `encoder.layers.${i}.`;
    for (const ln of ['layer_norm1', 'layer_norm2']) {
      m.set(`${l}${ln}.weight`, ones());
      m.set(`${l}${ln}.bias`, w([d]));
    }
    for (const [name, o, i2] of [['self_attn.q_proj', d, d], ['self_attn.k_proj', d, d], ['self_attn.v_proj', d, d], ['self_attn.out_proj', d, d], ['mlp.fc1', f, d], ['mlp.fc2', d, f]] as const) {
      m.set(`${l}${name}.weight`, w([o, i2]));
      m.set(`${l}${name}.bias`, w([o]));
    }
  }
  return ClipVisionTower.load(new MemoryWeightSource(m), cfg, layers);
}

export async function run(args: string[]): Promise<void> {
  const reps = Number(arg(args, '--reps', '3'));
  const rounds = Number(arg(args, '--rounds', '3'));
  const threads = Number(arg(args, '--threads', '2'));
  const layers = Number(arg(args, '--layers', '24'));
  const dtype = arg(args, '--dtype', 'f32') as 'f32' | 'f16';
  if (dtype !== 'f32' && dtype !== 'f16') throw new Error(`clip bench: --dtype must be f32 or f16, got ${dtype}`);
  process.stdout.write(`clip bench: ViT-L/14-336, ${layers} layers, ${dtype} weights, ${threads} threads; ` +
    `${os.cpus()[0]?.model ?? 'cpu'}, load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
  const tower = randomTower(layers, dtype);
  const pixels = randn([1, 3, 336, 336], { seed: 99 });
  const torch = await startTorch(threads, TORCH_CLIP);
  process.stdout.write(describeTorch(torch, threads) + '\n');
  if (typeof torch !== 'string') {
    await torch.request({ op: 'build', d: 1024, f: 4096, layers, heads: 16, size: 336, patch: 14 });
  }
  const prev = setThreads(threads);
  const ours: number[] = [];
  const theirs: number[] = [];
  const other: number[] = [];
  try {
    const encode = () => tower.hiddenStates(pixels, [layers]);
    encode(); // warm-up: first-touch of weights and scratch
    for (let r = 0; r < rounds; r++) {
      const meter = new LoadMeter(typeof torch === 'string' ? undefined : torch.pid);
      const ts: number[] = [];
      for (let i = 0; i < reps; i++) {
        const t0 = nowMs();
        encode();
        ts.push((nowMs() - t0) / 1000);
      }
      ours.push(median(ts));
      if (typeof torch !== 'string') theirs.push((await torch.request<{ seconds: number }>({ op: 'encode', reps })).seconds);
      const o = meter.otherCores();
      if (o !== null) other.push(o);
    }
  } finally {
    setThreads(prev);
    if (typeof torch !== 'string') torch.close();
  }
  const seconds = median(ours);
  const torchSeconds = theirs.length ? median(theirs) : null;
  const flops = encodeFlops(layers);
  printTable(
    ['round', 'ours s', 'torch s', 'torch/ours', 'other load'],
    ours.map((s, i) => [String(i + 1), s, theirs[i] ?? '-', theirs[i] ? theirs[i]! / s : '-', other[i] ?? '?']),
  );
  process.stdout.write(`median: ours ${seconds.toFixed(3)} s (${(flops / seconds / 1e9).toFixed(0)} GFLOP/s), ` +
    `torch ${torchSeconds === null ? '-' : `${torchSeconds.toFixed(3)} s`}` +
    `${torchSeconds === null ? '' : `, speed ratio ${(torchSeconds / seconds).toFixed(2)}× (above 1: ours faster)`}\n`);
  process.stdout.write(JSON.stringify({
    bench: 'clip', seconds: round3(seconds), torch_seconds: torchSeconds === null ? null : round3(torchSeconds),
    ratio: torchSeconds === null ? null : round3(torchSeconds / seconds), layers, dtype, threads,
    torch: typeof torch === 'string' ? null : { version: torch.version, blas: torch.blas },
    other_load: other.length ? round3(median(other)) : null,
  }) + '\n');
}

/** Multiply-adds ×2 of the encode: patch conv, per layer 4 d² + 2 d f projections and the two attention products. */
function encodeFlops(layers: number): number {
  const d = 1024, f = 4096, T = 577, n = 576, p = 14;
  return 2 * (n * d * 3 * p * p + layers * (T * (4 * d * d + 2 * d * f) + 2 * T * T * d));
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
