/**
 * The tokenizer and image preprocessing of a model path, whatever its format: a Hugging Face / original
 * LLaVA folder (tokenizer.model or tokenizer.json, preprocessor_config.json and config.json), or a GGUF
 * model (a `llava quantize` folder or a text `.gguf` file: the tokenizer stored in the text file; the image
 * size and normalization of the mmproj file, unless the folder has a preprocessor_config.json).
 *
 * Not here: reading any of these files (tokenizer/, vision/, models/llava/gguf-load.ts).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ggufChatTemplate, ggufModelName, ggufTextFile, ggufTokenizer, mmprojImageSettings } from '../models/llava/gguf-load.js';
import { loadTokenizer, type LlamaTokenizer } from '../tokenizer/index.js';
import { preprocessOptionsFromModel, type ModelPreprocessing } from '../vision/config.js';
import type { AspectMode } from '../vision/preprocess.js';

const TOKENIZER_FILES = ['tokenizer.model', 'tokenizer.json'];

/** Whether `model` has a tokenizer file, or is a GGUF model (whose text file may carry one). */
export function hasModelTokenizer(model: string): boolean {
  return TOKENIZER_FILES.some((f) => existsSync(path.join(model, f))) || (ggufTextFile(model) !== null && modelTokenizer(model) !== null);
}

const ggufTokenizers = new Map<string, LlamaTokenizer | null>();

/** The tokenizer of `model` (tokenizer files first), or null when it has none. */
export function modelTokenizer(model: string): LlamaTokenizer | null {
  if (TOKENIZER_FILES.some((f) => existsSync(path.join(model, f)))) return loadTokenizer(model);
  const files = ggufTextFile(model);
  if (!files) return null;
  if (!ggufTokenizers.has(files.text)) ggufTokenizers.set(files.text, ggufTokenizer(files));
  return ggufTokenizers.get(files.text)!;
}

/** How images are preprocessed for a loaded model (its folder's files, or its mmproj file). */
export function modelPreprocessing(loaded: { dir: string; towerDir: string | null; mmproj: string | null }, mode?: AspectMode): ModelPreprocessing {
  const folder = existsSync(path.join(loaded.dir, 'preprocessor_config.json'));
  if (!loaded.mmproj || folder) return preprocessOptionsFromModel(loaded.dir, { visionTower: loaded.towerDir ?? undefined, mode });
  const s = mmprojImageSettings(loaded.mmproj);
  return {
    options: { size: s.imageSize, crop: [s.imageSize, s.imageSize], mode: mode ?? 'crop', mean: s.mean, std: s.std, rescaleFactor: 1 / 255, normalize: true },
    sources: [`processor: image size and mean/std from ${loaded.mmproj}; mode ${mode ?? 'crop'}${mode ? ' (requested)' : ' (default)'}`],
  };
}

/**
 * The model name chat templates are chosen by, for GGUF models (the source folder's name kept by
 * `llava quantize`, or the file name); undefined for folders, whose own path names them.
 */
export function modelTemplateName(model: string): string | undefined {
  return ggufModelName(model) ?? undefined;
}

/** The Jinja chat template a GGUF model's text file carries (`tokenizer.chat_template`); undefined for folders. */
export function modelEmbeddedTemplate(model: string): string | undefined {
  return ggufChatTemplate(model);
}
