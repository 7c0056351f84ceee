/**
 * GGUF v3 vocabulary shared by the reader and the writer: the metadata value types (with their on-disk
 * codes), the tensor types we read and write (F32, F16, BF16, Q8_0, Q4_0) and the names of the others (for
 * error messages), the metadata value representation, and typed accessors for metadata that fail with one
 * sentence naming the key.
 *
 * Layout facts (ggml's gguf.cpp is the reference): little-endian; "GGUF", u32 version, u64 tensor count,
 * u64 key/value count; each key a string (u64 byte length + UTF-8), a u32 value type, the value (arrays:
 * u32 item type, u64 count, items; strings: u64 length + bytes; bool: one byte); then per tensor its name,
 * u32 dimension count (≤ 4), u64 sizes innermost first (the reverse of our row-major shape), u32 ggml type,
 * u64 offset into the data section; the data section starts at the next multiple of `general.alignment`
 * (u32, a power of two, default 32) and every tensor offset is a multiple of it.
 *
 * Not here: reading (gguf-reader.ts), writing (gguf-writer.ts), what the keys mean for a model (models/).
 */
import type { DType } from '../engine/dtype.js';

export const GGUF_MAGIC = 'GGUF';
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** ggml's tensor name limit (GGML_MAX_NAME, including the terminating zero). */
export const GGUF_MAX_NAME_BYTES = 63;
export const GGUF_MAX_DIMS = 4;

/** Metadata value types in code order (the code of `SCALAR_TYPES[i]` is i; 9 is the array marker). */
export type GgufScalarType = 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'bool' | 'string' | 'u64' | 'i64' | 'f64';
const CODES: Record<GgufScalarType, number> = {
  u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, string: 8, u64: 10, i64: 11, f64: 12,
};
export const GGUF_ARRAY_CODE = 9;
const BY_CODE = new Map<number, GgufScalarType>(Object.entries(CODES).map(([k, v]) => [v, k as GgufScalarType]));

export function scalarTypeCode(t: GgufScalarType): number {
  return CODES[t];
}

export function scalarTypeOf(code: number): GgufScalarType | undefined {
  return BY_CODE.get(code);
}

/** Bytes of a fixed-size scalar (strings: 0, variable). */
export function scalarBytes(t: GgufScalarType): number {
  switch (t) {
    case 'u8': case 'i8': case 'bool': return 1;
    case 'u16': case 'i16': return 2;
    case 'u32': case 'i32': case 'f32': return 4;
    case 'u64': case 'i64': case 'f64': return 8;
    case 'string': return 0;
  }
}

/** One metadata value. 64-bit integers are bigints so that every value round-trips exactly. */
export type GgufValue =
  | { type: 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'f64'; value: number }
  | { type: 'u64' | 'i64'; value: bigint }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'array'; itemType: GgufScalarType; value: number[] | bigint[] | boolean[] | string[] };

export type GgufMetadata = Map<string, GgufValue>;

/** Tensor types this project reads and writes, with their ggml codes and block geometry. */
export type GgufTensorType = 'F32' | 'F16' | 'BF16' | 'Q8_0' | 'Q4_0';

interface TensorTypeInfo {
  code: number;
  /** Elements per block and bytes per block (1 and the item size for plain types). */
  block: number;
  blockBytes: number;
  engine: DType;
}

export const TENSOR_TYPES: Readonly<Record<GgufTensorType, TensorTypeInfo>> = {
  F32: { code: 0, block: 1, blockBytes: 4, engine: 'f32' },
  F16: { code: 1, block: 1, blockBytes: 2, engine: 'f16' },
  Q4_0: { code: 2, block: 32, blockBytes: 18, engine: 'q4_0' },
  Q8_0: { code: 8, block: 32, blockBytes: 34, engine: 'q8_0' },
  BF16: { code: 30, block: 1, blockBytes: 2, engine: 'bf16' },
};

const TENSOR_BY_CODE = new Map<number, GgufTensorType>(Object.entries(TENSOR_TYPES).map(([k, v]) => [v.code, k as GgufTensorType]));

