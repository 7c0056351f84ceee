/**
 * The LLaMA tokenizer with the slow Hugging Face `LlamaTokenizer` semantics (transformers 4.37), over the
 * SentencePiece BPE model of sentencepiece.ts:
 *
 * - added tokens (`<s>`, `</s>`, `<unk>`, llava-hf's `<image>`/`<pad>`, …) are split out of the text first,
 *   leftmost-longest, honouring their lstrip/rstrip/single_word flags, and map straight to their ids;
 * - `legacy=true`: every other segment is encoded by SentencePiece with its dummy prefix, so text after a
 *   special token starts with `▁`;
 * - `legacy=false`: `▁` in the text becomes a space, one `▁` is prepended to the whole text, SentencePiece runs
 *   without its dummy prefix, segments starting with a space are encoded as `"<unk>" + segment` minus the
 *   tokens of `"<unk>"` (transformers' way of keeping a leading `▁`), and a lone leading `▁` before a special
 *   token is dropped;
 * - BOS (and EOS when configured) around the result; LLaVA's `tokenizer_image_token` (each `<image>`-separated
 *   chunk tokenized on its own, one BOS, −200 between chunks);
 * - decoding and streaming decoding through decode.ts.
 *
 * Every id can carry the source offset it starts at (`encodeWithOffsets`), used to label chat-template
 * segments. Loading from files lives in load.ts.
 */
import { DecodeStream, decodeIds, type DecodeContext, type DecodeOptions } from './decode.js';
import type { AddedTokenSpec } from './hf-json.js';
import { SPACE, type SentencePieceModel } from './sentencepiece.js';

export const IMAGE_TOKEN_INDEX = -200;
export const IGNORE_INDEX = -100;
export const IMAGE_PLACEHOLDER = '<image>';

export interface LlamaTokenizerOptions {
  /** transformers' `legacy` flag; true when a tokenizer_config.json does not say (as transformers defaults). */
  legacy?: boolean;
  addBosToken?: boolean;
  addEosToken?: boolean;
  bosToken?: string;
  eosToken?: string;
  unkToken?: string;
  padToken?: string | null;
  additionalSpecialTokens?: string[];
  /** Added tokens with ids (tokenizer.json `added_tokens`, tokenizer_config `added_tokens_decoder`, added_tokens.json). */
  addedTokens?: AddedTokenSpec[];
}

/** Ids with, for each, the offset (UTF-16 units) in the source text where its text starts (−1: BOS/EOS). */
export interface EncodedWithOffsets {
  ids: number[];
  starts: number[];
}

interface Segment {
  text: string;
  start: number;
  added?: AddedTokenSpec;
}

export class LlamaTokenizer {
  readonly legacy: boolean;
  readonly addBosToken: boolean;
  readonly addEosToken: boolean;
  readonly bosToken: string;
  readonly eosToken: string;
  readonly unkToken: string;
  readonly padToken: string | null;
  readonly bosId: number;
  readonly eosId: number;
  readonly unkId: number;
  readonly padId: number | null;
  /** SentencePiece with the dummy prefix this mode uses. */
  readonly sp: SentencePieceModel;
  private readonly added = new Map<string, AddedTokenSpec>();
  private readonly addedByFirst = new Map<number, AddedTokenSpec[]>();
  private readonly ctx: DecodeContext;
  private readonly unkTokenLength: number;

  constructor(sp: SentencePieceModel, opts: LlamaTokenizerOptions = {}) {
    this.legacy = opts.legacy ?? true;
    this.sp = this.legacy ? sp : sp.withDummyPrefix(false);
    this.addBosToken = opts.addBosToken ?? true;
    this.addEosToken = opts.addEosToken ?? false;
    this.bosToken = opts.bosToken ?? '<s>';
    this.eosToken = opts.eosToken ?? '</s>';
    this.unkToken = opts.unkToken ?? '<unk>';
    this.padToken = opts.padToken ?? null;

    let nextId = Math.max(sp.size, ...(opts.addedTokens ?? []).map((t) => t.id + 1));
    const addToken = (t: AddedTokenSpec) => {
      if (!this.added.has(t.content)) this.added.set(t.content, t);
    };
    for (const t of opts.addedTokens ?? []) addToken(t);
    // Special tokens are added tokens too; their id is the vocabulary's when the piece exists there.
    const specials = [this.unkToken, this.bosToken, this.eosToken, this.padToken, ...(opts.additionalSpecialTokens ?? [])];
    for (const content of specials) {
      if (content === null || this.added.has(content)) continue;
      const id = sp.findPiece(content) ?? nextId++;
      addToken({ id, content, special: true, lstrip: false, rstrip: false, singleWord: false });
    }
    for (const t of this.added.values()) {
      const k = t.content.charCodeAt(0);
      const list = this.addedByFirst.get(k) ?? [];
      list.push(t);
      list.sort((a, b) => b.content.length - a.content.length);
      this.addedByFirst.set(k, list);
    }
    const idOf = (content: string) => this.added.get(content)!.id;
    this.bosId = idOf(this.bosToken);
    this.eosId = idOf(this.eosToken);
    this.unkId = idOf(this.unkToken);
    this.padId = this.padToken === null ? null : idOf(this.padToken);

    const allSpecialTokens = new Set(specials.filter((s): s is string => s !== null));
    const addedContent = new Map<number, string>();
    for (const t of this.added.values()) addedContent.set(t.id, t.content);
    this.ctx = {
      sp: this.sp, legacy: this.legacy, allSpecialTokens,
      allSpecialIds: new Set([...allSpecialTokens].map(idOf)),
      legacyAddedTokens: new Set([...this.added.keys()].filter((c) => !allSpecialTokens.has(c))),
      addedContent, vocabSize: sp.size,
    };
    this.unkTokenLength = this.sp.encode(this.unkToken).length;
  }

