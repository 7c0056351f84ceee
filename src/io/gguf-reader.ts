/**
 * GGUF reading: the header (metadata and tensor infos) parsed and validated before any tensor data is
 * touched, then each tensor on demand, as a copy-on-write view over a mapping of the file (the default when
 * the native addon registered a mapper; see safetensors.ts for what mapping means for callers) or read
 * from its byte range into a fresh array.
 *
 * Validation, each failure one error naming the file, the field and its byte offset: magic, version (3;
 * 2 reads the same), counts, every length (strings, arrays) checked against the bytes left in the file
 * before anything is allocated, value types, duplicate keys and tensor names, `general.alignment` (u32,
 * power of two), dimension counts and sizes, tensor types (F32, F16, BF16, Q8_0, Q4_0; any other is an
 * error naming the tensor and its type), rows that are not whole blocks, offsets that are misaligned,
 * outside the file, or overlap another tensor. The header is read in growing chunks, so a corrupt count
 * never makes us read or allocate more than the file holds.
 *
 * Shapes are returned in our row-major order (GGUF stores sizes innermost first).
 *
 * Not here: writing (gguf-writer.ts), what names and keys mean (models/llava/gguf-*.ts).
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { TypedArray } from '../engine/dtype.js';
import { allocArray, storageLength } from '../engine/dtype.js';
import { mapFile, type MappedFile } from '../engine/file-map.js';
import { Tensor } from '../engine/tensor.js';
import { assertLittleEndianHost, readExact, withFile } from './fileio.js';
import { FileWeightSource, type TensorFile } from './file-source.js';
import {
  alignUp, GGUF_ARRAY_CODE, GGUF_DEFAULT_ALIGNMENT, GGUF_MAX_DIMS, GGUF_MAX_NAME_BYTES, ggmlTypeName, scalarBytes, scalarTypeOf,
  TENSOR_TYPES, tensorBytes, tensorTypeOf, type GgufMetadata, type GgufScalarType, type GgufTensorType, type GgufValue,
} from './gguf-format.js';
import { mmapWanted, type OpenOptions } from './safetensors.js';
import type { TensorInfo } from './source.js';

export interface GgufTensorEntry {
  readonly name: string;
  readonly type: GgufTensorType;
  /** Row-major shape (GGUF's sizes reversed). */
  readonly shape: readonly number[];
  /** Offset in the data section, and absolute file offset. */
  readonly offset: number;
  readonly position: number;
  readonly bytes: number;
}

export interface GgufHeader {
  readonly path: string;
  readonly fileSize: number;
  readonly version: number;
  readonly metadata: GgufMetadata;
  readonly alignment: number;
  /** File offset of the data section. */
  readonly dataStart: number;
  /** Tensors in header order. */
  readonly tensors: ReadonlyMap<string, GgufTensorEntry>;
}

const CHUNK = 1 << 20;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Sequential reads over the header with bounds checks against the file size. */
class Cursor {
  private buf = new Uint8Array(0);
  /** File offset of buf[0]. */
  private base = 0;
  pos = 0;

  constructor(private readonly fd: number, readonly path: string, readonly size: number) {}

  fail(what: string, at = this.pos): never {
    throw new Error(`${this.path}: ${what} (at byte ${at})`);
  }

  /** Makes [pos, pos + n) available, or fails naming `field`. */
  private need(n: number, field: string): void {
    if (this.pos + n > this.size) {
      this.fail(`${field} needs ${n} bytes but the ${this.size}-byte file ends ${this.size - this.pos} bytes later`);
    }
    if (this.pos + n <= this.base + this.buf.length) return;
    const keep = this.buf.subarray(this.pos - this.base);
    const want = Math.min(this.size - this.pos, Math.max(n, CHUNK));
    const next = new Uint8Array(want);
    next.set(keep);
    if (want > keep.length) readExact(this.fd, next.subarray(keep.length), this.pos + keep.length, this.path, field);
    this.buf = next;
    this.base = this.pos;
  }

