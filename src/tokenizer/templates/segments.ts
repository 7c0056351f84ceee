/**
 * Chat-template output as segments — `{text, train}` runs and `{image}` slots — and their encoding into ids
 * and training labels in one pass: the whole string is tokenized once with LLaVA's `tokenizer_image_token`
 * (so tokens merge across segment borders exactly as in the reference), and each token is labelled by the
 * segments of the source characters it covers (−100 for untrained text, BOS and image slots).
 *
 * This reproduces LLaVA's `preprocess_v1` masks (both tokenizer modes) for vicuna_v1 conversations; what it
 * deliberately does not copy is preprocess_v1's failure mode, where a round whose separately tokenized length
 * disagrees with the whole (e.g. a literal "<unk>" counted as padding) masks the entire sample.
 */
import { IGNORE_INDEX, IMAGE_PLACEHOLDER, type LlamaTokenizer } from '../llama.js';

export type Segment = { text: string; train: boolean } | { image: true };

/** A rendered conversation: its segments and whether encoding adds BOS (false when the template wrote it). */
export interface RenderedChat {
  segments: Segment[];
  addBos: boolean;
}

export interface EncodedChat {
  ids: number[];
  labels: number[];
}

/** Appends `text` to `out`, turning each `<image>` placeholder into an image segment; merges equal neighbours. */
export function pushText(out: Segment[], text: string, train: boolean): void {
  const parts = text.split(IMAGE_PLACEHOLDER);
  parts.forEach((part, k) => {
    if (k > 0) out.push({ image: true });
    if (part.length === 0) return;
    const last = out[out.length - 1];
    if (last && 'text' in last && last.train === train) last.text += part;
    else out.push({ text: part, train });
  });
}

/** The prompt string of segments (images as `<image>`). */
export function segmentsToText(segments: readonly Segment[]): string {
  return segments.map((s) => ('image' in s ? IMAGE_PLACEHOLDER : s.text)).join('');
}

/** Number of image slots. */
export function countImages(segments: readonly Segment[]): number {
  return segments.filter((s) => 'image' in s).length;
}

/**
 * Source range [start, end) of each token: up to where the next token starts (byte pieces of one character
 * share it), the last token of a chunk up to the next `<image>` or the end of the text.
 */
function tokenEnds(ids: readonly number[], starts: readonly number[], textLength: number): number[] {
  const ends = new Array<number>(ids.length).fill(-1);
  let boundary = textLength;
  let nextStart = textLength;
  let nextEnd = textLength;
  for (let k = ids.length - 1; k >= 0; k--) {
    const s = starts[k]!;
    if (ids[k]! < 0) {
      boundary = nextStart = nextEnd = s;
      continue;
    }
    if (s < 0) continue;
    ends[k] = s === nextStart ? nextEnd : Math.min(nextStart, boundary);
    nextEnd = ends[k]!;
    nextStart = s;
  }
  return ends;
}

/**
 * Ids (−200 per image) and labels of rendered segments: a token is trained (label = its id) when any source
 * character it covers is in a trained segment — the rule of transformers' assistant-token masks; BOS and
 * images are −100.
 */
export function encodeSegments(tok: LlamaTokenizer, chat: RenderedChat | readonly Segment[]): EncodedChat {
  const { segments, addBos } = Array.isArray(chat) ? { segments: chat as Segment[], addBos: true } : (chat as RenderedChat);
  const text = segmentsToText(segments);
  const trainedBefore = new Int32Array(text.length + 1); // prefix sums of trained characters
  let at = 0;
  for (const s of segments) {
    const len = 'image' in s ? IMAGE_PLACEHOLDER.length : s.text.length;
    const on = !('image' in s) && s.train ? 1 : 0;
    for (let i = at; i < at + len; i++) trainedBefore[i + 1] = trainedBefore[i]! + on;
    at += len;
  }
  const { ids, starts } = tok.tokenizerImageTokenWithOffsets(text, { addBos });
  const ends = tokenEnds(ids, starts, text.length);
  const labels = ids.map((id, k) => {
    const s = starts[k]!;
    if (id < 0 || s < 0) return IGNORE_INDEX;
    const e = Math.max(ends[k]!, s + 1);
    return trainedBefore[Math.min(e, text.length)]! - trainedBefore[s]! > 0 ? id : IGNORE_INDEX;
  });
  return { ids, labels };
}
