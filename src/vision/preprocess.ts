/**
 * One image file (or buffer) → the pixel values a LLaVA/CLIP vision tower receives, the way the reference
 * pipeline produces them: Pillow-equivalent decode, optional pad-to-square ("pad", LLaVA-1.5 inference), CLIP
 * shortest-edge bicubic resize, center crop, rescale, normalize. The options come from the caller or from a
 * model folder (`preprocessOptionsFromModel` in config.ts); this file holds no defaults about models.
 */
import type { Tensor } from '../engine/tensor.js';
import { centerCrop, CLIP_MEAN, CLIP_STD, expandToSquare, padColor, resizeImage, shortestEdgeSize, toPixelValues } from './clip.js';
import { decodeImage, type RgbImage } from './decode.js';

export type AspectMode = 'pad' | 'crop';

export interface PreprocessOptions {
  /** Shortest-edge target of the resize (336 for LLaVA-1.5's tower); null skips resizing (do_resize: false). */
  size: number | null;
  /** 'pad': LLaVA's expand2square with the truncated mean colour first; 'crop': plain CLIP. */
  mode: AspectMode;
  /** Center-crop size [height, width]; defaults to size × size; null skips cropping (do_center_crop: false). */
  crop?: [number, number] | null;
  mean?: readonly number[];
  std?: readonly number[];
  /** 1/255 unless given; null skips rescaling. */
  rescaleFactor?: number | null;
  /** false skips mean/std normalization. */
  normalize?: boolean;
  autoOrient?: boolean;
  maxPixels?: number;
  /** Name used in errors for buffer input. */
  name?: string;
}

export interface PreprocessResult {
  /** float32 [1, 3, H, W]. */
  pixelValues: Tensor;
  /** The uint8 RGB image the pixel values are computed from (HWC, after pad/resize/crop). */
  imageU8: RgbImage;
  /** Decoded size before any processing. */
  original: { width: number; height: number };
  /** Size after padding and resizing, before the crop. */
  resized: { width: number; height: number };
  mode: AspectMode;
}

function checkOptions(o: PreprocessOptions): void {
  const posInt = (v: unknown) => Number.isInteger(v) && (v as number) > 0;
  if (o.size !== null && !posInt(o.size)) throw new Error(`preprocess: size must be a positive integer, got ${o.size}`);
  if (o.mode !== 'pad' && o.mode !== 'crop') throw new Error(`preprocess: mode must be 'pad' or 'crop', got ${String(o.mode)}`);
  if (o.crop && !(posInt(o.crop[0]) && posInt(o.crop[1]))) throw new Error(`preprocess: crop must be two positive integers, got [${o.crop.join(', ')}]`);
  for (const k of ['mean', 'std'] as const) {
    const v = o[k];
    if (v !== undefined && (v.length !== 3 || v.some((x) => !Number.isFinite(x)))) {
      throw new Error(`preprocess: ${k} must be three finite numbers, got [${v.join(', ')}]`);
    }
  }
  if (o.std?.some((x) => x === 0)) throw new Error('preprocess: std must not contain 0');
}

/** Run the preprocessing on an already decoded RGB image. */
export function preprocessRgb(img: RgbImage, opts: PreprocessOptions): PreprocessResult {
  checkOptions(opts);
  const mean = opts.mean ?? CLIP_MEAN;
  const std = opts.std ?? CLIP_STD;
  let cur = opts.mode === 'pad' ? expandToSquare(img, padColor(mean)) : img;
  if (opts.size !== null) {
    const [h, w] = shortestEdgeSize(cur.height, cur.width, opts.size);
    cur = resizeImage(cur, h, w);
  }
  const resized = { width: cur.width, height: cur.height };
  const crop = opts.crop === undefined ? (opts.size === null ? null : [opts.size, opts.size]) : opts.crop;
  if (crop) cur = centerCrop(cur, crop[0], crop[1]);
  const pixelValues = toPixelValues(cur, { mean, std, rescaleFactor: opts.rescaleFactor, normalize: opts.normalize });
  return { pixelValues, imageU8: cur, original: { width: img.width, height: img.height }, resized, mode: opts.mode };
}

/** Decode a file or buffer and preprocess it (see `decodeImage` for what the decode guarantees). */
export async function preprocessImage(input: string | Uint8Array, opts: PreprocessOptions): Promise<PreprocessResult> {
  checkOptions(opts);
  const img = await decodeImage(input, { autoOrient: opts.autoOrient, maxPixels: opts.maxPixels, name: opts.name });
  return preprocessRgb(img, opts);
}
