/**
 * SentencePiece BPE encoding with byte fallback, as the sentencepiece library (0.1.x) performs it: the
 * identity normalizer (dummy-prefix `▁`, spaces escaped to `▁`, optional removal of extra whitespace),
 * characters as initial symbols (user-defined pieces matched whole and frozen), then repeated merging of the
 * adjacent pair whose concatenation is a piece with the highest score — ties go to the leftmost pair — using
 * a priority queue over a linked list of symbols (O(n log n) for long inputs). Unknown symbols become UTF-8
 * byte pieces when the model has byte fallback, else one `<unk>` per run.
 *
 * Every token carries the offset (UTF-16 code units) of the source character it starts at, which lets
 * callers attribute tokens to parts of the text (chat-template labels).
 *
 * This is the raw SentencePiece layer only: special/added tokens, BOS and the Hugging Face `legacy` rules
 * live in llama.ts; piece-level decoding lives in decode.ts. Unigram models and normalizers with compiled
 * rule tables (nmt_nfkc) are not supported and are rejected at load time.
 */
import { PieceType, type SentencePieceSpec } from './protobuf.js';

export const SPACE = '\u2581';

/** One encoded token: its id and the source offset of the text it covers. */
export interface SpToken {
  id: number;
  start: number;
}

/** Lookup tables built once per model file and shared by its re-configured views. */
export interface Tables {
  spec: SentencePieceSpec;
  /** NORMAL, USER_DEFINED and UNUSED pieces: the only ones a merge may produce (sentencepiece `pieces_`). */
  mergeable: Map<string, number>;
  /** UNKNOWN, CONTROL and BYTE pieces (sentencepiece `reserved_id_map_`). */
  reserved: Map<string, number>;
  scores: Float64Array;
  types: Uint8Array;
  unkId: number;
  /** Byte value → id of its `<0xXX>` piece (−1 when absent). */
  byteIds: Int32Array;
  /** Id → byte value for BYTE pieces (−1 otherwise). */
  byteOfId: Int16Array;
  /** User-defined pieces by their first UTF-16 unit, longest first. */
  userDefined: Map<number, string[]>;
}

interface Pair {
  score: number;
  left: number;
  right: number;
  size: number;
}

/** Max-heap on (score, then smaller left) — the order of sentencepiece's agenda. */
class Agenda {
  private items: Pair[] = [];
  get size(): number { return this.items.length; }

  private static before(a: Pair, b: Pair): boolean {
    return a.score > b.score || (a.score === b.score && a.left < b.left);
  }

