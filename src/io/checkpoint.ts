/**
 * From a path to a WeightSource: a checkpoint folder (Hugging Face file names, safetensors preferred over
 * torch .bin, a single file over an index — the order transformers tries them) or one weights file chosen
 * by its name.
 *
 * Deliberately knows nothing of what the tensors are: key layouts (LLaVA, CLIP, …) belong to the models.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type { FileWeightSource } from './file-source.js';
import { openGguf } from './gguf-reader.js';
import { openSafetensors, type OpenOptions } from './safetensors.js';
import { openTorchBin } from './torch-bin.js';

/** Weight file names looked for in a checkpoint folder, in order of preference. */
export const CHECKPOINT_FILES = ['model.safetensors', 'model.safetensors.index.json', 'pytorch_model.bin', 'pytorch_model.bin.index.json'] as const;

/** The weights file of checkpoint folder `dir` (first of CHECKPOINT_FILES present), or null. */
export function findCheckpointFile(dir: string): string | null {
  for (const f of CHECKPOINT_FILES) {
    const p = path.join(dir, f);
    if (existsSync(p) && statSync(p).isFile()) return p;
  }
  return null;
}

/**
 * Opens the checkpoint in folder `dir`; an error names the folder and the files looked for. `opts.mmap`
 * applies to safetensors files (torch archives are always read).
 */
export function openCheckpoint(dir: string, opts: OpenOptions = {}): FileWeightSource {
  if (!existsSync(dir)) throw new Error(`checkpoint folder ${dir} does not exist`);
  if (!statSync(dir).isDirectory()) throw new Error(`${dir} is not a folder`);
  const file = findCheckpointFile(dir);
  if (!file) throw new Error(`checkpoint folder ${dir} has no weights: none of ${CHECKPOINT_FILES.join(', ')}`);
  return openWeights(file, opts);
}

/**
 * Opens a weights file by its name (`*.safetensors`, `*.safetensors.index.json`, `*.bin.index.json`, `*.gguf`,
 * any other name as a torch.save archive such as `*.bin`/`*.pt`), or a folder as `openCheckpoint` does.
 */
export function openWeights(p: string, opts: OpenOptions = {}): FileWeightSource {
  if (!existsSync(p)) throw new Error(`weights ${p} do not exist`);
  if (statSync(p).isDirectory()) return openCheckpoint(p, opts);
  if (p.endsWith('.safetensors') || p.endsWith('.safetensors.index.json')) return openSafetensors(p, opts);
  if (p.endsWith('.gguf')) return openGguf(p, opts);
  if (p.endsWith('.json') && !p.endsWith('.bin.index.json')) {
    throw new Error(`${p}: an index file must be named *.safetensors.index.json or *.bin.index.json`);
  }
  return openTorchBin(p);
}