  private view(n: number, field: string): DataView {
    this.need(n, field);
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos - this.base, n);
    this.pos += n;
    return v;
  }

  u32(field: string): number { return this.view(4, field).getUint32(0, true); }

  /** A u64 that must be a safe integer (counts, sizes, offsets). */
  u64(field: string): number {
    const at = this.pos;
    const v = this.view(8, field).getBigUint64(0, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`${field} is ${v}, larger than any file`, at);
    return Number(v);
  }

  bytes(n: number, field: string): Uint8Array {
    this.need(n, field);
    const b = this.buf.subarray(this.pos - this.base, this.pos - this.base + n);
    this.pos += n;
    return b;
  }

  string(field: string): string {
    const at = this.pos;
    const n = this.u64(`the length of ${field}`);
    if (this.pos + n > this.size) this.fail(`${field} has length ${n}, past the end of the ${this.size}-byte file`, at);
    const b = this.bytes(n, field);
    try {
      return utf8.decode(b);
    } catch {
      return this.fail(`${field} is not valid UTF-8`, at + 8);
    }
  }

  scalar(t: GgufScalarType, field: string): number | bigint | boolean | string {
    if (t === 'string') return this.string(field);
    const at = this.pos;
    const v = this.view(scalarBytes(t), field);
    switch (t) {
      case 'u8': return v.getUint8(0);
      case 'i8': return v.getInt8(0);
      case 'u16': return v.getUint16(0, true);
      case 'i16': return v.getInt16(0, true);
      case 'u32': return v.getUint32(0, true);
      case 'i32': return v.getInt32(0, true);
      case 'f32': return v.getFloat32(0, true);
      case 'f64': return v.getFloat64(0, true);
      case 'u64': return v.getBigUint64(0, true);
      case 'i64': return v.getBigInt64(0, true);
      case 'bool': {
        const b = v.getUint8(0);
        if (b > 1) this.fail(`${field} is a bool with byte value ${b}`, at);
        return b === 1;
      }
    }
  }
}

function readValue(c: Cursor, key: string): GgufValue {
  const typeAt = c.pos;
  const code = c.u32(`the value type of key "${key}"`);
  if (code === GGUF_ARRAY_CODE) {
    const itemAt = c.pos;
    const itemCode = c.u32(`the item type of array "${key}"`);
    const itemType = scalarTypeOf(itemCode);
    if (!itemType) c.fail(`array "${key}" has item type ${itemCode}${itemCode === GGUF_ARRAY_CODE ? ' (nested arrays are not supported)' : ', not a GGUF value type'}`, itemAt);
    const countAt = c.pos;
    const n = c.u64(`the length of array "${key}"`);
    // Every item takes at least one byte (strings eight): a count the file cannot hold is corrupt.
    const min = itemType === 'string' ? 8 : scalarBytes(itemType);
    if (n * min > c.size - c.pos) c.fail(`array "${key}" claims ${n} items of ${itemType}, more than the ${c.size - c.pos} bytes left in the file`, countAt);
    const value: unknown[] = new Array(n);
    for (let i = 0; i < n; i++) value[i] = c.scalar(itemType, `item ${i} of array "${key}"`);
    return { type: 'array', itemType, value } as GgufValue;
  }
  const t = scalarTypeOf(code);
  if (!t) c.fail(`key "${key}" has value type ${code}, not a GGUF value type`, typeAt);
  return { type: t, value: c.scalar(t, `the value of key "${key}"`) } as GgufValue;
}

/** Reads and validates the header of `path` (tensor data is not read). */
export function readGgufHeader(path: string): GgufHeader {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    return parseHeader(new Cursor(fd, path, size));
  } finally {
    closeSync(fd);
  }
}

