/**
 * Element types stored in checkpoints (safetensors spelling; torch storages map onto the same names) and
 * how their bytes become engine typed arrays: read straight from the file into a fresh array of the
 * engine dtype (so file offsets need no alignment), gather strided views, then check what the engine
 * cannot represent.
 *
 * Choices: I64 (torch Long) has no engine dtype; it is returned as i32 and any value outside the int32
 * range is an error naming the tensor, element and value (checkpoints hold ids and position buffers in
 * I64, never large values). BOOL bytes other than 0/1 are an error (the engine's bool is 0/1). Types with
 * no engine equivalent (I8, I16, U16, U32, U64, F8_*) are known by size so headers validate, and reading
 * them is an error.
 */
import { allocArray, isQuant, storageLength, type DType, type TypedArray } from '../engine/dtype.js';
import type { Tensor } from '../engine/tensor.js';
import { readExact } from './fileio.js';

export interface StoredType {
  /** safetensors dtype string. */
  readonly name: string;
  readonly itemBytes: number;
  /** Engine dtype of the returned tensor; null: not loadable. */
  readonly engine: DType | null;
}

const TYPES: readonly StoredType[] = [
  { name: 'F64', itemBytes: 8, engine: 'f64' },
  { name: 'F32', itemBytes: 4, engine: 'f32' },
  { name: 'F16', itemBytes: 2, engine: 'f16' },
  { name: 'BF16', itemBytes: 2, engine: 'bf16' },
  { name: 'I64', itemBytes: 8, engine: 'i32' },
  { name: 'I32', itemBytes: 4, engine: 'i32' },
  { name: 'U8', itemBytes: 1, engine: 'u8' },
  { name: 'BOOL', itemBytes: 1, engine: 'bool' },
  { name: 'I8', itemBytes: 1, engine: null },
  { name: 'I16', itemBytes: 2, engine: null },
  { name: 'U16', itemBytes: 2, engine: null },
  { name: 'U32', itemBytes: 4, engine: null },
  { name: 'U64', itemBytes: 8, engine: null },
  { name: 'F8_E5M2', itemBytes: 1, engine: null },
  { name: 'F8_E4M3', itemBytes: 1, engine: null },
];
const BY_NAME = new Map(TYPES.map((t) => [t.name, t]));

export function storedType(name: string): StoredType | undefined {
  return BY_NAME.get(name);
}

/** The stored type written for an engine dtype (the writer's direction; quantized types have none). */
export function storedTypeOf(d: DType): StoredType | undefined {
  switch (d) {
    case 'f64': return BY_NAME.get('F64');
    case 'f32': return BY_NAME.get('F32');
    case 'f16': return BY_NAME.get('F16');
    case 'bf16': return BY_NAME.get('BF16');
    case 'i32': return BY_NAME.get('I32');
    case 'u8': return BY_NAME.get('U8');
    case 'bool': return BY_NAME.get('BOOL');
    default: return undefined;
  }
}

/**
 * Raw words for `count` elements: the engine's array type, except I64 which is read as pairs of int32
 * words (low, high) and narrowed by `finishElements` once the elements a tensor uses are known.
 */
export function readRawElements(fd: number, position: number, type: StoredType, count: number, path: string, what: string): TypedArray {
  if (type.engine === null) {
    throw new Error(`${path}: tensor ${what} is stored as ${type.name}, which has no engine dtype (supported: F32, F16, BF16, F64, I64, I32, U8, BOOL)`);
  }
  const raw = type.name === 'I64' ? new Int32Array(count * 2) : allocArray(type.engine, count);
  readExact(fd, raw, position, path, `tensor ${what}`);
  return raw;
}

/** Words per element of a raw array from `readRawElements`. */
export function rawUnits(type: StoredType): number {
  return type.name === 'I64' ? 2 : 1;
}

/**
 * Copies the strided view (shape, strides, offset in elements) of `raw` into a new contiguous array of the
 * same kind. Loops run over the last dimension so a transposed weight costs one pass.
 */
export function gatherStrided(raw: TypedArray, units: number, shape: readonly number[], strides: readonly number[], offset: number): TypedArray {
  let n = 1;
  for (const d of shape) n *= d;
  const out = new (raw.constructor as new (len: number) => TypedArray)(n * units);
  if (n === 0) return out;
  const nd = shape.length;
  if (nd === 0) {
    for (let u = 0; u < units; u++) out[u] = raw[offset * units + u]!;
    return out;
  }
  const inner = shape[nd - 1]!;
  const innerStride = strides[nd - 1]!;
  const idx = new Array<number>(nd).fill(0);
  let base = offset;
  let o = 0;
  for (let row = 0; row < n / inner; row++) {
    let s = base;
    for (let i = 0; i < inner; i++, s += innerStride) {
      for (let u = 0; u < units; u++) out[o++] = raw[s * units + u]!;
    }
    // Advance the outer index (odometer over dims 0..nd-2).
    for (let d = nd - 2; d >= 0; d--) {
      idx[d]!++;
      base += strides[d]!;
      if (idx[d]! < shape[d]!) break;
      base -= strides[d]! * shape[d]!;
      idx[d] = 0;
    }
  }
  return out;
}

/** Turns contiguous raw words into the engine array: I64 narrowed to i32, BOOL checked. */
export function finishElements(raw: TypedArray, type: StoredType, path: string, what: string): TypedArray {
  if (type.name === 'I64') {
    const words = raw as Int32Array;
    const out = new Int32Array(words.length / 2);
    for (let i = 0; i < out.length; i++) {
      const lo = words[2 * i]!;
      const hi = words[2 * i + 1]!;
      // An int64 fits in int32 exactly when its high word is the sign extension of its low word.
      if (hi !== lo >> 31) {
        const v = (BigInt(hi) << 32n) | BigInt(lo >>> 0);
        throw new Error(`${path}: tensor ${what} (I64) element ${i} is ${v}, outside the int32 range the engine stores I64 in`);
      }
      out[i] = lo;
    }
    return out;
  }
  if (type.name === 'BOOL') {
    const b = raw as Uint8Array;
    for (let i = 0; i < b.length; i++) {
      if (b[i]! > 1) throw new Error(`${path}: tensor ${what} (BOOL) element ${i} has byte value ${b[i]}, expected 0 or 1`);
    }
  }
  return raw;
}

/**
 * The stored bytes of `t` in row-major order: a view of its storage when contiguous, else a gathered copy.
 * Quantized tensors are always contiguous rows, with an offset counted in elements.
 */
export function storedBytes(t: Tensor): Uint8Array {
  if (isQuant(t.dtype)) {
    const start = storageLength(t.dtype, t.offset);
    return new Uint8Array(t.data.buffer, t.data.byteOffset + start, storageLength(t.dtype, t.numel));
  }
  let data: TypedArray = t.data;
  let offset = t.offset;
  if (!t.isContiguous()) {
    data = gatherStrided(t.data, 1, t.shape, t.strides, t.offset);
    offset = 0;
  }
  const bpe = data.BYTES_PER_ELEMENT;
  return new Uint8Array(data.buffer, data.byteOffset + offset * bpe, t.numel * bpe);
}