  /** Number of ids: the SentencePiece vocabulary plus added tokens beyond it. */
  get size(): number {
    let n = this.sp.size;
    for (const t of this.added.values()) n = Math.max(n, t.id + 1);
    return n;
  }

  get addedTokens(): AddedTokenSpec[] {
    return [...this.added.values()].sort((a, b) => a.id - b.id);
  }

  /** Ids of the special tokens (skipped by decode with skipSpecialTokens). */
  get specialIds(): ReadonlySet<number> {
    return this.ctx.allSpecialIds;
  }

  /** Id of a token string: added tokens, then SentencePiece pieces; undefined when unknown. */
  tokenToId(token: string): number | undefined {
    return this.added.get(token)?.id ?? this.sp.findPiece(token);
  }

  /** Whether `id` is a piece or an added token (a model's embedding matrix is often padded beyond). */
  hasId(id: number): boolean {
    return Number.isInteger(id) && id >= 0 && (id < this.sp.size || this.ctx.addedContent.has(id));
  }

  /** Token string of an id (added-token content or SentencePiece piece). */
  idToToken(id: number): string {
    return this.ctx.addedContent.get(id) ?? this.sp.idToPiece(id);
  }

  private matchAdded(text: string, i: number): AddedTokenSpec | undefined {
    const list = this.addedByFirst.get(text.charCodeAt(i));
    if (!list) return undefined;
    for (const t of list) if (text.startsWith(t.content, i)) return t;
    return undefined;
  }

  /** transformers' added-token split (Trie.split, then the lstrip/rstrip/single_word adjustments). */
  private split(text: string, base: number): Segment[] {
    const parts: Segment[] = [];
    let start = 0;
    for (let i = 0; i < text.length;) {
      const t = this.matchAdded(text, i);
      if (!t) {
        i++;
        continue;
      }
      if (i > start) parts.push({ text: text.slice(start, i), start: base + start });
      parts.push({ text: t.content, start: base + i, added: t });
      i += t.content.length;
      start = i;
    }
    if (start < text.length) parts.push({ text: text.slice(start), start: base + start });
    for (let i = 0; i < parts.length; i++) {
      const t = parts[i]!.added;
      if (!t) continue;
      const left = parts[i - 1];
      const right = parts[i + 1];
      if (t.rstrip && right && right.text) {
        const s = right.text.replace(/^\s+/, '');
        right.start += right.text.length - s.length;
        right.text = s;
      }
      if (t.lstrip && left && left.text) left.text = left.text.replace(/\s+$/, '');
      if (t.singleWord && left && left.text && !left.text.endsWith(' ')) {
        left.text += parts[i]!.text;
        parts[i] = { text: '', start: parts[i]!.start };
      } else if (t.singleWord && right && right.text && !right.text.startsWith(' ')) {
        parts[i] = { text: parts[i]!.text + right.text, start: parts[i]!.start };
        right.text = '';
      }
    }
    return parts.filter((p) => p.text.length > 0);
  }

  /** `_tokenize`: SentencePiece on a non-added segment, with the non-legacy "<unk>" prefix trick. */
  private encodeSegment(seg: Segment, ids: number[], starts: number[]): void {
    const text = seg.text;
    if (this.legacy || !(text.startsWith(SPACE) || text.startsWith(' '))) {
      for (const t of this.sp.encode(text)) {
        ids.push(t.id);
        starts.push(seg.start + t.start);
      }
      return;
    }
    const prefixed = this.unkToken + text;
    const toks = this.sp.encode(prefixed);
    const keep = toks.length >= this.unkTokenLength ? toks.slice(this.unkTokenLength) : toks;
    for (const t of keep) {
      ids.push(t.id);
      starts.push(seg.start + Math.max(0, t.start - this.unkToken.length));
    }
  }