// ggml type names by code, only to name what a file holds when we cannot read it.
const GGML_TYPE_NAMES: readonly (string | null)[] = [
  'F32', 'F16', 'Q4_0', 'Q4_1', null, null, 'Q5_0', 'Q5_1', 'Q8_0', 'Q8_1', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K',
  'Q8_K', 'IQ2_XXS', 'IQ2_XS', 'IQ3_XXS', 'IQ1_S', 'IQ4_NL', 'IQ3_S', 'IQ2_S', 'IQ4_XS', 'I8', 'I16', 'I32', 'I64',
  'F64', 'IQ1_M', 'BF16', null, null, null, 'TQ1_0', 'TQ2_0', null, null, null, 'MXFP4', 'NVFP4', 'Q1_0', 'Q2_0',
];

export function tensorTypeOf(code: number): GgufTensorType | undefined {
  return TENSOR_BY_CODE.get(code);
}

/** "Q4_K (type 12)" / "unknown type 99". */
export function ggmlTypeName(code: number): string {
  const n = GGML_TYPE_NAMES[code];
  return n ? `${n} (type ${code})` : `unknown type ${code}`;
}

/** The GGUF tensor type that stores an engine dtype, if any. */
export function tensorTypeForDtype(d: DType): GgufTensorType | undefined {
  return (Object.keys(TENSOR_TYPES) as GgufTensorType[]).find((k) => TENSOR_TYPES[k].engine === d);
}

/** Bytes of a tensor of `type` and row-major `shape` (the last dim must be a whole number of blocks). */
export function tensorBytes(type: GgufTensorType, shape: readonly number[]): number {
  const t = TENSOR_TYPES[type];
  const n = shape.reduce((a, b) => a * b, 1);
  return (n / t.block) * t.blockBytes;
}

export function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

// Typed accessors: model code reads metadata through these, so a missing or mistyped key is one clear error.

function describe(v: GgufValue | undefined): string {
  if (!v) return 'missing';
  return v.type === 'array' ? `an array of ${v.itemType}` : `of type ${v.type}`;
}

const INT_TYPES = new Set(['u8', 'i8', 'u16', 'i16', 'u32', 'i32', 'u64', 'i64']);

/** An integer value (any integer type, bigints within 2^53). */
export function metaInt(meta: GgufMetadata, key: string, where: string): number {
  const v = meta.get(key);
  if (v && v.type !== 'array' && INT_TYPES.has(v.type)) {
    const n = Number(v.value);
    if (Number.isSafeInteger(n)) return n;
  }
  throw new Error(`${where}: metadata key "${key}" must be an integer, but it is ${describe(v)}`);
}

/** A number (float or integer type). */
export function metaNumber(meta: GgufMetadata, key: string, where: string): number {
  const v = meta.get(key);
  if (v && (v.type === 'f32' || v.type === 'f64')) return v.value;
  if (v && v.type !== 'array' && INT_TYPES.has(v.type)) return metaInt(meta, key, where);
  throw new Error(`${where}: metadata key "${key}" must be a number, but it is ${describe(v)}`);
}

export function metaString(meta: GgufMetadata, key: string, where: string): string {
  const v = meta.get(key);
  if (v?.type === 'string') return v.value;
  throw new Error(`${where}: metadata key "${key}" must be a string, but it is ${describe(v)}`);
}

export function metaBool(meta: GgufMetadata, key: string, where: string): boolean {
  const v = meta.get(key);
  if (v?.type === 'bool') return v.value;
  throw new Error(`${where}: metadata key "${key}" must be a bool, but it is ${describe(v)}`);
}

/** An array of numbers (any numeric item type). */
export function metaNumbers(meta: GgufMetadata, key: string, where: string): number[] {
  const v = meta.get(key);
  if (v?.type === 'array' && v.itemType !== 'string' && v.itemType !== 'bool') return (v.value as (number | bigint)[]).map(Number);
  throw new Error(`${where}: metadata key "${key}" must be an array of numbers, but it is ${describe(v)}`);
}

export function metaStrings(meta: GgufMetadata, key: string, where: string): string[] {
  const v = meta.get(key);
  if (v?.type === 'array' && v.itemType === 'string') return v.value as string[];
  throw new Error(`${where}: metadata key "${key}" must be an array of strings, but it is ${describe(v)}`);
}

/**
 * The shortest decimal that rounds to the f32 `x` (1e-5 for the f32 nearest 1e-5): configs are written in
 * decimal, and GGUF keeps their values as f32, so this recovers the value the model was defined with.
 */
export function shortestF32(x: number): number {
  for (let p = 1; p <= 9; p++) {
    const y = Number(x.toPrecision(p));
    if (Math.fround(y) === x) return y;
  }
  return x;
}
