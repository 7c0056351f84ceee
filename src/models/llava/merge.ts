/**
 * Where image features go in a token sequence, as pure functions over arrays (no tensors).
 *
 * Input ids may mark an image with −200 (original LLaVA) or with `image_token_index` (llava-hf), in two
 * forms: a single placeholder id stands for one image, expanded to its `featuresPerImage` vectors; a run of
 * exactly `featuresPerImage` placeholder ids is one image already expanded (llava-hf processors ≥ 4.47),
 * and a run of k·featuresPerImage ids is k such images back to back. Any other run length is an error
 * naming the counts. Images are consumed in order. The plan says, for each merged position, whether it is
 * a text token (and which input position) or an image feature (which image, which vector).
 *
 * For batches, `leftPadding` lays merged sequences of different lengths out right-aligned in one
 * [B, width] grid (HF's padding_side "left"), which keeps every row's last real token in the last column.
 *
 * Not here: embedding or splicing tensors (model.ts does that with one embedding call and one `cat`),
 * tokenization.
 */

export type Segment =
  /** Input ids [start, end) that are text. */
  | { kind: 'text'; start: number; end: number }
  /** All feature vectors of image `image`. */
  | { kind: 'image'; image: number };

export interface MergePlan {
  segments: Segment[];
  /** Merged sequence length: text tokens + images · featuresPerImage. */
  length: number;
  /** Images consumed. */
  images: number;
  featuresPerImage: number;
}

export interface MergeOptions {
  /** Ids that mark images (e.g. [−200, 32000]). */
  placeholderIds: readonly number[];
  featuresPerImage: number;
  /** Images supplied; the placeholders must account for exactly this many. */
  numImages: number;
}

/** Split `ids` into text runs and images. */
export function planMerge(ids: readonly number[], opts: MergeOptions): MergePlan {
  const { featuresPerImage: n, numImages } = opts;
  const isImage = (id: number) => opts.placeholderIds.includes(id);
  const segments: Segment[] = [];
  let images = 0;
  let i = 0;
  while (i < ids.length) {
    const start = i;
    const image = isImage(ids[i]!);
    while (i < ids.length && isImage(ids[i]!) === image) i++;
    if (!image) {
      segments.push({ kind: 'text', start, end: i });
      continue;
    }
    const run = i - start;
    let count: number;
    if (run === 1) count = 1;
    else if (run % n === 0) count = run / n;
    else {
      throw new Error(`input ids: a run of ${run} image placeholder ids at position ${start}; ` +
        `an image is either 1 placeholder id or exactly ${n} (one per image feature)`);
    }
    for (let k = 0; k < count; k++) segments.push({ kind: 'image', image: images++ });
  }
  if (images !== numImages) {
    throw new Error(`input ids: the image placeholders stand for ${images} image(s) but ${numImages} image(s) were given`);
  }
  const textLength = segments.reduce((s, g) => s + (g.kind === 'text' ? g.end - g.start : 0), 0);
  return { segments, length: textLength + images * n, images, featuresPerImage: n };
}

/** The text ids of the plan in order (what one embedding call needs). */
export function textIds(ids: readonly number[], plan: MergePlan): number[] {
  return plan.segments.flatMap((g) => (g.kind === 'text' ? ids.slice(g.start, g.end) : []));
}

/** Per merged position: `ignoreIndex` on image features, the input label on text (training labels). */
export function mergeLabels(labels: readonly number[], plan: MergePlan, ignoreIndex = -100): number[] {
  return plan.segments.flatMap((g) =>
    g.kind === 'text' ? labels.slice(g.start, g.end) : new Array<number>(plan.featuresPerImage).fill(ignoreIndex));
}

/** Where each image's features start in the merged sequence. */
export function imageOffsets(plan: MergePlan): number[] {
  const out: number[] = [];
  let at = 0;
  for (const g of plan.segments) {
    if (g.kind === 'image') out.push(at);
    at += g.kind === 'text' ? g.end - g.start : plan.featuresPerImage;
  }
  return out;
}

export interface LeftPadding {
  /** Columns of the batch: the longest row. */
  width: number;
  /** Pad columns in front of each row. */
  pads: number[];
  /** Per row and column: 1 on real positions, 0 on pads (HF's attention_mask). */
  mask: number[][];
}

/** Left-pad rows of merged lengths `lengths` to the longest. */
export function leftPadding(lengths: readonly number[]): LeftPadding {
  if (lengths.length === 0) throw new Error('batch: at least one sequence is needed');
  const bad = lengths.findIndex((n) => !Number.isInteger(n) || n < 1);
  if (bad >= 0) throw new Error(`batch: sequence ${bad} has length ${lengths[bad]}; every sequence needs at least one position`);
  const width = Math.max(...lengths);
  const pads = lengths.map((n) => width - n);
  return { width, pads, mask: pads.map((p) => Array.from({ length: width }, (_, j) => (j < p ? 0 : 1))) };
}
