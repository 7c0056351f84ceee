/**
 * safetensors header: read (8-byte little-endian length + UTF-8 JSON) and validate before any tensor data
 * is touched. Every error names the file, the tensor and the byte range involved.
 *
 * Validated: the header length fits the file; the JSON is well formed, an object, without duplicate keys
 * (see json.ts); `__metadata__` maps strings to strings; each entry has a known dtype, a shape of
 * non-negative integers and `data_offsets` inside the data section whose length equals numel × item
 * size; the entries cover the data section exactly (no overlap, no gap). Unaligned offsets are legal:
 * the reader copies those tensors into fresh arrays instead of returning views over a mapping.
 *
 * Not here: reading tensor data (safetensors.ts) and writing (safetensors-writer.ts).
 */
import { fileSize, rangeText, readBytes, withFile } from './fileio.js';
import { parseJsonObject } from './json.js';
import { storedType, type StoredType } from './elements.js';

/** The reference implementation's limit; a larger "header" is a corrupt length, not a real header. */
export const MAX_HEADER_BYTES = 100_000_000;

export interface SafetensorsEntry {
  readonly name: string;
  readonly type: StoredType;
  readonly shape: readonly number[];
  /** Offsets relative to the data section, as in the header. */
  readonly begin: number;
  readonly end: number;
}

export interface SafetensorsHeader {
  readonly path: string;
  readonly fileSize: number;
  /** File offset of the data section (8 + header length). */
  readonly dataStart: number;
  /** Tensor entries in header order. */
  readonly entries: ReadonlyMap<string, SafetensorsEntry>;
  readonly metadata: Readonly<Record<string, string>> | null;
}

/** Reads and validates the header of `path` (only its first 8 + N bytes are read). */
export function readSafetensorsHeader(path: string): SafetensorsHeader {
  const size = fileSize(path);
  if (size < 8) throw new Error(`${path}: file is ${size} bytes, too short for the 8-byte safetensors header length`);
  return withFile(path, size, (fd) => {
    const lenBytes = readBytes(fd, 0, 8, path, 'the header length');
    const n = new DataView(lenBytes.buffer).getBigUint64(0, true);
    if (n > BigInt(MAX_HEADER_BYTES)) {
      throw new Error(`${path}: header length ${n} (bytes 0..8) exceeds the ${MAX_HEADER_BYTES}-byte limit; not a safetensors file or corrupt`);
    }
    const len = Number(n);
    if (8 + len > size) {
      throw new Error(`${path}: header length ${len} (${rangeText(8, 8 + len)}) goes beyond the end of the ${size}-byte file`);
    }
    return parseSafetensorsHeader(path, readBytes(fd, 8, len, path, 'the header'), size);
  });
}

/** Validates header bytes (the JSON after the length) of a file of `size` bytes. */
export function parseSafetensorsHeader(path: string, json: Uint8Array, size: number): SafetensorsHeader {
  const dataStart = 8 + json.length;
  const where = rangeText(8, dataStart);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(json);
  } catch {
    throw new Error(`${path}: header (${where}) is not valid UTF-8`);
  }
  const parsed = parseJsonObject(text, `${path}: header (${where})`, 'tensor name');

  const dataLen = size - dataStart;
  const entries = new Map<string, SafetensorsEntry>();
  let metadata: Record<string, string> | null = null;
  for (const [name, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(path, value);
      continue;
    }
    entries.set(name, parseEntry(path, name, value, dataStart, dataLen));
  }
  checkCoverage(path, [...entries.values()], dataStart, dataLen);
  return { path, fileSize: size, dataStart, entries, metadata };
}

function parseMetadata(path: string, value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`${path}: __metadata__ must be an object of strings`);
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw new Error(`${path}: __metadata__ value "${k}" is ${JSON.stringify(v)}, not a string`);
    // defineProperty: a key "__proto__" is data here, not the object's prototype.
    Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function parseEntry(path: string, name: string, value: unknown, dataStart: number, dataLen: number): SafetensorsEntry {
  const bad = (what: string) => new Error(`${path}: tensor "${name}": ${what}`);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad('entry is not an object');
  const { dtype, shape, data_offsets: offs } = value as Record<string, unknown>;
  if (typeof dtype !== 'string') throw bad('missing dtype');
  const type = storedType(dtype);
  if (!type) throw bad(`unknown dtype ${JSON.stringify(dtype)}`);
  if (!Array.isArray(shape) || !shape.every(isCount)) throw bad(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
  if (!Array.isArray(offs) || offs.length !== 2 || !offs.every(isCount)) {
    throw bad(`data_offsets ${JSON.stringify(offs)} is not a pair of non-negative integers`);
  }
  const [begin, end] = offs as [number, number];
  const span = `data_offsets [${begin}, ${end}] (file ${rangeText(dataStart + begin, dataStart + end)})`;
  if (begin > end) throw bad(`${span} ends before it begins`);
  if (end > dataLen) throw bad(`${span} lie outside the data section (${dataLen} bytes, file ${rangeText(dataStart, dataStart + dataLen)})`);
  let numel = 1;
  for (const d of shape as number[]) numel *= d;
  const bytes = numel * type.itemBytes;
  if (!Number.isSafeInteger(bytes) || bytes !== end - begin) {
    throw bad(`${dtype} × shape [${(shape as number[]).join(', ')}] needs ${bytes} bytes but ${span} hold ${end - begin}`);
  }
  return { name, type, shape: shape as number[], begin, end };
}

/** The entries must tile the data section: sorted by offset, each begins where the previous ended. */
function checkCoverage(path: string, entries: SafetensorsEntry[], dataStart: number, dataLen: number): void {
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  const file = (b: number, e: number) => `file ${rangeText(dataStart + b, dataStart + e)}`;
  let pos = 0;
  let prev: SafetensorsEntry | null = null;
  for (const e of sorted) {
    if (e.begin < pos) {
      throw new Error(`${path}: tensors "${prev!.name}" (data_offsets [${prev!.begin}, ${prev!.end}]) and "${e.name}" ` +
        `(data_offsets [${e.begin}, ${e.end}]) overlap (${file(e.begin, pos)})`);
    }
    if (e.begin > pos) {
      const after = prev ? `after tensor "${prev.name}"` : 'at the start of the data section';
      throw new Error(`${path}: gap of ${e.begin - pos} unused bytes ${after}, before tensor "${e.name}" (${file(pos, e.begin)})`);
    }
    // Zero-size tensors sit at a position without advancing it.
    if (e.end > pos) {
      pos = e.end;
      prev = e;
    } else if (!prev) {
      prev = e;
    }
  }
  if (pos !== dataLen) {
    const after = prev ? `after the last tensor "${prev.name}"` : 'in a file with no tensors';
    throw new Error(`${path}: ${dataLen - pos} trailing bytes ${after} are not covered by any tensor (${file(pos, dataLen)})`);
  }
}
