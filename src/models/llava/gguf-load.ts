/**
 * Loading LLaVA from GGUF: a text GGUF plus an mmproj GGUF, given as two files (`--model text.gguf --mmproj
 * mmproj.gguf`) or as a folder written by `llava quantize` (its `llava-gguf.json` names both files and keeps
 * what GGUF does not carry: the feature selection, the projector activation, the image token id, the
 * tokenizer's `legacy` flag and the source's EOS ids).
 *
 * The two files become one WeightSource whose names follow the `gguf` key layout (layouts.ts):
 * `text.model.*` / `text.lm_head.weight` (q/k rows permuted back from llama.cpp's RoPE layout) and
 * `mmproj.vision_model.*` / `mmproj.projector.linear_{1,2}.*`, and a llava-hf shaped config object is built
 * from both files' metadata, so the ordinary strict assembly (assemble.ts) builds the model: every tensor is
 * checked, and anything the model does not use is an error.
 *
 * Not here: writing (gguf-write.ts), the name and metadata conventions (gguf-text.ts, gguf-mmproj.ts).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Tensor } from '../../engine/tensor.js';
import { openGguf, type GgufSource } from '../../io/gguf-reader.js';
import type { OpenOptions } from '../../io/safetensors.js';
import { BaseWeightSource, type TensorInfo } from '../../io/source.js';
import { tokenizerFromGguf } from '../../tokenizer/gguf.js';
import type { LlamaTokenizer } from '../../tokenizer/llama.js';
import type { LlavaParts } from './assemble.js';
import { mmprojConfigFromGguf, mmprojTensorSpecs } from './gguf-mmproj.js';
import { releaseMappedPages } from '../../engine/file-map.js';
import { llamaConfigJsonFromGguf, llamaTensorSpecs, permuteRopeRows, tokenizerDataFromGguf } from './gguf-text.js';
import { llamaConfigFromJson, normalizeLlamaConfig } from '../llama/config.js';

/** The small config `llava quantize` writes next to the two GGUF files. */
export const GGUF_CONFIG_FILE = 'llava-gguf.json';

export interface GgufFolderConfig {
  format: 'llava-ts-gguf';
  /** File names, relative to the folder. */
  model: string;
  mmproj: string;
  type: string;
  mmproj_type: string;
  /** The source folder's name: chat-template selection by model name uses it (LLaVA's rule). */
  name?: string;
  vision_feature_select_strategy?: string;
  projector_hidden_act?: string;
  image_token_index?: number;
  /** Hugging Face tokenizer `legacy` flag (GGUF cannot say). */
  legacy?: boolean;
  eos_token_id?: number[];
}

export interface GgufModelFiles {
  text: string;
  mmproj: string;
  /** The folder's config, when loading a folder. */
  config: GgufFolderConfig | null;
  dir: string | null;
}