  /** Token ids of `text` without BOS/EOS (transformers `tokenize` + `convert_tokens_to_ids`), with offsets. */
  private tokenizeWithOffsets(text: string): EncodedWithOffsets {
    const ids: number[] = [];
    const starts: number[] = [];
    let work = text;
    let shift = 0;
    if (!this.legacy && text.length > 0) {
      work = SPACE + text.split(SPACE).join(' ');
      shift = 1;
    }
    for (const seg of this.split(work, -shift)) {
      if (seg.added && seg.text === seg.added.content) {
        ids.push(seg.added.id);
        starts.push(Math.max(0, seg.start));
      } else {
        this.encodeSegment(seg, ids, starts);
      }
    }
    for (let k = 0; k < starts.length; k++) if (starts[k]! < 0) starts[k] = 0;
    if (!this.legacy && ids.length > 1 && this.idToToken(ids[0]!) === SPACE
        && this.ctx.allSpecialTokens.has(this.idToToken(ids[1]!))) {
      ids.shift();
      starts.shift();
    }
    return { ids, starts };
  }

  /** Token ids of `text` with the configured BOS/EOS (`addBos` overrides add_bos_token). */
  encode(text: string, opts: { addBos?: boolean } = {}): number[] {
    return this.encodeWithOffsets(text, opts).ids;
  }

  encodeWithOffsets(text: string, opts: { addBos?: boolean } = {}): EncodedWithOffsets {
    const { ids, starts } = this.tokenizeWithOffsets(text);
    if (opts.addBos ?? this.addBosToken) {
      ids.unshift(this.bosId);
      starts.unshift(-1);
    }
    if (this.addEosToken) {
      ids.push(this.eosId);
      starts.push(-1);
    }
    return { ids, starts };
  }

  /** Token strings (pieces and added tokens) of `text`, without BOS/EOS. */
  tokenize(text: string): string[] {
    return this.tokenizeWithOffsets(text).ids.map((id) => this.idToToken(id));
  }

  /**
   * LLaVA's `tokenizer_image_token`: `prompt.split('<image>')`, each chunk encoded on its own (so text after an
   * image starts a new string and gets its own dummy-prefix `▁`), one BOS kept, `imageTokenIndex` between chunks.
   */
  tokenizerImageToken(prompt: string, opts: { addBos?: boolean; imageTokenIndex?: number } = {}): number[] {
    return this.tokenizerImageTokenWithOffsets(prompt, opts).ids;
  }

  tokenizerImageTokenWithOffsets(prompt: string, opts: { addBos?: boolean; imageTokenIndex?: number } = {}): EncodedWithOffsets {
    const image = opts.imageTokenIndex ?? IMAGE_TOKEN_INDEX;
    const chunks: (EncodedWithOffsets & { base: number })[] = [];
    let base = 0;
    for (const chunk of prompt.split(IMAGE_PLACEHOLDER)) {
      const e = this.encodeWithOffsets(chunk, opts);
      chunks.push({ ids: e.ids, starts: e.starts.map((s) => (s < 0 ? s : s + base)), base });
      base += chunk.length + IMAGE_PLACEHOLDER.length;
    }
    const ids: number[] = [];
    const starts: number[] = [];
    let offset = 0;
    const first = chunks[0]!;
    // As in LLaVA: a chunk list starting with the BOS id (even one written as "<s>" in the text) drops the
    // first id of every chunk.
    if (first.ids.length > 0 && first.ids[0] === this.bosId) {
      offset = 1;
      ids.push(first.ids[0]!);
      starts.push(-1);
    }
    chunks.forEach((c, k) => {
      if (k > 0) {
        ids.push(image);
        starts.push(c.base - IMAGE_PLACEHOLDER.length);
      }
      ids.push(...c.ids.slice(offset));
      starts.push(...c.starts.slice(offset));
    });
    return { ids, starts };
  }

  /** Text of `ids` (special tokens skipped unless `skipSpecialTokens: false`). */
  decode(ids: Iterable<number>, opts: DecodeOptions = {}): string {
    return decodeIds(this.ctx, ids, opts);
  }

  /** Incremental detokenizer: feed ids one by one; the pieces returned join to `decode(ids)`. */
  decodeStream(opts: DecodeOptions = {}): DecodeStream {
    return new DecodeStream(this.ctx, opts);
  }
}
