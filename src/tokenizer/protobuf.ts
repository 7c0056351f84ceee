/**
 * Reads a SentencePiece `tokenizer.model` (a serialized `ModelProto`) into a plain description: the pieces
 * with their scores and types, and the trainer/normalizer settings that change how text is encoded.
 *
 * A minimal protobuf wire-format reader written for this one message family (varints, fixed32 floats,
 * length-delimited fields; unknown fields are skipped). Not a general protobuf library and not a writer.
 * Field numbers follow sentencepiece_model.proto.
 */

/** SentencePiece piece types (ModelProto.SentencePiece.Type). */
export enum PieceType {
  NORMAL = 1,
  UNKNOWN = 2,
  CONTROL = 3,
  USER_DEFINED = 4,
  UNUSED = 5,
  BYTE = 6,
}

export interface SentencePieceEntry {
  piece: string;
  score: number;
  type: PieceType;
}

/** What the encoder needs from a SentencePiece model, whichever file it came from. */
export interface SentencePieceSpec {
  pieces: SentencePieceEntry[];
  /** TrainerSpec.model_type: 1 unigram, 2 BPE, 3 word, 4 char. Only BPE is supported by the encoder. */
  modelType: number;
  byteFallback: boolean;
  /** Text shown for `<unk>` when decoding (TrainerSpec.unk_surface, default " ⁇ "). */
  unkSurface: string;
  treatWhitespaceAsSuffix: boolean;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
  escapeWhitespaces: boolean;
  /** Normalizer name and the size of its compiled rule table (identity models have none). */
  normalizerName: string;
  charsmapBytes: number;
}

export const DEFAULT_UNK_SURFACE = ' \u2047 ';

class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array, readonly end = buf.length, start = 0) {
    this.pos = start;
  }

  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Error(`tokenizer.model: truncated varint at byte ${this.pos}`);
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 128;
    }
    throw new Error(`tokenizer.model: varint longer than 10 bytes at byte ${this.pos}`);
  }

  bytes(): [number, number] {
    const n = this.varint();
    const start = this.pos;
    if (start + n > this.end) {
      throw new Error(`tokenizer.model: field of ${n} bytes at byte ${start} runs past its message (ends at ${this.end})`);
    }
    this.pos += n;
    return [start, start + n];
  }

  float32(): number {
    if (this.pos + 4 > this.end) throw new Error(`tokenizer.model: truncated float at byte ${this.pos}`);
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4).getFloat32(0, true);
    this.pos += 4;
    return v;
  }

  skip(wireType: number): void {
    switch (wireType) {
      case 0: this.varint(); return;
      case 1: this.need(8); this.pos += 8; return;
      case 2: this.bytes(); return;
      case 5: this.need(4); this.pos += 4; return;
      default: throw new Error(`tokenizer.model: unsupported protobuf wire type ${wireType} at byte ${this.pos}`);
    }
  }

  private need(n: number): void {
    if (this.pos + n > this.end) throw new Error(`tokenizer.model: truncated field at byte ${this.pos}`);
  }

  /** Iterates the fields of the message [pos, end): calls `f(fieldNumber, wireType)`, which must consume the value. */
  each(f: (field: number, wire: number) => boolean): void {
    while (this.pos < this.end) {
      const key = this.varint();
      const field = Math.floor(key / 8);
      const wire = key & 7;
      if (!f(field, wire)) this.skip(wire);
    }
  }
}

// ignoreBOM: a piece may be U+FEFF itself (LLaMA has one), which the default decoder would swallow.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function str(buf: Uint8Array, [a, b]: [number, number]): string {
  try {
    return utf8.decode(buf.subarray(a, b));
  } catch {
    throw new Error(`tokenizer.model: string field at byte ${a} is not valid UTF-8`);
  }
}

function parsePiece(buf: Uint8Array, [a, b]: [number, number]): SentencePieceEntry {
  const r = new Reader(buf, b, a);
  const e: SentencePieceEntry = { piece: '', score: 0, type: PieceType.NORMAL };
  r.each((field, wire) => {
    if (field === 1 && wire === 2) e.piece = str(buf, r.bytes());
    else if (field === 2 && wire === 5) e.score = r.float32();
    else if (field === 3 && wire === 0) e.type = r.varint();
    else return false;
    return true;
  });
  if (!(e.type >= 1 && e.type <= 6)) throw new Error(`tokenizer.model: piece '${e.piece}' has unknown type ${e.type}`);
  return e;
}

/** Parses a SentencePiece ModelProto. Throws a clear error for files that are not one. */
export function parseSentencePieceModel(buf: Uint8Array): SentencePieceSpec {
  const spec: SentencePieceSpec = {
    pieces: [], modelType: 1, byteFallback: false, unkSurface: DEFAULT_UNK_SURFACE, treatWhitespaceAsSuffix: false,
    addDummyPrefix: true, removeExtraWhitespaces: true, escapeWhitespaces: true, normalizerName: '', charsmapBytes: 0,
  };
  const r = new Reader(buf);
  r.each((field, wire) => {
    if (wire !== 2) return false;
    const range = r.bytes();
    if (field === 1) spec.pieces.push(parsePiece(buf, range));
    else if (field === 2) {
      const t = new Reader(buf, range[1], range[0]);
      t.each((f, w) => {
        if (f === 3 && w === 0) spec.modelType = t.varint();
        else if (f === 35 && w === 0) spec.byteFallback = t.varint() !== 0;
        else if (f === 24 && w === 0) spec.treatWhitespaceAsSuffix = t.varint() !== 0;
        else if (f === 44 && w === 2) spec.unkSurface = str(buf, t.bytes());
        else return false;
        return true;
      });
    } else if (field === 3) {
      const n = new Reader(buf, range[1], range[0]);
      n.each((f, w) => {
        if (f === 1 && w === 2) spec.normalizerName = str(buf, n.bytes());
        else if (f === 2 && w === 2) { const [a, b] = n.bytes(); spec.charsmapBytes = b - a; }
        else if (f === 3 && w === 0) spec.addDummyPrefix = n.varint() !== 0;
        else if (f === 4 && w === 0) spec.removeExtraWhitespaces = n.varint() !== 0;
        else if (f === 5 && w === 0) spec.escapeWhitespaces = n.varint() !== 0;
        else return false;
        return true;
      });
    }
    return true;
  });
  if (spec.pieces.length === 0) throw new Error('tokenizer.model: no pieces found (not a SentencePiece model file?)');
  return spec;
}