function readFolderConfig(dir: string): GgufFolderConfig {
  const file = path.join(dir, GGUF_CONFIG_FILE);
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: cannot read (${(e as Error).message})`);
  }
  const c = v as GgufFolderConfig;
  if (!c || c.format !== 'llava-ts-gguf' || typeof c.model !== 'string' || typeof c.mmproj !== 'string') {
    throw new Error(`${file}: not a llava-ts GGUF folder config (expected "format": "llava-ts-gguf" and "model"/"mmproj" file names)`);
  }
  for (const f of [c.model, c.mmproj]) {
    if (path.isAbsolute(f) || f.split(/[\\/]/).includes('..')) throw new Error(`${file}: file ${JSON.stringify(f)} must be inside the folder`);
  }
  return c;
}

/**
 * The GGUF files a model path means, or null when it is not a GGUF model: a `.gguf` file (with `mmproj`), or
 * a folder holding `llava-gguf.json`.
 */
export function ggufModelFiles(p: string, mmproj?: string): GgufModelFiles | null {
  if (p.endsWith('.gguf')) {
    if (!existsSync(p)) throw new Error(`model file ${p} does not exist`);
    if (!mmproj) throw new Error(`${p}: a text GGUF needs its vision tower and projector: pass --mmproj FILE.gguf`);
    if (!existsSync(mmproj)) throw new Error(`--mmproj ${mmproj}: no such file`);
    return { text: p, mmproj, config: null, dir: null };
  }
  if (existsSync(p) && statSync(p).isDirectory() && existsSync(path.join(p, GGUF_CONFIG_FILE))) {
    const config = readFolderConfig(p);
    const text = path.join(p, config.model);
    const mm = mmproj ?? path.join(p, config.mmproj);
    for (const f of [text, mm]) if (!existsSync(f)) throw new Error(`${path.join(p, GGUF_CONFIG_FILE)} names ${f}, which does not exist`);
    return { text, mmproj: mm, config, dir: p };
  }
  if (mmproj) throw new Error(`--mmproj applies to a text GGUF model (--model FILE.gguf) or a llava quantize folder; ${p} is neither`);
  return null;
}

interface Entry {
  src: GgufSource;
  gguf: string;
  ropeHeads?: number;
}

/** GGUF tensors under the `gguf` layout's names; q/k rows restored to Hugging Face's order on read. */
class RenamedSource extends BaseWeightSource {
  constructor(private readonly entries: Map<string, Entry>) {
    super();
  }

  protected allKeys(): string[] {
    return [...this.entries.keys()];
  }

  override has(name: string): boolean {
    return this.entries.has(name);
  }

  protected read(name: string): Tensor {
    const e = this.entries.get(name)!;
    const t = e.src.get(e.gguf);
    const out = e.ropeHeads ? permuteRopeRows(t, e.ropeHeads, false) : t;
    // The permuted rows are a copy: the file's pages just read for it would otherwise stay resident beside
    // it (q and k are ~600 MB of a 7B q4_0 model).
    if (out !== t) releaseMappedPages(t.data.buffer);
    out.name = name;
    return out;
  }

  protected override describe(name: string): TensorInfo {
    const e = this.entries.get(name)!;
    return e.src.info(e.gguf);
  }

  protected where(name: string): string {
    const e = this.entries.get(name);
    return e ? `${e.src.label} (tensor "${e.gguf}")` : 'GGUF files';
  }
}

export interface GgufParts {
  parts: LlavaParts;
  eosTokenIds: number[] | null;
  /** Image preprocessing constants from the mmproj file. */
  imageSize: number;
  mean: number[];
  std: number[];
}

/** The config object, weights and settings of a GGUF model for the strict assembly. */
export function ggufLlavaParts(files: GgufModelFiles, opts: OpenOptions = {}): GgufParts {
  const text = openGguf(files.text, opts);
  const mm = openGguf(files.mmproj, opts);
  const tied = !text.has('output.weight');
  if (!text.has('token_embd.weight')) throw new Error(`${files.text}: no "token_embd.weight" tensor; not a LLaMA text GGUF`);
  const textJson = llamaConfigJsonFromGguf(text.metadata, files.text, text.info('token_embd.weight').shape[0]!, tied);
  const textCfg = normalizeLlamaConfig(llamaConfigFromJson(textJson), files.text);
  if (!mm.has('v.patch_embd.weight')) throw new Error(`${files.mmproj}: no "v.patch_embd.weight" tensor; not an mmproj GGUF`);
  const vis = mmprojConfigFromGguf(mm.metadata, files.mmproj, mm.info('v.patch_embd.weight').shape[1]!);
  const c = files.config;
  const hasBias = mm.has('mm.0.bias');
  const configJson: Record<string, unknown> = {
    model_type: 'llava',
    text_config: textJson,
    vision_config: vis.visionConfig,
    vision_feature_layer: vis.featureLayers.length === 1 ? vis.featureLayers[0] : vis.featureLayers,
    vision_feature_select_strategy: c?.vision_feature_select_strategy ?? 'default',
    projector_hidden_act: c?.projector_hidden_act ?? 'gelu',
    multimodal_projector_bias: hasBias,
    tie_word_embeddings: tied,
    ...(c?.image_token_index !== undefined ? { image_token_index: c.image_token_index } : {}),
  };

  const entries = new Map<string, Entry>();
  const claimed = new Set<string>();
  for (const s of llamaTensorSpecs(textCfg, tied)) {
    if (!text.has(s.gguf)) continue; // the assembly reports what is missing, by name
    entries.set(`text.${s.hf}`, { src: text, gguf: s.gguf, ropeHeads: s.ropeHeads });
    claimed.add(s.gguf);
  }
  for (const k of text.keys()) if (!claimed.has(k)) entries.set(`text.${k}`, { src: text, gguf: k });
  const hidden = vis.visionConfig.hidden_size as number;
  const mmClaimed = new Set<string>();
  const layers = vis.visionConfig.num_hidden_layers as number;
  for (const s of mmprojTensorSpecs(hasBias, layers)) {
    let gguf = s.gguf;
    // Older conversions name fc1 "ffn_down" and fc2 "ffn_up"; fc1's rows are as long as the hidden size.
    const m = /^v\.blk\.(\d+)\.ffn_(up|down)\.(weight|bias)$/.exec(gguf);
    if (m && mm.has(`v.blk.${m[1]}.ffn_down.weight`) && mm.info(`v.blk.${m[1]}.ffn_down.weight`).shape[1] === hidden && hidden !== vis.visionConfig.intermediate_size) {
      gguf = `v.blk.${m[1]}.ffn_${m[2] === 'up' ? 'down' : 'up'}.${m[3]}`;
    }
    if (!mm.has(gguf)) continue;
    entries.set(`mmproj.${s.hf}`, { src: mm, gguf });
    mmClaimed.add(gguf);
  }
  // LLaVA never applies the pooled output's norm; files that keep it get it under its CLIP name (ignorable).
  for (const leaf of ['weight', 'bias']) {
    if (mm.has(`v.post_ln.${leaf}`)) {
      entries.set(`mmproj.vision_model.post_layernorm.${leaf}`, { src: mm, gguf: `v.post_ln.${leaf}` });
      mmClaimed.add(`v.post_ln.${leaf}`);
    }
  }
  for (const k of mm.keys()) if (!mmClaimed.has(k)) entries.set(`mmproj.${k}`, { src: mm, gguf: k });

  const where = c && files.dir ? path.join(files.dir, GGUF_CONFIG_FILE) : `${files.text} + ${files.mmproj}`;
  return {
    parts: { configJson, configWhere: where, weights: new RenamedSource(entries), weightsWhere: where },
    eosTokenIds: c?.eos_token_id ?? null,
    imageSize: vis.visionConfig.image_size as number,
    mean: vis.mean,
    std: vis.std,
  };
}

/** The tokenizer stored in the text GGUF (null when it has none); `legacy` from the folder config. */
export function ggufTokenizer(files: Pick<GgufModelFiles, 'text' | 'config'>): LlamaTokenizer | null {
  const src = openGguf(files.text, { mmap: false });
  const data = tokenizerDataFromGguf(src.metadata, files.text);
  if (!data) return null;
  return tokenizerFromGguf(data, { legacy: files.config?.legacy }, files.text);
}

/**
 * The text GGUF of a model path (a `.gguf` file, or a quantize folder) and the folder config, without
 * requiring the mmproj file (the tokenizer lives in the text file); null for other paths.
 */
export function ggufTextFile(p: string): Pick<GgufModelFiles, 'text' | 'config'> | null {
  if (p.endsWith('.gguf')) return existsSync(p) ? { text: p, config: null } : null;
  if (existsSync(path.join(p, GGUF_CONFIG_FILE)) && statSync(p).isDirectory()) {
    const config = readFolderConfig(p);
    return { text: path.join(p, config.model), config };
  }
  return null;
}

/** The model name a GGUF model path stands for (the source folder's, else `general.name`, else the file's), or null for other paths. */
export function ggufModelName(p: string): string | null {
  const files = ggufTextFile(p);
  if (!files) return null;
  if (files.config?.name) return files.config.name;
  const name = openGguf(files.text, { mmap: false }).metadata.get('general.name');
  return name?.type === 'string' && name.value !== '' ? name.value : path.basename(files.text, '.gguf');
}

/** The text GGUF's `tokenizer.chat_template` of a GGUF model path (header only), or undefined. */
export function ggufChatTemplate(p: string): string | undefined {
  const files = ggufTextFile(p);
  if (!files) return undefined;
  const t = openGguf(files.text, { mmap: false }).metadata.get('tokenizer.chat_template');
  return t?.type === 'string' && t.value !== '' ? t.value : undefined;
}

/** Image size and normalization constants of an mmproj file (header only). */
export function mmprojImageSettings(mmproj: string): { imageSize: number; mean: number[]; std: number[] } {
  const src = openGguf(mmproj, { mmap: false });
  const numChannels = src.has('v.patch_embd.weight') ? src.info('v.patch_embd.weight').shape[1]! : 3;
  const v = mmprojConfigFromGguf(src.metadata, mmproj, numChannels);
  return { imageSize: v.visionConfig.image_size as number, mean: v.mean, std: v.std };
}
