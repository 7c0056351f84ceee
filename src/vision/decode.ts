/**
 * Image decoding (sharp/libvips) into full-size 8-bit RGB exactly as Pillow's
 * `Image.open(path).convert("RGB")` sees the file: the first frame/page, the stored orientation (EXIF ignored
 * unless `autoOrient`), embedded ICC profiles and gAMA ignored (Pillow's convert does no colour management),
 * alpha dropped (not composited), palettes expanded, and Pillow's own rules for the modes whose conversion is
 * not a plain cast:
 *  - CMYK: rgb = clip(255 − k − c·(255 − k)/255) with Pillow's integer division-by-255, from the raw ink values
 *    (libvips would otherwise colour-manage CMYK through a built-in profile);
 *  - 16-bit greyscale without alpha (Pillow modes I / I;16): values are clipped to 0..255, not scaled, so most
 *    16-bit grey images come out nearly white — that is what the reference model saw;
 *  - other 16-bit images (RGB, RGBA, grey + alpha): the high byte;
 *  - GIF: transparent pixels show their palette colour, and the canvas outside the first frame the
 *    transparent (else the first) palette colour (libvips returns both as black).
 * It is not a general image loader: no resizing, no shrink-on-load, no colour management, no later frames.
 */
import { readFile } from 'node:fs/promises';
import sharp, { type Metadata, type Sharp, type SharpOptions } from 'sharp';
import { gifFirstFrame, paletteColor } from './gif.js';

/** An 8-bit RGB image, rows top to bottom, pixels interleaved R, G, B. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/**
 * Pillow refuses images above 2 × `Image.MAX_IMAGE_PIXELS` (89,478,485) with DecompressionBombError; the same
 * bound is the default here.
 */
export const DEFAULT_MAX_PIXELS = 2 * 89_478_485;

export interface DecodeOptions {
  /** Apply the EXIF orientation (Pillow's `ImageOps.exif_transpose`); off by default as in the reference. */
  autoOrient?: boolean;
  /** Largest width × height accepted; 0 or Infinity lifts the limit. */
  maxPixels?: number;
  /** Name used in errors for buffer input. */
  name?: string;
}

