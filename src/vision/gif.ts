/**
 * The one fact about a GIF's first frame that the image decoder cannot give back: which palette colour its
 * transparent index stands for. Reads the header, colour tables and extension blocks up to the first image
 * descriptor; it is not a GIF decoder (no LZW, no later frames).
 */

export interface GifTransparency {
  /** The colour of the transparent palette entry, as a palette lookup gives it. */
  rgb: [number, number, number];
  index: number;
}

/**
 * The transparent colour of the first frame, or null when the frame declares none (or the stream is too
 * short to say: then the decoder's own error is the one worth reporting).
 */
export function gifFirstFrameTransparency(bytes: Uint8Array): GifTransparency | null {
  const sig = String.fromCharCode(...bytes.subarray(0, 6));
  if (sig !== 'GIF87a' && sig !== 'GIF89a') return null;
  let p = 13;
  if (bytes.length < p) return null;
  const flags = bytes[10]!;
  let palette: Uint8Array | null = null;
  if (flags & 0x80) {
    const n = 3 << ((flags & 7) + 1);
    palette = bytes.subarray(p, p + n);
    p += n;
  }
  let transparent = -1;
  while (p < bytes.length) {
    const b = bytes[p]!;
    if (b === 0x21) {
      const label = bytes[p + 1];
      p += 2;
      // Graphic Control Extension: block size 4, packed flags, delay (2), transparent index.
      if (label === 0xf9 && bytes[p] === 4 && p + 4 < bytes.length) {
        transparent = bytes[p + 1]! & 1 ? bytes[p + 4]! : -1;
      }
      while (p < bytes.length && bytes[p] !== 0) p += bytes[p]! + 1;
      p += 1;
    } else if (b === 0x2c) {
      const local = bytes[p + 9] ?? 0;
      if (local & 0x80) {
        const n = 3 << ((local & 7) + 1);
        palette = bytes.subarray(p + 10, p + 10 + n);
      }
      break;
    } else {
      return null;
    }
  }
  if (transparent < 0 || !palette) return null;
  // An index past the colour table (malformed files only) reads as black; not checked against the reference.
  const c = (k: number) => palette![transparent * 3 + k] ?? 0;
  return { index: transparent, rgb: [c(0), c(1), c(2)] };
}
