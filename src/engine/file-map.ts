/**
 * The hook through which checkpoint readers (src/io) map files into memory: the native backend registers a
 * mapper when its addon loads; io asks for it and reads files the ordinary way when there is none (no
 * addon, LLAVA_BACKEND=ts, a platform without mmap).
 *
 * Why a hook of its own rather than a field of `Backend`: mapping a file is a property of the process (is
 * the addon loaded?), not of the compute backend that happens to be active — tests switch backends with
 * `withBackend('ts', …)` and the weights they read must not change provenance. io may import only the
 * engine, and the engine never imports a concrete backend, so the mapper is registered here, like backends.
 *
 * Not here: deciding whether to map (io's options and LLAVA_MMAP) or the mapping itself (native/src/mmap.*).
 */

export interface FileMapper {
  /**
   * An ArrayBuffer over a private copy-on-write mapping of all of `path` (writes never reach the file).
   * The mapping lives as long as the buffer. Throws an Error naming the file and the system error.
   */
  map(path: string): ArrayBuffer;
}

let mapper: FileMapper | null = null;

export function setFileMapper(m: FileMapper | null): void {
  mapper = m;
}

/** The registered mapper, or null when files must be read. */
export function fileMapper(): FileMapper | null {
  return mapper;
}
