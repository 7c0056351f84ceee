/**
 * GGUF v3 writing, atomic and streaming: the header (metadata in the order given, then tensor infos) is
 * computed from names, types and shapes known up front; tensors are then produced one at a time and
 * written behind it, each padded to the alignment, so a 7B model needs one tensor in memory at a time.
 * The file is written under a temporary name in the target folder, fsynced and renamed; on any failure the
 * temporary is removed and an existing file of that name is untouched.
 *
 * Offsets follow what ggml's reader demands: tensors in header order, each starting where the previous
 * one's padded size ends. `general.alignment` is written only when it is not the default 32.
 *
 * Not here: reading (gguf-reader.ts), deciding names, keys and per-tensor types (models/llava/gguf-*.ts).
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { Tensor } from '../engine/tensor.js';
import { storedBytes } from './elements.js';
import { assertLittleEndianHost, syncDir, writeAll } from './fileio.js';
import {
  alignUp, GGUF_ARRAY_CODE, GGUF_DEFAULT_ALIGNMENT, GGUF_MAX_DIMS, GGUF_MAX_NAME_BYTES, scalarBytes, scalarTypeCode, TENSOR_TYPES,
  tensorBytes, type GgufScalarType, type GgufTensorType, type GgufValue,
} from './gguf-format.js';

export interface GgufTensorPlan {
  readonly name: string;
  readonly type: GgufTensorType;
  /** Row-major shape (written reversed). */
  readonly shape: readonly number[];
  /** Produces the data when its turn comes: a tensor of the type's engine dtype and this shape. */
  readonly produce: () => Tensor | Promise<Tensor>;
}

export interface GgufWriteOptions {
  /** Called after each tensor is written (tensors done, total, name). */
  onTensor?: (done: number, total: number, name: string) => void;
  /** Data alignment (a power of two; default 32). */
  alignment?: number;
}

