/**
 * The facts about a GIF's first frame that the image decoder does not give back, for reproducing Pillow's
 * view of it: the frame's palette, its transparent index, and the rectangle it covers on the canvas. Pillow
 * shows the transparent index as its palette colour and fills the canvas outside the first frame with the
 * transparent index (or index 0 when there is none); libvips returns both as black. Reads the header, colour
 * tables and extension blocks up to the first image descriptor; it is not a GIF decoder (no LZW, no later
 * frames).
 */

export interface GifFirstFrame {
  /** RGB triplets of the colour table the first frame uses (its local table, else the global one). */
  palette: Uint8Array;
  /** Transparent palette index of the first frame, or −1. */
  transparent: number;
  left: number;
  top: number;
  width: number;
  height: number;
}

/** The first frame's description, or null when the stream is not a GIF or ends before the first frame. */
export function gifFirstFrame(bytes: Uint8Array): GifFirstFrame | null {
  const sig = String.fromCharCode(...bytes.subarray(0, 6));
  if ((sig !== 'GIF87a' && sig !== 'GIF89a') || bytes.length < 13) return null;
  const u16 = (p: number) => bytes[p]! | (bytes[p + 1]! << 8);
  let p = 13;
  const flags = bytes[10]!;
  let palette: Uint8Array = new Uint8Array(0);
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
      if (label === 0xf9 && bytes[p] === 4 && p + 4 < bytes.length) transparent = bytes[p + 1]! & 1 ? bytes[p + 4]! : -1;
      while (p < bytes.length && bytes[p] !== 0) p += bytes[p]! + 1;
      p += 1;
    } else if (b === 0x2c) {
      if (p + 10 > bytes.length) return null;
      const local = bytes[p + 9]!;
      if (local & 0x80) palette = bytes.subarray(p + 10, p + 10 + (3 << ((local & 7) + 1)));
      return { palette, transparent, left: u16(p + 1), top: u16(p + 3), width: u16(p + 5), height: u16(p + 7) };
    } else {
      return null;
    }
  }
  return null;
}

/** RGB of palette entry `index`; an entry past the table (malformed files only) reads as black, unverified. */
export function paletteColor(frame: GifFirstFrame, index: number): [number, number, number] {
  const c = (k: number) => frame.palette[index * 3 + k] ?? 0;
  return [c(0), c(1), c(2)];
}
