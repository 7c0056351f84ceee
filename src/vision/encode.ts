/**
 * Writes an 8-bit RGB image losslessly as PNG (through sharp), with no colour profile or metadata, so that
 * reading it back — here or with Pillow — gives the same bytes. Not an image exporter with options.
 */
import { rename, rm, writeFile } from 'node:fs/promises';
import sharp from 'sharp';
import type { RgbImage } from './decode.js';

/** PNG bytes of `img`. */
export async function encodePng(img: RgbImage): Promise<Buffer> {
  if (img.data.length !== img.width * img.height * 3) {
    throw new Error(`encodePng: ${img.data.length} bytes do not hold a ${img.width}×${img.height} RGB image`);
  }
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).png({ compressionLevel: 9 }).toBuffer();
}

/** Write `img` as a PNG file: a temporary file renamed into place, so a failed write leaves no partial file. */
export async function writePng(img: RgbImage, file: string): Promise<void> {
  const png = await encodePng(img);
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    await writeFile(tmp, png);
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw new Error(`cannot write ${file}: ${(e as Error).message}`);
  }
}
