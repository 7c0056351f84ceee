/**
 * Images for generation → one pixel-values batch [M, C, S, S] for the vision tower, preprocessed the way the
 * model folder asks (src/vision's rules: processor config, LLaVA's image_aspect_ratio, tower folder). Each
 * image may be a file path, the encoded file's bytes, or an already decoded 8-bit RGB image.
 *
 * Not here: decoding and the resize/crop/normalize steps themselves (src/vision).
 */
import { cat } from '../engine/ops/index.js';
import type { Tensor } from '../engine/tensor.js';
import { fmtShape } from '../engine/shape.js';
import type { ClipVisionConfig } from '../models/clip/config.js';
import type { LoadedLlava } from '../models/llava/load.js';
import { preprocessImage, preprocessRgb, type PreprocessOptions } from '../vision/index.js';
import { modelPreprocessing } from './model-assets.js';
import type { ImageInput } from './options.js';

function isRgb(x: unknown): x is { width: number; height: number; data: Uint8Array } {
  return typeof x === 'object' && x !== null && !(x instanceof Uint8Array) && 'data' in x && 'width' in x && 'height' in x;
}

async function one(img: ImageInput, k: number, opts: PreprocessOptions): Promise<Tensor> {
  if (typeof img === 'string' || img instanceof Uint8Array) {
    return (await preprocessImage(img, { ...opts, name: typeof img === 'string' ? undefined : `image ${k + 1}` })).pixelValues;
  }
  if (isRgb(img)) {
    const { width: w, height: h, data } = img;
    if (!(Number.isInteger(w) && w > 0 && Number.isInteger(h) && h > 0) || !(data instanceof Uint8Array) || data.length !== w * h * 3) {
      throw new Error(`image ${k + 1}: a decoded image needs positive integer width and height and width × height × 3 RGB bytes (got ${w}×${h}, ${(data as Uint8Array | undefined)?.length ?? 'no'} bytes)`);
    }
    return preprocessRgb(img, opts).pixelValues;
  }
  throw new Error(`image ${k + 1}: expected a file path, a Buffer/Uint8Array or a decoded {width, height, data} RGB image`);
}

/** Pixel values [M, C, S, S] of `images` preprocessed with `opts`, checked against the tower's input size. */
export async function preprocessImages(images: readonly ImageInput[], opts: PreprocessOptions, vision: ClipVisionConfig): Promise<Tensor> {
  if (!Array.isArray(images) || images.length === 0) throw new Error('images must be a non-empty array');
  const parts = await Promise.all(images.map(async (img, k) => {
    const pv = await one(img, k, opts);
    const [, c, h, w] = pv.shape;
    if (c !== vision.numChannels || h !== vision.imageSize || w !== vision.imageSize) {
      throw new Error(`image ${k + 1}: preprocessed to ${fmtShape(pv.shape)} but the vision tower takes [1, ${vision.numChannels}, ${vision.imageSize}, ${vision.imageSize}]`);
    }
    return pv; // (1, C, S, S)
  }));
  return parts.length === 1 ? parts[0]! : cat(parts, 0);
}

/** Pixel values of `images` for `loaded`'s tower (preprocessing as its folder asks), or null for none. */
export async function pixelValuesFor(loaded: LoadedLlava, images: readonly ImageInput[] | undefined): Promise<Tensor | null> {
  if (images === undefined || (Array.isArray(images) && images.length === 0)) return null;
  const opts = modelPreprocessing(loaded).options;
  return preprocessImages(images, opts, loaded.config.vision);
}