/** Read a file or take bytes; the error names the file. */
async function readBytes(input: string | Uint8Array, name: string): Promise<Uint8Array> {
  if (typeof input !== 'string') return input;
  try {
    return await readFile(input);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`cannot read image ${name}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
}

function checkPixels(name: string, width: number, height: number, maxPixels: number): void {
  const n = width * height;
  if (maxPixels > 0 && Number.isFinite(maxPixels) && n > maxPixels) {
    throw new Error(`image ${name} is ${width}×${height} = ${n} pixels, more than the limit of ${maxPixels} (raise maxPixels / --max-pixels to accept it)`);
  }
}

/** Pillow's CMYK → RGB: nk − round(ink·nk/255) with its exact integer rounding, clipped. */
function cmykToRgb(src: Uint8Array, ch: number, n: number, out: Uint8Array): void {
  for (let i = 0; i < n; i++) {
    const nk = 255 - src[i * ch + 3]!;
    for (let c = 0; c < 3; c++) {
      const t = src[i * ch + c]! * nk + 128;
      const v = nk - (((t >> 8) + t) >> 8);
      out[i * 3 + c] = v < 0 ? 0 : v;
    }
  }
}

/** Grey (1 band) or grey + alpha (2), RGB (3) or RGBA (4) samples → RGB, each sample through `map`. */
function bandsToRgb(src: ArrayLike<number>, ch: number, n: number, out: Uint8Array, map: (v: number) => number): void {
  const grey = ch <= 2;
  for (let i = 0; i < n; i++) {
    const p = i * ch;
    if (grey) {
      out[i * 3] = out[i * 3 + 1] = out[i * 3 + 2] = map(src[p]!);
    } else {
      out[i * 3] = map(src[p]!);
      out[i * 3 + 1] = map(src[p + 1]!);
      out[i * 3 + 2] = map(src[p + 2]!);
    }
  }
}

/**
 * Pillow's first GIF frame: transparent pixels show their palette colour, and the canvas outside the frame
 * holds the transparent index (index 0 without one); libvips gives black for both.
 */
function fixGifFirstFrame(bytes: Uint8Array, samples: Uint8Array, ch: number, width: number, height: number, out: Uint8Array): void {
  const f = gifFirstFrame(bytes);
  if (!f) return;
  const fill = paletteColor(f, f.transparent >= 0 ? f.transparent : 0);
  for (let y = 0; y < height; y++) {
    const inRows = y >= f.top && y < f.top + f.height;
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const outside = !inRows || x < f.left || x >= f.left + f.width;
      if (outside || (ch === 4 && f.transparent >= 0 && samples[i * 4 + 3] === 0)) out.set(fill, i * 3);
    }
  }
}

const identity = (v: number) => v;
const highByte = (v: number) => v >> 8;
const clip255 = (v: number) => (v > 255 ? 255 : v);

async function rawPixels(pipeline: Sharp, ushort: boolean) {
  const { data, info } = await pipeline.raw(ushort ? { depth: 'ushort' } : {}).toBuffer({ resolveWithObject: true });
  // A 16-bit view needs an even offset; copy in the (unexpected) case sharp hands back an odd one.
  const bytes = ushort && data.byteOffset % 2 ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.length);
  const samples = ushort ? new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length >> 1) : bytes;
  return { samples, width: info.width, height: info.height, channels: info.channels as number };
}

/**
 * Decode JPEG, PNG, WebP, GIF (first frame), TIFF (first page) and the other formats sharp reads into RGB as
 * Pillow's `convert("RGB")` would. Errors name the file: unreadable, not an image, truncated/corrupt, more
 * pixels than `maxPixels`, or a sample format Pillow would not convert either.
 */
export async function decodeImage(input: string | Uint8Array, opts: DecodeOptions = {}): Promise<RgbImage> {
  const name = typeof input === 'string' ? input : (opts.name ?? '<buffer>');
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  const bytes = await readBytes(input, name);
  const base: SharpOptions = {
    failOn: 'error',
    limitInputPixels: maxPixels > 0 && Number.isFinite(maxPixels) ? maxPixels : false,
    ignoreIcc: true,
    pages: 1,
    page: 0,
    autoOrient: opts.autoOrient === true,
  };
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { ...base, limitInputPixels: false }).metadata();
  } catch (e) {
    throw new Error(`image ${name} cannot be decoded: ${(e as Error).message}`);
  }
  checkPixels(name, meta.width, meta.height, maxPixels);
  if (meta.depth !== 'uchar' && meta.depth !== 'ushort') {
    throw new Error(`image ${name} has ${meta.depth} samples; only 8- and 16-bit integer images are supported`);
  }
  const ushort = meta.depth === 'ushort';
  // Keep the file's own bands (no colour management) wherever the reference converts them itself.
  const space = meta.space === 'cmyk' ? 'cmyk' : ushort ? (meta.space === 'grey16' || meta.space === 'b-w' ? 'grey16' : 'rgb16') : null;
  if (space === 'cmyk' && ushort) throw new Error(`image ${name} is 16-bit CMYK, which is not supported`);
  let px: Awaited<ReturnType<typeof rawPixels>>;
  try {
    let pipeline = sharp(bytes, base);
    if (space) pipeline = pipeline.pipelineColourspace(space).toColourspace(space);
    px = await rawPixels(pipeline, ushort);
  } catch (e) {
    throw new Error(`image ${name} cannot be decoded: ${(e as Error).message}`);
  }
  const { samples, width, height, channels } = px;
  const n = width * height;
  const out = new Uint8Array(n * 3);
  if (space === 'cmyk') {
    cmykToRgb(samples as Uint8Array, channels, n, out);
  } else if (ushort) {
    // Pillow opens 16-bit grey as a 32-bit integer mode and clips it; everything else keeps the high byte.
    bandsToRgb(samples, channels, n, out, channels === 1 ? clip255 : highByte);
  } else if (channels === 3) {
    out.set(samples);
  } else {
    bandsToRgb(samples, channels, n, out, identity);
  }
  if (meta.format === 'gif') fixGifFirstFrame(bytes, samples as Uint8Array, channels, width, height, out);
  return { width, height, data: out };
}
