/**
 * Preprocessing options from a model folder, read the way the reference reads them:
 *  - `preprocessor_config.json` (Hugging Face CLIPImageProcessor / LlavaImageProcessor): size (an int, the
 *    legacy openai form, or {shortest_edge}), crop_size (int or {height, width}), do_resize, do_center_crop,
 *    do_rescale, rescale_factor, do_normalize, image_mean, image_std, resample (bicubic only), do_pad;
 *    looked up in the model folder, then in the vision tower folder (the original LLaVA releases ship none and
 *    take the processor of `mm_vision_tower`);
 *  - `config.json`: the original LLaVA `image_aspect_ratio` ("pad" → pad-to-square; "square" or absent →
 *    plain CLIP; "anyres" is LLaVA-1.6 tiling and refused here).
 * The mode is, in order: the caller's override, `image_aspect_ratio`, `do_pad`, else crop.
 * Without any processor file the OpenAI CLIP constants are used with the tower's image size
 * (`vision_config.image_size`, else the `-336` suffix of `mm_vision_tower`); `sources` says which files
 * decided. Finding the vision tower (Hugging Face cache etc.) is the caller's: pass its folder as
 * `visionTower`; only an `mm_vision_tower` that is itself a folder is looked into here.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { CLIP_MEAN, CLIP_STD } from './clip.js';
import type { AspectMode, PreprocessOptions } from './preprocess.js';

export interface ModelPreprocessing {
  options: PreprocessOptions;
  /** Human-readable notes on where each decision came from (files read, defaults used). */
  sources: string[];
}

function readJson(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${file}: ${(e as Error).message}`);
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
    return v as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${file} is not valid JSON: ${(e as Error).message}`);
  }
}

function intField(file: string, key: string, v: unknown): number {
  if (!Number.isInteger(v) || (v as number) <= 0) throw new Error(`${file}: ${key} must be a positive integer, got ${JSON.stringify(v)}`);
  return v as number;
}

/** `size`: an int (shortest edge, as Hugging Face reads it for CLIP) or {shortest_edge}. */
function parseSize(file: string, v: unknown): number {
  if (typeof v === 'number') return intField(file, 'size', v);
  if (v && typeof v === 'object' && 'shortest_edge' in v) return intField(file, 'size.shortest_edge', (v as { shortest_edge: unknown }).shortest_edge);
  throw new Error(`${file}: size ${JSON.stringify(v)} is not supported (expected an integer or {"shortest_edge": N})`);
}

/** `crop_size`: an int (square) or {height, width}. */
function parseCrop(file: string, v: unknown): [number, number] {
  if (typeof v === 'number') {
    const s = intField(file, 'crop_size', v);
    return [s, s];
  }
  if (v && typeof v === 'object' && 'height' in v && 'width' in v) {
    const o = v as { height: unknown; width: unknown };
    return [intField(file, 'crop_size.height', o.height), intField(file, 'crop_size.width', o.width)];
  }
  throw new Error(`${file}: crop_size ${JSON.stringify(v)} is not supported (expected an integer or {"height": H, "width": W})`);
}

function triple(file: string, key: string, v: unknown): number[] {
  if (typeof v === 'number') return [v, v, v];
  if (Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'number' && Number.isFinite(x))) return v as number[];
  throw new Error(`${file}: ${key} must be a number or three numbers, got ${JSON.stringify(v)}`);
}

function modeFromAspect(file: string, v: unknown): AspectMode | null {
  if (v === undefined || v === null || v === '' || v === 'square') return v === undefined || v === null ? null : 'crop';
  if (v === 'pad') return 'pad';
  throw new Error(`${file}: image_aspect_ratio ${JSON.stringify(v)} is not supported (only "pad" and "square")`);
}