function parseHeader(c: Cursor): GgufHeader {
  if (c.size < 4) c.fail(`file is ${c.size} bytes, too short for the GGUF magic`, 0);
  const magic = c.bytes(4, 'the magic');
  if (String.fromCharCode(...magic) !== 'GGUF') {
    c.fail(`bad magic ${JSON.stringify(String.fromCharCode(...magic))} (expected "GGUF"): not a GGUF file`, 0);
  }
  const version = c.u32('the version');
  if (version !== 3 && version !== 2) {
    c.fail(`GGUF version ${version} is not supported (only 3${version === 1 ? '; version 1 files predate 64-bit counts' : ''})`, 4);
  }
  const nTensors = c.u64('the tensor count');
  // Each tensor info takes at least 8 (name length) + 4 + 4 + 8 bytes; each key/value at least 8 + 4 + 1.
  if (nTensors * 24 > c.size) c.fail(`tensor count ${nTensors} is more than the ${c.size}-byte file can describe`, 8);
  const nKv = c.u64('the key/value count');
  if (nKv * 13 > c.size) c.fail(`key/value count ${nKv} is more than the ${c.size}-byte file can hold`, 16);

  const metadata: GgufMetadata = new Map();
  for (let i = 0; i < nKv; i++) {
    const at = c.pos;
    const key = c.string(`key ${i}`);
    if (key === '') c.fail(`key ${i} is empty`, at);
    if (metadata.has(key)) c.fail(`key "${key}" appears twice`, at);
    metadata.set(key, readValue(c, key));
  }
  const alignValue = metadata.get('general.alignment');
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  if (alignValue) {
    if (alignValue.type !== 'u32') c.fail(`general.alignment must be a u32, but it is ${alignValue.type === 'array' ? 'an array' : alignValue.type}`);
    alignment = alignValue.value;
    if (alignment === 0 || (alignment & (alignment - 1)) !== 0) c.fail(`general.alignment ${alignment} is not a power of two`);
  }

  const infos: { name: string; type: GgufTensorType; shape: number[]; offset: number; at: number }[] = [];
  const names = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const at = c.pos;
    const name = c.string(`the name of tensor ${i}`);
    if (Buffer.byteLength(name) > GGUF_MAX_NAME_BYTES) c.fail(`tensor name "${name}" is longer than ${GGUF_MAX_NAME_BYTES} bytes`, at);
    if (names.has(name)) c.fail(`tensor "${name}" appears twice`, at);
    names.add(name);
    const dimsAt = c.pos;
    const nDims = c.u32(`the dimension count of tensor "${name}"`);
    if (nDims > GGUF_MAX_DIMS) c.fail(`tensor "${name}" has ${nDims} dimensions (at most ${GGUF_MAX_DIMS})`, dimsAt);
    const ne: number[] = [];
    for (let d = 0; d < nDims; d++) ne.push(c.u64(`dimension ${d} of tensor "${name}"`));
    const typeAt = c.pos;
    const code = c.u32(`the type of tensor "${name}"`);
    const type = tensorTypeOf(code);
    if (!type) {
      c.fail(`tensor "${name}" has type ${ggmlTypeName(code)}, which llava-ts does not read (supported: F32, F16, BF16, Q8_0, Q4_0)`, typeAt);
    }
    const shape = ne.reverse();
    const block = TENSOR_TYPES[type].block;
    if ((shape[shape.length - 1] ?? 1) % block !== 0) {
      c.fail(`tensor "${name}" (${type}) has rows of ${shape[shape.length - 1]} elements, not a multiple of its ${block}-element block`, dimsAt);
    }
    const offAt = c.pos;
    const offset = c.u64(`the data offset of tensor "${name}"`);
    infos.push({ name, type, shape, offset, at: offAt });
  }
  const dataStart = alignUp(c.pos, alignment);
  if (nTensors > 0 && dataStart > c.size) c.fail(`the data section would start at byte ${dataStart}, past the end of the ${c.size}-byte file`, c.pos);

  const tensors = new Map<string, GgufTensorEntry>();
  for (const t of infos) {
    const bytes = tensorBytes(t.type, t.shape);
    if (!Number.isSafeInteger(bytes)) c.fail(`tensor "${t.name}" of shape [${t.shape.join(', ')}] is too large`, t.at);
    if (t.offset % alignment !== 0) c.fail(`tensor "${t.name}" has data offset ${t.offset}, not a multiple of the alignment ${alignment}`, t.at);
    const position = dataStart + t.offset;
    if (position + bytes > c.size) {
      c.fail(`tensor "${t.name}" (${t.type} [${t.shape.join(', ')}], ${bytes} bytes at file bytes ${position}..${position + bytes}) extends past the end of the ${c.size}-byte file`, t.at);
    }
    tensors.set(t.name, { name: t.name, type: t.type, shape: t.shape, offset: t.offset, position, bytes });
  }
  const sorted = [...tensors.values()].filter((t) => t.bytes > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const p = sorted[i - 1]!;
    const t = sorted[i]!;
    if (t.offset < p.offset + p.bytes) {
      throw new Error(`${c.path}: tensors "${p.name}" (data bytes ${p.offset}..${p.offset + p.bytes}) and "${t.name}" (data bytes ${t.offset}..${t.offset + t.bytes}) overlap (file bytes ${dataStart + t.offset}..${dataStart + Math.min(t.offset + t.bytes, p.offset + p.bytes)})`);
    }
  }
  return { path: c.path, fileSize: c.size, version, metadata, alignment, dataStart, tensors };
}