/** Growable little-endian byte buffer for the header. */
class Bytes {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.length + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): void { this.room(1); this.view.setUint8(this.length, v); this.length += 1; }
  u32(v: number): void { this.room(4); this.view.setUint32(this.length, v, true); this.length += 4; }
  u64(v: number | bigint): void { this.room(8); this.view.setBigUint64(this.length, BigInt(v), true); this.length += 8; }

  raw(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  string(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.raw(b);
  }

  scalar(t: GgufScalarType, v: unknown, where: string): void {
    const bad = () => new Error(`${where}: ${JSON.stringify(typeof v === 'bigint' ? String(v) : v)} is not a valid ${t}`);
    if (t === 'string') {
      if (typeof v !== 'string') throw bad();
      this.string(v);
      return;
    }
    if (t === 'bool') {
      if (typeof v !== 'boolean') throw bad();
      this.u8(v ? 1 : 0);
      return;
    }
    this.room(scalarBytes(t));
    const at = this.length;
    const d = this.view;
    if (t === 'u64' || t === 'i64') {
      if (typeof v !== 'bigint') throw bad();
      const lo = t === 'u64' ? 0n : -(1n << 63n);
      const hi = t === 'u64' ? (1n << 64n) - 1n : (1n << 63n) - 1n;
      if (v < lo || v > hi) throw bad();
      if (t === 'u64') d.setBigUint64(at, v, true);
      else d.setBigInt64(at, v, true);
    } else {
      if (typeof v !== 'number') throw bad();
      const ranges: Partial<Record<GgufScalarType, [number, number]>> = {
        u8: [0, 255], i8: [-128, 127], u16: [0, 65535], i16: [-32768, 32767], u32: [0, 2 ** 32 - 1], i32: [-(2 ** 31), 2 ** 31 - 1],
      };
      const r = ranges[t];
      if (r && (!Number.isInteger(v) || v < r[0] || v > r[1])) throw bad();
      switch (t) {
        case 'u8': d.setUint8(at, v); break;
        case 'i8': d.setInt8(at, v); break;
        case 'u16': d.setUint16(at, v, true); break;
        case 'i16': d.setInt16(at, v, true); break;
        case 'u32': d.setUint32(at, v, true); break;
        case 'i32': d.setInt32(at, v, true); break;
        case 'f32': d.setFloat32(at, v, true); break;
        case 'f64': d.setFloat64(at, v, true); break;
      }
    }
    this.length += scalarBytes(t);
  }

  padTo(alignment: number): void {
    const n = alignUp(this.length, alignment) - this.length;
    this.room(n);
    this.length += n; // fresh bytes are zero
  }

  bytes(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

/** Encodes the header: magic, version, counts, metadata, tensor infos, padding to the alignment. */
export function ggufHeaderBytes(metadata: Iterable<readonly [string, GgufValue]>, tensors: readonly Omit<GgufTensorPlan, 'produce'>[], alignment: number, target: string): { header: Uint8Array; offsets: number[] } {
  const kv = [...metadata];
  const b = new Bytes();
  b.raw(new Uint8Array([0x47, 0x47, 0x55, 0x46])); // "GGUF"
  b.u32(3);
  b.u64(tensors.length);
  b.u64(kv.length);
  const keys = new Set<string>();
  for (const [key, v] of kv) {
    if (typeof key !== 'string' || key === '') throw new Error(`writeGguf ${target}: metadata keys must be non-empty strings`);
    if (keys.has(key)) throw new Error(`writeGguf ${target}: metadata key "${key}" is given twice`);
    keys.add(key);
    const where = `writeGguf ${target}: metadata "${key}"`;
    b.string(key);
    if (v.type === 'array') {
      b.u32(GGUF_ARRAY_CODE);
      b.u32(scalarTypeCode(v.itemType));
      b.u64(v.value.length);
      v.value.forEach((x, i) => b.scalar(v.itemType, x, `${where} item ${i}`));
    } else {
      if (scalarTypeCode(v.type) === undefined) throw new Error(`${where}: unknown value type ${JSON.stringify(v.type)}`);
      b.u32(scalarTypeCode(v.type));
      b.scalar(v.type, v.value, where);
    }
  }
  const names = new Set<string>();
  const offsets: number[] = [];
  let offset = 0;
  for (const t of tensors) {
    const fail = (m: string): never => { throw new Error(`writeGguf ${target}: tensor "${t.name}" ${m}`); };
    if (typeof t.name !== 'string' || t.name === '') fail('needs a non-empty name');
    if (Buffer.byteLength(t.name) > GGUF_MAX_NAME_BYTES) fail(`has a name longer than ${GGUF_MAX_NAME_BYTES} bytes`);
    if (names.has(t.name)) fail('is given twice');
    names.add(t.name);
    const info = TENSOR_TYPES[t.type];
    if (!info) fail(`has type ${JSON.stringify(t.type)} (supported: ${Object.keys(TENSOR_TYPES).join(', ')})`);
    if (t.shape.length > GGUF_MAX_DIMS || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`has invalid shape [${t.shape.join(', ')}]`);
    if ((t.shape[t.shape.length - 1] ?? 1) % info.block !== 0) fail(`(${t.type}) has rows of ${t.shape[t.shape.length - 1]} elements, not whole ${info.block}-element blocks`);
    b.string(t.name);
    b.u32(t.shape.length);
    for (let d = t.shape.length - 1; d >= 0; d--) b.u64(t.shape[d]!);
    b.u32(info.code);
    b.u64(offset);
    offsets.push(offset);
    offset += alignUp(tensorBytes(t.type, t.shape), alignment);
  }
  b.padTo(alignment);
  return { header: b.bytes(), offsets };
}



/**
 * Writes a GGUF file at `target`: `metadata` (insertion order kept) and `tensors` (header order = data
 * order). Resolves once the file is durable under its final name.
 */
export async function writeGguf(target: string, metadata: Iterable<readonly [string, GgufValue]>, tensors: readonly GgufTensorPlan[], opts: GgufWriteOptions = {}): Promise<{ bytes: number }> {
  assertLittleEndianHost('GGUF writer');
  const alignment = opts.alignment ?? GGUF_DEFAULT_ALIGNMENT;
  if (!(Number.isInteger(alignment) && alignment > 0 && (alignment & (alignment - 1)) === 0)) {
    throw new Error(`writeGguf ${target}: alignment must be a power of two, got ${alignment}`);
  }
  const meta = [...metadata].filter(([k]) => k !== 'general.alignment');
  if (alignment !== GGUF_DEFAULT_ALIGNMENT) meta.unshift(['general.alignment', { type: 'u32', value: alignment }]);
  const { header } = ggufHeaderBytes(meta, tensors, alignment, target);
  const dir = path.dirname(target);
  const temp = path.join(dir, `.${path.basename(target)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
  let fd: number | null = openSync(temp, 'wx');
  let written = 0;
  try {
    writeAll(fd, header, null, temp);
    written += header.length;
    const zeros = new Uint8Array(alignment);
    for (let i = 0; i < tensors.length; i++) {
      const plan = tensors[i]!;
      const t = await plan.produce();
      const want = TENSOR_TYPES[plan.type].engine;
      if (t.dtype !== want || t.shape.length !== plan.shape.length || t.shape.some((d, j) => d !== plan.shape[j])) {
        throw new Error(`writeGguf ${target}: tensor "${plan.name}" was planned as ${plan.type} [${plan.shape.join(', ')}] but produced as ${t.dtype} [${t.shape.join(', ')}]`);
      }
      const bytes = storedBytes(t);
      writeAll(fd, bytes, null, temp);
      const pad = alignUp(bytes.length, alignment) - bytes.length;
      // The last tensor is padded too: ggml counts padded sizes, and some readers map whole aligned blocks.
      writeAll(fd, zeros.subarray(0, pad), null, temp);
      written += bytes.length + pad;
      opts.onTensor?.(i + 1, tensors.length, plan.name);
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    renameSync(temp, target);
    syncDir(dir);
    return { bytes: written };
  } catch (e) {
    if (fd !== null) {
      try {
        closeSync(fd);
      } catch {
        // Already closed by the failed write.
      }
    }
    rmSync(temp, { force: true });
    throw e;
  }
}