  push(p: Pair): void {
    const h = this.items;
    h.push(p);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!Agenda.before(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  pop(): Pair {
    const h = this.items;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && Agenda.before(h[l]!, h[m]!)) m = l;
        if (r < h.length && Agenda.before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

function buildTables(spec: SentencePieceSpec): Tables {
  if (spec.modelType !== 2) {
    const kind = ['', 'unigram', 'BPE', 'word', 'char'][spec.modelType] ?? `type ${spec.modelType}`;
    throw new Error(`SentencePiece model is ${kind}; only BPE models (LLaMA family) are supported`);
  }
  if (spec.charsmapBytes > 0 && spec.normalizerName !== 'identity') {
    throw new Error(`SentencePiece normalizer '${spec.normalizerName}' uses compiled normalization rules, which are not supported (only 'identity')`);
  }
  const n = spec.pieces.length;
  const t: Tables = {
    spec, mergeable: new Map(), reserved: new Map(), scores: new Float64Array(n), types: new Uint8Array(n), unkId: -1,
    byteIds: new Int32Array(256).fill(-1), byteOfId: new Int16Array(n).fill(-1), userDefined: new Map(),
  };
  spec.pieces.forEach((p, id) => {
    if (p.piece.length === 0) throw new Error(`SentencePiece model: piece ${id} is empty`);
    t.scores[id] = p.score;
    t.types[id] = p.type;
    const normal = p.type === PieceType.NORMAL || p.type === PieceType.USER_DEFINED || p.type === PieceType.UNUSED;
    const map = normal ? t.mergeable : t.reserved;
    if (map.has(p.piece)) throw new Error(`SentencePiece model: piece '${p.piece}' is defined twice (ids ${map.get(p.piece)} and ${id})`);
    map.set(p.piece, id);
    if (p.type === PieceType.UNKNOWN) {
      if (t.unkId >= 0) throw new Error(`SentencePiece model: two unknown pieces (ids ${t.unkId} and ${id})`);
      t.unkId = id;
    }
    if (p.type === PieceType.BYTE) {
      const m = /^<0x([0-9A-F]{2})>$/.exec(p.piece);
      if (!m) throw new Error(`SentencePiece model: byte piece ${id} is '${p.piece}', expected <0xXX>`);
      const b = parseInt(m[1]!, 16);
      t.byteIds[b] = id;
      t.byteOfId[id] = b;
    }
    if (p.type === PieceType.USER_DEFINED) {
      const k = p.piece.charCodeAt(0);
      const list = t.userDefined.get(k) ?? [];
      list.push(p.piece);
      list.sort((a, b) => b.length - a.length);
      t.userDefined.set(k, list);
    }
  });
  if (t.unkId < 0) throw new Error('SentencePiece model has no unknown piece (<unk>)');
  if (spec.byteFallback) {
    const missing = [...t.byteIds].findIndex((v) => v < 0);
    if (missing >= 0) throw new Error(`SentencePiece model has byte fallback but no piece for byte 0x${missing.toString(16)}`);
  }
  return t;
}

const utf8Encoder = new TextEncoder();

/** A SentencePiece BPE model. Instances share their tables; `withDummyPrefix` gives a re-configured view. */
export class SentencePieceModel {
  private readonly t: Tables;
  readonly addDummyPrefix: boolean;

  constructor(spec: SentencePieceSpec | Tables, addDummyPrefix?: boolean) {
    this.t = 'mergeable' in spec ? spec : buildTables(spec);
    this.addDummyPrefix = addDummyPrefix ?? this.t.spec.addDummyPrefix;
  }

  /** The same model with `add_dummy_prefix` overridden (what transformers does for legacy=false). */
  withDummyPrefix(on: boolean): SentencePieceModel {
    return new SentencePieceModel(this.t, on);
  }

  get size(): number { return this.t.spec.pieces.length; }
  /** The model file's settings (add_dummy_prefix there, whatever this view overrides). */
  get spec(): SentencePieceSpec { return this.t.spec; }
  get unkId(): number { return this.t.unkId; }
  get byteFallback(): boolean { return this.t.spec.byteFallback; }
  get unkSurface(): string { return this.t.spec.unkSurface; }
  get removeExtraWhitespaces(): boolean { return this.t.spec.removeExtraWhitespaces; }
  /** Whether decoding drops the `▁` of the first piece (sentencepiece: add_dummy_prefix or remove_extra_whitespaces). */
  get decodeStripsLeadingSpace(): boolean { return this.addDummyPrefix || this.t.spec.removeExtraWhitespaces; }

  idToPiece(id: number): string {
    const p = this.t.spec.pieces[id];
    if (!p) throw new Error(`token id ${id} is outside the SentencePiece vocabulary (0..${this.size - 1})`);
    return p.piece;
  }

  /** sentencepiece PieceToId: reserved pieces first, then normal ones, else the unknown id. */
  pieceToId(piece: string): number {
    return this.t.reserved.get(piece) ?? this.t.mergeable.get(piece) ?? this.t.unkId;
  }

  /** Id of a piece string, or undefined when the vocabulary does not contain it. */
  findPiece(piece: string): number | undefined {
    return this.t.reserved.get(piece) ?? this.t.mergeable.get(piece);
  }

  type(id: number): PieceType { return this.t.types[id] as PieceType; }
  isControl(id: number): boolean { return this.t.types[id] === PieceType.CONTROL; }
  isUnknown(id: number): boolean { return id === this.t.unkId; }
  isByte(id: number): boolean { return this.t.types[id] === PieceType.BYTE; }
  /** Byte value of a BYTE piece id. */
  byteValue(id: number): number { return this.t.byteOfId[id]!; }
  score(id: number): number { return this.t.scores[id]!; }

  /**
   * sentencepiece's identity normalizer: returns the normalized text (code units) and, for each of its
   * positions plus one past the end, the source offset it came from.
   */
  normalize(text: string): { norm: string; orig: number[] } {
    const spec = this.t.spec;
    const out: string[] = [];
    const orig: number[] = [];
    if (text.length === 0) return { norm: '', orig: [0] };
    let i = 0;
    if (spec.removeExtraWhitespaces) while (i < text.length && text.charCodeAt(i) === 0x20) i++;
    if (i === text.length) return { norm: '', orig: [i] };
    const ws = spec.escapeWhitespaces ? SPACE : ' ';
    const addWs = (at: number) => { out.push(ws); orig.push(at); };
    if (!spec.treatWhitespaceAsSuffix && this.addDummyPrefix) addWs(i);
    let prevSpace = spec.removeExtraWhitespaces;
    while (i < text.length) {
      const start = i;
      let chunk = this.userDefinedAt(text, i);
      if (chunk !== undefined) i += chunk.length;
      else {
        const c = text.charCodeAt(i);
        if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
          chunk = text.slice(i, i + 2);
          i += 2;
        } else {
          // A lone surrogate cannot be UTF-8 encoded; it becomes U+FFFD as malformed input does in sentencepiece.
          chunk = (c & 0xf800) === 0xd800 ? '\ufffd' : text[i]!;
          i += 1;
        }
      }
      let k = 0;
      if (prevSpace) while (k < chunk.length && chunk.charCodeAt(k) === 0x20) k++;
      if (k < chunk.length) {
        for (; k < chunk.length; k++) {
          const ch = chunk[k]!;
          out.push(ch === ' ' && spec.escapeWhitespaces ? SPACE : ch);
          orig.push(start);
        }
        prevSpace = chunk.endsWith(' ');
      }
      if (!spec.removeExtraWhitespaces) prevSpace = false;
    }
    let consumed = text.length;
    if (spec.removeExtraWhitespaces) {
      while (out.length > 0 && out[out.length - 1] === ws) {
        out.pop();
        consumed = orig.pop()!;
      }
    }
    if (spec.treatWhitespaceAsSuffix && this.addDummyPrefix) addWs(consumed);
    orig.push(consumed);
    return { norm: out.join(''), orig };
  }

  private userDefinedAt(s: string, i: number): string | undefined {
    const list = this.t.userDefined.get(s.charCodeAt(i));
    if (!list) return undefined;
    for (const p of list) if (s.startsWith(p, i)) return p;
    return undefined;
  }

  /** Encodes `text` (no special-token handling): ids with the source offset each token starts at. */
  encode(text: string): SpToken[] {
    const { norm, orig } = this.normalize(text);
    const out: SpToken[] = [];
    if (norm.length === 0) return out;
    const t = this.t;
    // Initial symbols: user-defined pieces (frozen) or single code points.
    const start: number[] = [];
    const end: number[] = [];
    const frozen: boolean[] = [];
    for (let i = 0; i < norm.length;) {
      const ud = this.userDefinedAt(norm, i);
      const c = norm.charCodeAt(i);
      const len = ud !== undefined ? ud.length : c >= 0xd800 && c <= 0xdbff && i + 1 < norm.length ? 2 : 1;
      start.push(i);
      end.push(i + len);
      frozen.push(ud !== undefined);
      i += len;
    }
    const n = start.length;
    const prev = Int32Array.from({ length: n }, (_, i) => i - 1);
    const next = Int32Array.from({ length: n }, (_, i) => (i + 1 < n ? i + 1 : -1));
    const alive = new Uint8Array(n).fill(1);
    const agenda = new Agenda();
    const revMerge = new Map<string, [string, string]>();
    const maybeAdd = (left: number, right: number) => {
      if (left < 0 || right < 0 || frozen[left] || frozen[right]) return;
      const piece = norm.slice(start[left]!, end[right]!);
      const id = t.mergeable.get(piece);
      if (id === undefined) return;
      agenda.push({ score: t.scores[id]!, left, right, size: piece.length });
      if (t.types[id] === PieceType.UNUSED) {
        revMerge.set(piece, [norm.slice(start[left]!, end[left]!), norm.slice(start[right]!, end[right]!)]);
      }
    };
    for (let i = 1; i < n; i++) maybeAdd(i - 1, i);
    while (agenda.size > 0) {
      const top = agenda.pop();
      const { left, right } = top;
      if (!alive[left] || !alive[right] || end[left]! - start[left]! + end[right]! - start[right]! !== top.size) continue;
      end[left] = end[right]!;
      next[left] = next[right]!;
      if (next[right]! >= 0) prev[next[right]!] = left;
      alive[right] = 0;
      maybeAdd(prev[left]!, left);
      maybeAdd(left, next[left]!);
    }
    let prevUnknown = false;
    const emit = (piece: string, at: number) => {
      const id = this.pieceToId(piece);
      if (t.types[id] === PieceType.UNUSED) {
        const parts = revMerge.get(piece);
        if (parts) {
          emit(parts[0], at);
          emit(parts[1], at + parts[0].length);
          return;
        }
      }
      const src = orig[at]!;
      const unknown = id === t.unkId;
      if (unknown && t.spec.byteFallback) {
        for (const b of utf8Encoder.encode(piece)) out.push({ id: t.byteIds[b]!, start: src });
      } else if (!(unknown && prevUnknown)) {
        out.push({ id, start: src });
      }
      prevUnknown = unknown;
    };
    for (let i = 0; i >= 0; i = next[i]!) emit(norm.slice(start[i]!, end[i]!), start[i]!);
    return out;
  }
}
