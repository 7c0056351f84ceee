/**
 * The hook through which checkpoint readers (src/io) map files into memory: the native backend registers a
 * mapper when its addon loads; io asks for a mapping and reads files the ordinary way when there is no
 * mapper (no addon, LLAVA_BACKEND=ts, a platform without mmap).
 *
 * Why a hook of its own rather than a field of `Backend`: mapping a file is a property of the process (is
 * the addon loaded?), not of the compute backend that happens to be active — tests switch backends with
 * `withBackend('ts', …)` and the weights they read must not change provenance. io may import only the
 * engine, and the engine never imports a concrete backend, so the mapper is registered here, like backends.
 *
 * A mapping hands out views, one ArrayBuffer per byte range, rather than one buffer over the whole file:
 * V8 in Node 20 cannot wrap more than 4 GiB of external memory in one ArrayBuffer, and shards are often
 * larger. Views are remembered here so that callers can tell mapped storage from ordinary memory.
 *
 * Not here: deciding whether to map (io's options and LLAVA_MMAP) or the mapping itself (native/src/mmap.*).
 */

/** A private copy-on-write mapping of a whole file (writes never reach the file). */
export interface MappedFile {
  /** File size in bytes at mapping time. */
  readonly bytes: number;
  /** Largest byte length `view` accepts. */
  readonly maxView: number;
  /**
   * An ArrayBuffer over [byteOffset, byteOffset + byteLength) of the file. The mapping stays alive while
   * this MappedFile or any view is reachable.
   */
  view(byteOffset: number, byteLength: number): ArrayBuffer;
}

export interface FileMapper {
  /** Maps all of `path`; throws an Error naming the file and the system error. */
  map(path: string): MappedFile;
  /**
   * Hands the resident pages of a view back to the OS (the view stays valid: pages are read again from
   * the file when touched); returns the bytes released. Optional: a mapper without it releases nothing.
   */
  release?(view: ArrayBufferLike): number;
}

let mapper: FileMapper | null = null;
const views = new WeakSet<ArrayBufferLike>();

export function setFileMapper(m: FileMapper | null): void {
  mapper = m;
}

/** Whether a mapper is registered (else files must be read). */
export function fileMappingAvailable(): boolean {
  return mapper !== null;
}

/** Maps `path` with the registered mapper; null when there is none. */
export function mapFile(path: string): MappedFile | null {
  if (!mapper) return null;
  const m = mapper.map(path);
  return {
    bytes: m.bytes,
    maxView: m.maxView,
    view(byteOffset, byteLength) {
      const b = m.view(byteOffset, byteLength);
      views.add(b);
      return b;
    },
  };
}

/**
 * For data read once and no longer needed in memory (weights quantized at load): drops the resident pages
 * of a mapped view so that they stop counting in the process's memory. The view stays readable (pages come
 * back from the file when touched), but anything written through it is lost. A buffer that is not a
 * mapped view is left alone. Returns the bytes released (0 when nothing was).
 */
export function releaseMappedPages(buffer: ArrayBufferLike): number {
  if (!mapper?.release || !views.has(buffer)) return 0;
  return mapper.release(buffer);
}

/** True when `buffer` is a view over a mapped file (writes to it change this process's copy only). */
export function isFileMapped(buffer: ArrayBufferLike): boolean {
  return views.has(buffer);
}
