/**
 * Loading a LLaVA model folder: config.json (+ generation_config.json), the checkpoint files (whatever
 * src/io finds there: safetensors or torch .bin, single or sharded), and for original-layout checkpoints
 * without CLIP weights the tower folder found by tower.ts. `describeLlava` does the same resolution from
 * headers only (for `llava inspect`): no tensor data is read. A `.gguf` text file with `mmproj`, or a folder
 * written by `llava quantize`, is loaded from its two GGUF files (gguf-load.ts).
 *
 * Not here: the strict assembly rules (assemble.ts), preprocessing and tokenizer files (their modules).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { openCheckpoint } from '../../io/checkpoint.js';
import type { WeightSource } from '../../io/source.js';
import { assembleLlava, resolveLlava, type AssembledLlava, type LlavaParts, type ResolvedLlava, type TowerParts } from './assemble.js';
import { ggufLlavaParts, ggufModelFiles } from './gguf-load.js';
import { findVisionTower } from './tower.js';
import { checkWeightQuant, type WeightQuant } from '../llama/quant.js';

export interface LoadOptions {
  /** `--vision-tower DIR`: the CLIP folder of an original-layout checkpoint. */
  visionTower?: string;
  /** `--mmproj FILE`: the vision GGUF of a text GGUF model (or replacing a quantize folder's). */
  mmproj?: string;
  /** Map checkpoint files (default) or read each tensor into fresh memory (`false`: bounded resident memory). */
  mmap?: boolean;
  /** Environment for the HF cache lookup (default process.env). */
  env?: NodeJS.ProcessEnv;
  /**
   * Quantize the language model in memory as it loads (q8_0 or q4_0; see models/llama/quant.ts for the
   * per-tensor types). The vision tower and projector stay as stored.
   */
  quant?: WeightQuant;
}

export interface FolderInfo {
  dir: string;
  /** The mmproj GGUF of a GGUF model (its image size and normalization apply), else null. */
  mmproj: string | null;
  /** The CLIP tower folder used (original layout), or null. */
  towerDir: string | null;
  /** EOS ids: generation_config.json's, else the text config's. */
  eosTokenIds: number[];
}

export type LoadedLlava = AssembledLlava & FolderInfo;
export type DescribedLlava = ResolvedLlava & FolderInfo & { weights: WeightSource };

/** A JSON object from `file`, with errors naming it. */
export function readJsonObject(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${file}: expected a JSON object`);
  return v as Record<string, unknown>;
}

interface Parts {
  parts: LlavaParts;
  towerDir: () => string | null;
  generation: Record<string, unknown> | null;
  mmproj: string | null;
}

function folderParts(dir: string, opts: LoadOptions): Parts {
  // A text GGUF + mmproj GGUF (two files, or a `llava quantize` folder): config and weights from the files.
  const gguf = ggufModelFiles(dir, opts.mmproj);
  if (gguf) {
    const g = ggufLlavaParts(gguf, { mmap: opts.mmap });
    return { parts: g.parts, towerDir: () => null, generation: g.eosTokenIds ? { eos_token_id: g.eosTokenIds } : null, mmproj: gguf.mmproj };
  }
  if (!existsSync(dir)) throw new Error(`model folder ${dir} does not exist`);
  const configFile = path.join(dir, 'config.json');
  const configJson = readJsonObject(configFile);
  const weights = openCheckpoint(dir, { mmap: opts.mmap });
  let towerDir: string | null = null;
  const tower = (required: boolean): TowerParts | null => {
    let loc;
    try {
      loc = findVisionTower(dir, typeof configJson.mm_vision_tower === 'string' ? configJson.mm_vision_tower : null, opts.visionTower, opts.env);
    } catch (e) {
      if (required) throw e;
      return null;
    }
    towerDir = loc.dir;
    const cfg = path.join(loc.dir, 'config.json');
    return {
      configJson: existsSync(cfg) ? readJsonObject(cfg) : null,
      weights: required ? openCheckpoint(loc.dir, { mmap: opts.mmap }) : null,
      where: `vision tower ${loc.dir} (${loc.via === 'option' ? '--vision-tower' : loc.via === 'config-path' ? 'mm_vision_tower path' : 'Hugging Face cache'})`,
    };
  };
  const genFile = path.join(dir, 'generation_config.json');
  return {
    parts: { configJson, configWhere: configFile, weights, weightsWhere: dir, tower },
    towerDir: () => towerDir,
    generation: existsSync(genFile) ? readJsonObject(genFile) : null,
    mmproj: null,
  };
}

function eosIds(generation: Record<string, unknown> | null, fallback: number[]): number[] {
  const e = generation?.eos_token_id;
  if (typeof e === 'number') return [e];
  if (Array.isArray(e) && e.every((x) => typeof x === 'number')) return e as number[];
  return fallback;
}

/** Load and assemble the model in `dir` (weights read; strict checks applied). */
export function loadLlava(dir: string, opts: LoadOptions = {}): LoadedLlava {
  const quant = opts.quant === undefined ? undefined : checkWeightQuant(opts.quant, 'quant');
  const { parts, towerDir, generation, mmproj } = folderParts(dir, opts);
  const a = assembleLlava({ ...parts, quant });
  return { ...a, dir, mmproj, towerDir: towerDir(), eosTokenIds: eosIds(generation, a.config.text.eosTokenIds) };
}

/** Resolve the folder from headers only (for inspection). */
export function describeLlava(dir: string, opts: LoadOptions = {}): DescribedLlava {
  const { parts, towerDir, generation, mmproj } = folderParts(dir, opts);
  const r = resolveLlava(parts);
  return { ...r, dir, mmproj, towerDir: towerDir(), eosTokenIds: eosIds(generation, r.config.text.eosTokenIds), weights: parts.weights };
}
