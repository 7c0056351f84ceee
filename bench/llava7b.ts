/**
 * The LLaVA-1.5-7B memory acceptance: writes (once) a checkpoint with the exact llava-1.5-7b-hf shapes
 * and random f16 weights (~14 GB, three safetensors shards, outside the repository), then measures peak
 * RSS of `llava inspect` (headers only) and of a one-token `llava run` (prefill of 11 text ids + 576 image
 * positions, then one decoded token) with /usr/bin/time, and the run's wall time.
 *
 * `npm run bench -- llava7b [--dir DIR] [--keep]` (default DIR: llava7b in the OS temp folder). Not a speed comparison (no peer); random weights
 * make the answer meaningless, only memory and time are reported.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng, f32ToF16Bits, Tensor } from '../src/index.js';
import { writeSafetensors, type PlannedTensor } from '../src/io/safetensors-writer.js';
import { printTable } from './util.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Shape of a random llava-hf checkpoint: the text model's layers and vocabulary, and the vision tower's size. */
export interface RandomLlavaShape {
  /** Decoder layers of the 7B-shaped text model (32 in LLaVA-1.5-7B). */
  textLayers: number;
  /** Embedding and head rows (32064 in llava-1.5-7b-hf). */
  vocab: number;
  /** CLIP ViT-L/14-336 as LLaVA-1.5 has it, or a 1-layer 64-wide tower for text-only benchmarks. */
  vision: 'L14-336' | 'tiny';
}

export const LLAVA_7B: RandomLlavaShape = { textLayers: 32, vocab: 32064, vision: 'L14-336' };

const VISION = {
  'L14-336': { hidden_size: 1024, image_size: 336, intermediate_size: 4096, num_attention_heads: 16, num_hidden_layers: 24, patch_size: 14 },
  tiny: { hidden_size: 64, image_size: 28, intermediate_size: 128, num_attention_heads: 2, num_hidden_layers: 2, patch_size: 14 },
} as const;

function config(s: RandomLlavaShape): Record<string, unknown> {
  return {
    architectures: ['LlavaForConditionalGeneration'], model_type: 'llava', ignore_index: -100, image_token_index: 32000,
    pad_token_id: 32001, projector_hidden_act: 'gelu', vision_feature_layer: -2, vision_feature_select_strategy: 'default',
    tie_word_embeddings: false, torch_dtype: 'float16',
    text_config: { model_type: 'llama', max_position_embeddings: 4096, rms_norm_eps: 1e-5, vocab_size: s.vocab, num_hidden_layers: s.textLayers, torch_dtype: 'float16' },
    vision_config: { model_type: 'clip_vision_model', ...VISION[s.vision], projection_dim: 768 },
  };
}

function preprocessor(s: RandomLlavaShape): Record<string, unknown> {
  const size = VISION[s.vision].image_size;
  return {
    crop_size: { height: size, width: size }, do_center_crop: true, do_convert_rgb: true, do_normalize: true, do_rescale: true, do_resize: true,
    image_mean: [0.48145466, 0.4578275, 0.40821073], image_std: [0.26862954, 0.26130258, 0.27577711], resample: 3,
    rescale_factor: 0.00392156862745098, size: { shortest_edge: size },
  };
}

/** Names and shapes of llava-1.5-7b-hf (classic layout) with the given layers, vocabulary and tower. */
function shapes(s: RandomLlavaShape): [string, number[]][] {
  const out: [string, number[]][] = [];
  const D = 4096, F = 11008, V = s.vocab;
  const { hidden_size: d, intermediate_size: f, num_hidden_layers: vl, image_size: size, patch_size: p } = VISION[s.vision];
  out.push(['language_model.model.embed_tokens.weight', [V, D]], ['language_model.model.norm.weight', [D]], ['language_model.lm_head.weight', [V, D]]);
  for (let i = 0; i < s.textLayers; i++) {
    const l = `language_model.model.layers.${i}.`;
    for (const n of ['q', 'k', 'v', 'o']) out.push([`${l}self_attn.${n}_proj.weight`, [D, D]]);
    out.push([`${l}mlp.gate_proj.weight`, [F, D]], [`${l}mlp.up_proj.weight`, [F, D]], [`${l}mlp.down_proj.weight`, [D, F]]);
    out.push([`${l}input_layernorm.weight`, [D]], [`${l}post_attention_layernorm.weight`, [D]]);
  }
  out.push(['multi_modal_projector.linear_1.weight', [D, d]], ['multi_modal_projector.linear_1.bias', [D]],
    ['multi_modal_projector.linear_2.weight', [D, D]], ['multi_modal_projector.linear_2.bias', [D]]);
  const v = 'vision_tower.vision_model.';
  const n = (size / p) ** 2;
  out.push([`${v}embeddings.class_embedding`, [d]], [`${v}embeddings.patch_embedding.weight`, [d, 3, p, p]],
    [`${v}embeddings.position_embedding.weight`, [n + 1, d]], [`${v}pre_layrnorm.weight`, [d]], [`${v}pre_layrnorm.bias`, [d]],
    [`${v}post_layernorm.weight`, [d]], [`${v}post_layernorm.bias`, [d]]);
  for (let i = 0; i < vl; i++) {
    const l = `${v}encoder.layers.${i}.`;
    for (const m of ['q', 'k', 'v', 'out']) out.push([`${l}self_attn.${m}_proj.weight`, [d, d]], [`${l}self_attn.${m}_proj.bias`, [d]]);
    out.push([`${l}mlp.fc1.weight`, [f, d]], [`${l}mlp.fc1.bias`, [f]], [`${l}mlp.fc2.weight`, [d, f]], [`${l}mlp.fc2.bias`, [d]]);
    for (const m of ['layer_norm1', 'layer_norm2']) out.push([`${l}${m}.weight`, [d]], [`${l}${m}.bias`, [d]]);
  }
  return out;
}