/** Options from a processor config object (exported for callers that hold the JSON already). */
export function optionsFromProcessorConfig(cfg: Record<string, unknown>, file = 'preprocessor_config.json'): PreprocessOptions {
  const type = cfg.image_processor_type;
  if (typeof type === 'string' && /LlavaNext|LlavaOnevision/.test(type)) {
    throw new Error(`${file}: ${type} (tiled "anyres" preprocessing) is not supported`);
  }
  if (cfg.resample !== undefined && cfg.resample !== 3) {
    throw new Error(`${file}: resample ${JSON.stringify(cfg.resample)} is not supported (only 3 = bicubic)`);
  }
  const size = cfg.do_resize === false ? null : cfg.size === undefined ? 224 : parseSize(file, cfg.size);
  const crop = cfg.do_center_crop === false ? null : cfg.crop_size === undefined ? [224, 224] as [number, number] : parseCrop(file, cfg.crop_size);
  const rescaleFactor = cfg.do_rescale === false ? null : cfg.rescale_factor === undefined ? 1 / 255 : (cfg.rescale_factor as number);
  if (rescaleFactor !== null && !(typeof rescaleFactor === 'number' && Number.isFinite(rescaleFactor))) {
    throw new Error(`${file}: rescale_factor must be a number, got ${JSON.stringify(cfg.rescale_factor)}`);
  }
  return {
    size,
    crop,
    mode: modeFromAspect(file, cfg.image_aspect_ratio) ?? (cfg.do_pad === true ? 'pad' : 'crop'),
    mean: cfg.image_mean === undefined ? CLIP_MEAN : triple(file, 'image_mean', cfg.image_mean),
    std: cfg.image_std === undefined ? CLIP_STD : triple(file, 'image_std', cfg.image_std),
    rescaleFactor,
    normalize: cfg.do_normalize !== false,
  };
}

export interface ModelPreprocessingOptions {
  /** Folder of the CLIP tower, searched for a processor config after the model folder. */
  visionTower?: string;
  /** Forces pad or crop regardless of the configs. */
  mode?: AspectMode;
}

/** The preprocessing a model folder asks for (see the file header for the rules). */
export function preprocessOptionsFromModel(modelDir: string, opts: ModelPreprocessingOptions = {}): ModelPreprocessing {
  if (!existsSync(modelDir)) throw new Error(`model folder ${modelDir} does not exist`);
  const sources: string[] = [];
  const configFile = path.join(modelDir, 'config.json');
  const config = existsSync(configFile) ? readJson(configFile) : null;
  // The original layout names its tower in mm_vision_tower: a folder (absolute or relative to the model) is
  // searched too; a hub name only tells the resolution (…-336).
  const tower = typeof config?.mm_vision_tower === 'string' ? config.mm_vision_tower : null;
  const towerPath = tower ? (path.isAbsolute(tower) ? tower : path.join(modelDir, tower)) : null;
  const towerDir = towerPath && existsSync(towerPath) ? towerPath : undefined;
  const dirs = [modelDir, ...(opts.visionTower ? [opts.visionTower] : []), ...(towerDir ? [towerDir] : [])];
  const candidates = dirs.map((d) => path.join(d, 'preprocessor_config.json'));
  const procFile = candidates.find((f) => existsSync(f));
  let options: PreprocessOptions;
  if (procFile) {
    options = optionsFromProcessorConfig(readJson(procFile), procFile);
    sources.push(`processor: ${procFile}`);
  } else {
    const vision = config?.vision_config as Record<string, unknown> | undefined;
    const named = tower ? /-(\d+)$/.exec(tower) : null;
    const size = vision?.image_size !== undefined ? intField(configFile, 'vision_config.image_size', vision.image_size) : named ? Number(named[1]) : 224;
    options = { size, crop: [size, size], mode: 'crop', mean: CLIP_MEAN, std: CLIP_STD, rescaleFactor: 1 / 255, normalize: true };
    const why = vision?.image_size !== undefined ? 'vision_config.image_size' : named ? `the tower name ${tower}` : 'the CLIP default';
    sources.push(`processor: no preprocessor_config.json in ${dirs.join(' or ')}; OpenAI CLIP defaults at ${size}×${size} (size from ${why})`);
  }
  const aspect = config ? modeFromAspect(configFile, config.image_aspect_ratio) : null;
  if (opts.mode) {
    options.mode = opts.mode;
    sources.push(`mode: ${opts.mode} (requested)`);
  } else if (aspect) {
    options.mode = aspect;
    sources.push(`mode: ${aspect} (image_aspect_ratio in ${configFile})`);
  } else {
    sources.push(`mode: ${options.mode} (${options.mode === 'pad' ? 'do_pad in the processor config' : 'no pad requested by the configs'})`);
  }
  return { options, sources };
}
