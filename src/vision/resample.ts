/**
 * Bicubic resize of 8-bit interleaved images that reproduces Pillow's `Image.resize(size, BICUBIC)` bit for
 * bit (Pillow's separable resampler for 8-bit images, the one CLIP/LLaVA preprocessing runs through).
 *
 * Hand-written in plain TypeScript on purpose: the model sees these uint8 values, and every library resizer
 * (sharp/libvips, canvas, torchvision, OpenCV) uses another kernel, another antialiasing rule or another
 * rounding, so "close" would shift every pixel_value. What has to match, per axis:
 *  - the Keys cubic kernel with a = −0.5 and support 2, stretched by the scale factor when downscaling
 *    (antialias) and never narrowed when upscaling;
 *  - each output sample's source window [xmin, xmax) from C-style truncation of center ± support + 0.5, the
 *    weights evaluated at (x − center + 0.5) / filterscale in double and divided by their own sum;
 *  - weights turned into 22-bit fixed point (round half away from zero), the accumulator starting at 2^21,
 *    and the result taken as acc >> 22 clamped to 0..255;
 *  - the horizontal pass first (only over the source rows the vertical pass will read), rounded to uint8,
 *    then the vertical pass; a pass whose dimension does not change is skipped, and an unchanged size is
 *    a plain copy.
 * It deliberately is not a general resampler: one filter, 8-bit samples, no box/region argument, no
 * reducing_gap pre-shrink (the CLIP path calls resize with reducing_gap=None).
 */

const PRECISION_BITS = 22;
const ONE = 1 << PRECISION_BITS;
const HALF = 1 << (PRECISION_BITS - 1);
const SUPPORT = 2;

/** Keys cubic convolution kernel, a = −0.5, written in the same operation order as the reference. */
function cubic(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

/** Fixed-point weights of one axis: for output i, `count[i]` taps starting at source index `first[i]`. */
export interface AxisWeights {
  first: Int32Array;
  count: Int32Array;
  /** `taps` slots per output; slot j of output i is weight[i * taps + j]. */
  weight: Int32Array;
  taps: number;
}

/** The per-axis weights for resizing `inSize` samples to `outSize` (both ≥ 1). */
export function axisWeights(inSize: number, outSize: number): AxisWeights {
  const scale = inSize / outSize;
  const filterscale = scale < 1 ? 1 : scale;
  const support = SUPPORT * filterscale;
  const taps = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weight = new Int32Array(outSize * taps);
  const w = new Float64Array(taps);
  const ss = 1 / filterscale;
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    let lo = Math.trunc(center - support + 0.5);
    if (lo < 0) lo = 0;
    let hi = Math.trunc(center + support + 0.5);
    if (hi > inSize) hi = inSize;
    const n = hi - lo;
    let sum = 0;
    for (let j = 0; j < n; j++) {
      const v = cubic((j + lo - center + 0.5) * ss);
      w[j] = v;
      sum += v;
    }
    for (let j = 0; j < n; j++) {
      const v = sum !== 0 ? w[j]! / sum : w[j]!;
      weight[o * taps + j] = v < 0 ? Math.trunc(-0.5 + v * ONE) : Math.trunc(0.5 + v * ONE);
    }
    first[o] = lo;
    count[o] = n;
  }
  return { first, count, weight, taps };
}

function clip8(acc: number): number {
  const v = acc >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** Horizontal pass over source rows [row0, row0 + rows): width changes, height is `rows`. */
function horizontal(src: Uint8Array, width: number, ch: number, row0: number, rows: number, ax: AxisWeights): Uint8Array {
  const outW = ax.first.length;
  const out = new Uint8Array(outW * rows * ch);
  const { first, count, weight, taps } = ax;
  for (let y = 0; y < rows; y++) {
    const rowBase = (row0 + y) * width * ch;
    const outBase = y * outW * ch;
    for (let x = 0; x < outW; x++) {
      const n = count[x]!;
      const kBase = x * taps;
      const pBase = rowBase + first[x]! * ch;
      for (let c = 0; c < ch; c++) {
        let acc = HALF;
        for (let j = 0; j < n; j++) acc += src[pBase + j * ch + c]! * weight[kBase + j]!;
        out[outBase + x * ch + c] = clip8(acc);
      }
    }
  }
  return out;
}

/** Vertical pass: rows of `src` (width `width`) are read relative to `rowOffset` (its first row). */
function vertical(src: Uint8Array, width: number, ch: number, rowOffset: number, ax: AxisWeights): Uint8Array {
  const outH = ax.first.length;
  const stride = width * ch;
  const out = new Uint8Array(outH * stride);
  const { first, count, weight, taps } = ax;
  for (let y = 0; y < outH; y++) {
    const n = count[y]!;
    const kBase = y * taps;
    const srcBase = (first[y]! - rowOffset) * stride;
    const outBase = y * stride;
    for (let i = 0; i < stride; i++) {
      let acc = HALF;
      for (let j = 0; j < n; j++) acc += src[srcBase + j * stride + i]! * weight[kBase + j]!;
      out[outBase + i] = clip8(acc);
    }
  }
  return out;
}

/**
 * Resize an interleaved uint8 image (`channels` samples per pixel, rows top to bottom) to outWidth × outHeight
 * exactly as Pillow's BICUBIC does for 8-bit modes. Returns a new array (a copy when the size is unchanged).
 */
export function resizeBicubic(
  src: Uint8Array, width: number, height: number, channels: number, outWidth: number, outHeight: number,
): Uint8Array {
  for (const [name, v] of [['width', width], ['height', height], ['outWidth', outWidth], ['outHeight', outHeight], ['channels', channels]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`resizeBicubic: ${name} must be a positive integer, got ${v}`);
  }
  if (src.length !== width * height * channels) {
    throw new Error(`resizeBicubic: ${src.length} bytes do not hold a ${width}×${height}×${channels} image`);
  }
  if (outWidth === width && outHeight === height) return src.slice();
  const needH = outWidth !== width;
  const needV = outHeight !== height;
  const vert = axisWeights(height, outHeight);
  // Only the source rows some output row reads are resampled horizontally.
  const rowFirst = vert.first[0]!;
  const rowLast = vert.first[outHeight - 1]! + vert.count[outHeight - 1]!;
  let img = src;
  let rowOffset = 0;
  if (needH) {
    img = horizontal(src, width, channels, rowFirst, rowLast - rowFirst, axisWeights(width, outWidth));
    rowOffset = rowFirst;
  }
  if (needV) img = vertical(img, outWidth, channels, rowOffset, vert);
  return img;
}