/** One opened .gguf file. */
export class GgufFile implements TensorFile {
  readonly path: string;
  readonly header: GgufHeader;
  private readonly mapped: MappedFile | null;
  private readonly viewed = new Set<string>();

  constructor(path: string, opts: OpenOptions = {}) {
    assertLittleEndianHost('GGUF');
    this.path = path;
    this.header = readGgufHeader(path);
    const mapped = mmapWanted(opts) ? mapFile(path) : null;
    if (mapped && mapped.bytes !== this.header.fileSize) {
      throw new Error(`${path}: file size changed from ${this.header.fileSize} to ${mapped.bytes} bytes since it was opened`);
    }
    this.mapped = mapped;
  }

  get metadata(): GgufMetadata {
    return this.header.metadata;
  }

  get isMapped(): boolean {
    return this.mapped !== null;
  }

  names(): string[] {
    return [...this.header.tensors.keys()];
  }

  entry(name: string): GgufTensorEntry {
    const e = this.header.tensors.get(name);
    if (!e) throw new Error(`${this.path}: no tensor "${name}"`);
    return e;
  }

  info(name: string): TensorInfo {
    const e = this.entry(name);
    return { dtype: TENSOR_TYPES[e.type].engine, shape: e.shape, storedAs: e.type };
  }

  read(name: string): Tensor {
    const e = this.entry(name);
    const dtype = TENSOR_TYPES[e.type].engine;
    const numel = e.shape.reduce((a, b) => a * b, 1);
    const length = storageLength(dtype, numel);
    let data: TypedArray | null = null;
    // The mapping starts on a page boundary, so a file position that is a multiple of the item size is an
    // aligned address (always true with the default 32-byte alignment; a custom one may be smaller).
    const item = e.type === 'F32' ? 4 : e.type === 'F16' || e.type === 'BF16' ? 2 : 1;
    if (this.mapped && !this.viewed.has(name) && e.bytes > 0 && e.bytes <= this.mapped.maxView && e.position % item === 0) {
      const buf = this.mapped.view(e.position, e.bytes);
      data = item === 4 ? new Float32Array(buf) : item === 2 ? new Uint16Array(buf) : new Uint8Array(buf);
      this.viewed.add(name);
    }
    if (!data) {
      data = allocArray(dtype, length);
      const into = data;
      withFile(this.path, this.header.fileSize, (fd) => readExact(fd, into, e.position, this.path, `tensor "${name}" (${e.type}, file bytes ${e.position}..${e.position + e.bytes})`));
    }
    const t = new Tensor(data, dtype, e.shape);
    t.name = name;
    return t;
  }
}

/** A WeightSource over one .gguf file that also exposes the file's metadata. */
export class GgufSource extends FileWeightSource {
  constructor(readonly file: GgufFile) {
    super(file.path, [file]);
  }

  get metadata(): GgufMetadata {
    return this.file.metadata;
  }

  /** Stored GGUF type of a tensor (F32, F16, BF16, Q8_0, Q4_0). */
  storedType(name: string): GgufTensorType {
    return this.file.entry(name).type;
  }
}

export function openGguf(path: string, opts: OpenOptions = {}): GgufSource {
  return new GgufSource(new GgufFile(path, opts));
}
