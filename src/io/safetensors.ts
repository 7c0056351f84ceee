/**
 * safetensors reading: a validated header (safetensors-header.ts), then each tensor on demand, either as a
 * view over a memory mapping of the file or read from its byte range into a fresh typed array.
 *
 * Mapping (the default when the native addon registered a file mapper, see engine/file-map.ts): the file
 * is mapped once at open, copy-on-write (MAP_PRIVATE), and a tensor whose stored bytes are its engine
 * storage (F32, F16, BF16, F64, I32, U8) and whose file offset is aligned to its item size is returned as
 * a typed array over its range of the mapping (`isFileMapped(t.data.buffer)` is then true): no copy, no
 * fresh memory to fault in, and the weights share the OS page cache. Everything else is read and copied
 * as before: unaligned offsets (legal in safetensors; a typed array needs element alignment), I64
 * (narrowed to i32), BOOL (checked 0/1), and tensors over 2 GiB (the view limit). `{ mmap: false }` or
 * LLAVA_MMAP=0 reads every tensor.
 *
 * What mapping means for callers:
 * - The mapping lives as long as the file object or any tensor over it (each view's ArrayBuffer holds a
 *   reference; it is unmapped only when the garbage collector finds none of them reachable).
 * - Writing into a returned tensor changes this process's copy only, never the file. A name read a second
 *   time from the same file is copied from the file, so earlier writes never leak into a later `get`.
 * - A file replaced by rename keeps serving the contents it had at open (through the mapping; the second
 *   read of a name, copied, reads the path again and is checked against the size at open). A file
 *   truncated by another process while mapped makes access past the new end raise SIGBUS and kill the
 *   process (a limitation of every mmap-based loader); the header's ranges are checked against the file
 *   size at open, and the mapping's size against the header's.
 *
 * `openSafetensors(path)` takes a `.safetensors` file or a `*.safetensors.index.json` and returns a
 * WeightSource. Not here: writing (safetensors-writer.ts), folder discovery (checkpoint.ts).
 */
import type { DType, TypedArray } from '../engine/dtype.js';
import { mapFile, type MappedFile } from '../engine/file-map.js';
import { Tensor } from '../engine/tensor.js';
import { assertLittleEndianHost, withFile } from './fileio.js';
import { finishElements, readRawElements, type StoredType } from './elements.js';
import { FileWeightSource, openShardedSource, type TensorFile } from './file-source.js';
import { readSafetensorsHeader, type SafetensorsEntry, type SafetensorsHeader } from './safetensors-header.js';
import type { TensorInfo } from './source.js';

export interface OpenOptions {
  /** Map the file and return tensors as views over it where possible (default true; LLAVA_MMAP=0: false). */
  mmap?: boolean;
}

/** Whether `opts` and the environment ask for mapping (the mapper may still be missing). */
export function mmapWanted(opts: OpenOptions = {}): boolean {
  return opts.mmap ?? process.env.LLAVA_MMAP !== '0';
}

const VIEW_KINDS: Partial<Record<DType, new (b: ArrayBuffer) => TypedArray>> = {
  f32: Float32Array, f64: Float64Array, f16: Uint16Array, bf16: Uint16Array, i32: Int32Array, u8: Uint8Array,
};

/**
 * A typed array over the mapped bytes [position, position + bytes) for stored types whose bytes are exactly
 * their engine storage, else null (the caller copies).
 */
function viewOf(type: StoredType, file: MappedFile, position: number, bytes: number): TypedArray | null {
  // I64 is narrowed and BOOL checked on read: they go through the copying path.
  if (type.name === 'I64' || type.name === 'BOOL' || type.engine === null) return null;
  const Kind = VIEW_KINDS[type.engine];
  // The mapping starts on a page boundary, so a file position aligned to the item size is an aligned address.
  if (!Kind || bytes === 0 || bytes > file.maxView || position % type.itemBytes !== 0) return null;
  return new Kind(file.view(position, bytes));
}

/** One opened .safetensors file. */
export class SafetensorsFile implements TensorFile {
  readonly path: string;
  readonly header: SafetensorsHeader;
  /** The whole file, mapped at open; null when reading instead. */
  private readonly mapped: MappedFile | null = null;
  /** Names handed out as views: a second read of one is copied (see the header comment). */
  private readonly viewed = new Set<string>();

  constructor(path: string, opts: OpenOptions = {}) {
    assertLittleEndianHost('safetensors');
    this.path = path;
    this.header = readSafetensorsHeader(path);
    const mapped = mmapWanted(opts) ? mapFile(path) : null;
    if (mapped && mapped.bytes !== this.header.fileSize) {
      throw new Error(`${path}: file size changed from ${this.header.fileSize} to ${mapped.bytes} bytes since it was opened`);
    }
    this.mapped = mapped;
  }

  /** Whether tensors are served from a mapping of the file. */
  get isMapped(): boolean {
    return this.mapped !== null;
  }

  /** `__metadata__` of the header (null when absent). */
  get metadata(): Readonly<Record<string, string>> | null {
    return this.header.metadata;
  }

  names(): string[] {
    return [...this.header.entries.keys()];
  }

  private entry(name: string): SafetensorsEntry {
    const e = this.header.entries.get(name);
    if (!e) throw new Error(`${this.path}: no tensor "${name}"`);
    return e;
  }

  info(name: string): TensorInfo {
    const e = this.entry(name);
    return { dtype: e.type.engine, shape: e.shape, storedAs: e.type.name };
  }

  read(name: string): Tensor {
    const e = this.entry(name);
    const count = e.end - e.begin === 0 ? 0 : (e.end - e.begin) / e.type.itemBytes;
    const position = this.header.dataStart + e.begin;
    let data = this.mapped && !this.viewed.has(name) ? viewOf(e.type, this.mapped, position, e.end - e.begin) : null;
    if (data) {
      this.viewed.add(name);
    } else {
      const what = `"${name}" (data_offsets [${e.begin}, ${e.end}])`;
      const raw = withFile(this.path, this.header.fileSize, (fd) => readRawElements(fd, position, e.type, count, this.path, what));
      data = finishElements(raw, e.type, this.path, what);
    }
    const t = new Tensor(data, e.type.engine!, e.shape);
    t.name = name;
    return t;
  }
}

/** A WeightSource over a .safetensors file or a sharded `*.safetensors.index.json`. */
export function openSafetensors(path: string, opts: OpenOptions = {}): FileWeightSource {
  if (path.endsWith('.json')) return openShardedSource(path, (f) => new SafetensorsFile(f, opts));
  return new FileWeightSource(path, [new SafetensorsFile(path, opts)]);
}
