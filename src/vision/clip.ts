/**
 * The CLIP image processor's geometry and arithmetic as LLaVA runs it (Hugging Face's slow/PIL
 * `CLIPImageProcessor`, plus LLaVA's `expand2square`), on 8-bit RGB images:
 *  - pad to square: the image pasted on a canvas of the mean colour truncated to integers, at the offset
 *    (side − short) // 2 (the odd pixel of padding goes to the bottom/right);
 *  - shortest-edge resize: the short side becomes `size`, the long side int(size · long / short) (a float
 *    division, then truncation), resampled with the PIL-exact bicubic;
 *  - center crop with floor offsets, and zero padding at ceil offsets where the image is smaller than the crop;
 *  - rescale (the uint8 value times the factor in double, stored as float32) and normalize in float32, CHW.
 * It is not the fast (torchvision) processor, which resizes float tensors and gives other values.
 */
import { tensor } from '../engine/ops/factory.js';
import type { Tensor } from '../engine/tensor.js';
import type { RgbImage } from './decode.js';
import { resizeBicubic } from './resample.js';

export const CLIP_MEAN: readonly [number, number, number] = [0.48145466, 0.4578275, 0.40821073];
export const CLIP_STD: readonly [number, number, number] = [0.26862954, 0.26130258, 0.27577711];

/** LLaVA's padding colour: each mean channel times 255, truncated (122, 116, 104 for CLIP). */
export function padColor(mean: readonly number[]): [number, number, number] {
  return [Math.trunc(mean[0]! * 255), Math.trunc(mean[1]! * 255), Math.trunc(mean[2]! * 255)];
}

/** LLaVA's `expand2square`: the image centred on a square canvas of `color`; square images are returned as they are. */
export function expandToSquare(img: RgbImage, color: readonly number[]): RgbImage {
  const { width: w, height: h } = img;
  if (w === h) return img;
  const side = Math.max(w, h);
  const data = new Uint8Array(side * side * 3);
  const row = new Uint8Array(side * 3);
  for (let i = 0; i < side; i++) row.set([color[0]!, color[1]!, color[2]!], i * 3);
  for (let y = 0; y < side; y++) data.set(row, y * side * 3);
  const left = w > h ? 0 : (h - w) >> 1;
  const top = w > h ? (w - h) >> 1 : 0;
  for (let y = 0; y < h; y++) data.set(img.data.subarray(y * w * 3, (y + 1) * w * 3), ((top + y) * side + left) * 3);
  return { width: side, height: side, data };
}

/** Hugging Face's `get_resize_output_image_size` for a shortest-edge size: [height, width]. */
export function shortestEdgeSize(height: number, width: number, size: number): [number, number] {
  const [short, long] = width <= height ? [width, height] : [height, width];
  const newLong = Math.trunc((size * long) / short);
  return width <= height ? [newLong, size] : [size, newLong];
}

export function resizeImage(img: RgbImage, height: number, width: number): RgbImage {
  return { width, height, data: resizeBicubic(img.data, img.width, img.height, 3, width, height) };
}

/**
 * Hugging Face's `center_crop`: offsets (orig − crop) // 2; where the image is smaller than the crop it is first
 * placed on a zero canvas at ceil((crop − orig) / 2).
 */
export function centerCrop(img: RgbImage, cropH: number, cropW: number): RgbImage {
  const { width: w, height: h } = img;
  if (w === cropW && h === cropH) return img;
  // Source index of crop row/column 0: (orig − crop) // 2 in both cases, since the zero canvas starts
  // ceil((crop − orig) / 2) before the image exactly where floor((orig − crop) / 2) points.
  const axis = (orig: number, crop: number) => Math.floor((orig - crop) / 2);
  const y0 = axis(h, cropH);
  const x0 = axis(w, cropW);
  const data = new Uint8Array(cropH * cropW * 3);
  for (let y = 0; y < cropH; y++) {
    const sy = y0 + y;
    if (sy < 0 || sy >= h) continue;
    const xa = Math.max(0, -x0);
    const xb = Math.min(cropW, w - x0);
    if (xb > xa) data.set(img.data.subarray((sy * w + x0 + xa) * 3, (sy * w + x0 + xb) * 3), (y * cropW + xa) * 3);
  }
  return { width: cropW, height: cropH, data };
}

export interface NormalizeOptions {
  mean: readonly number[];
  std: readonly number[];
  /** Multiplies the uint8 values (1/255 in CLIP configs); null skips rescaling. */
  rescaleFactor?: number | null;
  /** false skips the mean/std step (do_normalize: false). */
  normalize?: boolean;
}

/** Rescale + normalize an RGB image into float32 pixel values [1, 3, H, W] (CHW, batch of one). */
export function toPixelValues(img: RgbImage, opts: NormalizeOptions): Tensor {
  const { width: w, height: h, data } = img;
  const plane = w * h;
  const out = new Float32Array(3 * plane);
  const factor = opts.rescaleFactor === undefined ? 1 / 255 : opts.rescaleFactor;
  const normalize = opts.normalize !== false;
  for (let c = 0; c < 3; c++) {
    const m = Math.fround(opts.mean[c]!);
    const s = Math.fround(opts.std[c]!);
    for (let i = 0; i < plane; i++) {
      let x = data[i * 3 + c]!;
      if (factor !== null) x = Math.fround(x * factor);
      // float32 arithmetic: each double result rounded to float32 is the correctly rounded float32 result.
      out[c * plane + i] = normalize ? Math.fround(Math.fround(x - m) / s) : x;
    }
  }
  return tensor(out, { shape: [1, 3, h, w] });
}