/**
 * Writes a llava-hf folder with random f16 weights of `shape` (std 0.02; norm weights near 1), the demo
 * model's tokenizer (LLaMA's, with <image> and <pad> added as llava-hf has them) and its configs.
 */
export async function writeRandomLlava(dir: string, shape: RandomLlavaShape): Promise<void> {
  mkdirSync(dir, { recursive: true });
  // One block of random f16 values tiled with a per-tensor shift.
  const rng = new Rng(7);
  const block = new Uint16Array(1 << 20);
  for (let i = 0; i < block.length; i++) block[i] = f32ToF16Bits(rng.normal() * 0.02);
  const ones = new Uint16Array(1 << 12);
  for (let i = 0; i < ones.length; i++) ones[i] = f32ToF16Bits(1 + rng.normal() * 0.02);
  let shift = 0;
  const planned: PlannedTensor[] = shapes(shape).map(([name, dims]) => ({
    name, dtype: 'f16', shape: dims,
    produce: () => {
      const n = dims.reduce((a, b) => a * b, 1);
      const data = new Uint16Array(n);
      const src = dims.length === 1 && /norm|layrnorm/.test(name) && name.endsWith('weight') ? ones : block;
      shift = (shift + 7919) % src.length;
      // Tile the block from a shifted start so that tensors (and rows) differ.
      for (let at = 0, from = shift; at < n; from = 0) {
        const len = Math.min(src.length - from, n - at);
        data.set(src.subarray(from, from + len), at);
        at += len;
      }
      return new Tensor(data, 'f16', dims);
    },
  }));
  await writeSafetensors(path.join(dir, 'model.safetensors'), planned, { maxShardBytes: 5e9, metadata: { format: 'pt' } });
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config(shape), null, 2));
  writeFileSync(path.join(dir, 'preprocessor_config.json'), JSON.stringify(preprocessor(shape), null, 2));
  writeFileSync(path.join(dir, 'generation_config.json'), JSON.stringify({ bos_token_id: 1, eos_token_id: 2, pad_token_id: 32001 }));
  const assets = path.join(ROOT, 'assets', 'tiny-llava-1.5-hf');
  copyFileSync(path.join(assets, 'tokenizer.model'), path.join(dir, 'tokenizer.model'));
  // A vocabulary of LLaMA's 32000 rows has no room for the added tokens: keep only those that fit.
  const tc = JSON.parse(readFileSync(path.join(assets, 'tokenizer_config.json'), 'utf8')) as { added_tokens_decoder: Record<string, { content: string }>; pad_token?: string };
  for (const id of Object.keys(tc.added_tokens_decoder)) {
    if (Number(id) >= shape.vocab) {
      if (tc.pad_token === tc.added_tokens_decoder[id]!.content) delete tc.pad_token;
      delete tc.added_tokens_decoder[id];
    }
  }
  writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(tc, null, 2));
}

/** The 7B-shaped checkpoint in `dir`, written first when it is not there yet (about 14 GB, a few minutes). */
export async function ensureLlava7b(dir: string): Promise<void> {
  if (existsSync(path.join(dir, 'model.safetensors.index.json')) && existsSync(path.join(dir, 'tokenizer.model'))) return;
  const t0 = performance.now();
  await writeRandomLlava(dir, LLAVA_7B);
  process.stdout.write(`wrote ${dir} in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
}

function measured(args: string[]): { rssMiB: number; seconds: number; stdout: string; phases: string } {
  const cli = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
  const t0 = performance.now();
  const r = spawnSync('/usr/bin/time', ['-v', process.execPath, cli, ...args],
    { encoding: 'utf8', maxBuffer: 1 << 26, env: { ...process.env, LLAVA_DEBUG: 'timing' } });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`llava ${args[0]} failed: ${r.stderr}`);
  const kb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr)?.[1]);
  const phases = /llava\[timing\]: (.*)/.exec(r.stderr)?.[1] ?? '';
  return { rssMiB: kb / 1024, seconds, stdout: r.stdout, phases };
}

export async function run(args: string[]): Promise<void> {
  const at = args.indexOf('--dir');
  const dir = at >= 0 ? args[at + 1]! : path.join(os.tmpdir(), 'llava7b');
  await ensureLlava7b(dir);
  const inspect = measured(['inspect', '--model', dir, '--json']);
  const ids = [1, 3148, 1001, 29901, 29871, 32000, 29871, 13, 22933, 9047, 13566, 29901];
  const image = path.join(ROOT, 'test', 'fixtures', 'tiny-llava-hf', 'image.png');
  const one = measured(['run', '--model', dir, '--image', image, '--input-ids', ids.join(','), '--max-new-tokens', '1', '--temperature', '0', '--json']);
  printTable(['command', 'peak RSS MiB', 'wall s'], [['inspect', inspect.rssMiB, inspect.seconds], ['run (1 token)', one.rssMiB, one.seconds]]);
  const params = (JSON.parse(inspect.stdout) as { parameters: { total: number } }).parameters.total;
  process.stdout.write(`run phases: ${one.phases}\n`);
  process.stdout.write(JSON.stringify({ bench: 'llava7b', parameters: params, inspectRssMiB: inspect.rssMiB, runRssMiB: one.rssMiB, runSeconds: one.seconds, runPhases: one.phases, output: one.stdout.trim() }) + '\n');
  if (!args.includes('--keep')) rmSync(dir, { recursive: true, force: true });
}
