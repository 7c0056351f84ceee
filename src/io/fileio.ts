/**
 * Positioned file reads for checkpoint readers: exact-length reads at 64-bit offsets into caller-owned
 * memory, with errors that name the file and the byte range, and a check that the file did not change
 * size since its header was parsed.
 *
 * Deliberately not a cache or a stream: every read goes to the file (the OS page cache does the rest),
 * and nothing here ever holds a whole checkpoint — a 10 GB shard is read tensor by tensor.
 */
import { closeSync, fstatSync, fsyncSync, openSync, readSync, writeSync } from 'node:fs';
import { endianness } from 'node:os';

// One read(2) returns at most ~2 GiB on Linux; smaller pieces also keep a failed read's error precise.
const READ_CHUNK = 1 << 30;

/** Checkpoint bytes are little-endian and are copied into typed arrays as they are. */
export function assertLittleEndianHost(what: string): void {
  if (endianness() !== 'LE') throw new Error(`${what}: reading little-endian checkpoints needs a little-endian machine`);
}

/** Byte range text used in every error: "bytes 120..4216". */
export function rangeText(begin: number, end: number): string {
  return `bytes ${begin}..${end}`;
}

/** Size of a file in bytes (numbers are exact up to 2^53, far beyond any checkpoint). */
export function fileSize(path: string): number {
  const fd = openSync(path, 'r');
  try {
    return fstatSync(fd).size;
  } finally {
    closeSync(fd);
  }
}

/**
 * Runs `f` with an open descriptor of `path`. With `expectSize`, a file whose size differs (replaced or
 * truncated since it was indexed) is an error rather than a read of unrelated bytes.
 */
export function withFile<T>(path: string, expectSize: number | null, f: (fd: number) => T): T {
  const fd = openSync(path, 'r');
  try {
    if (expectSize !== null) {
      const size = fstatSync(fd).size;
      if (size !== expectSize) throw new Error(`${path}: file size changed from ${expectSize} to ${size} bytes since it was opened`);
    }
    return f(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Fills `into` with the file bytes at [position, position + into.byteLength). A short file is an error
 * naming `what` (a tensor or entry), the file and the range.
 */
export function readExact(fd: number, into: ArrayBufferView, position: number, path: string, what: string): void {
  const bytes = new Uint8Array(into.buffer, into.byteOffset, into.byteLength);
  let done = 0;
  while (done < bytes.length) {
    const want = Math.min(READ_CHUNK, bytes.length - done);
    const n = readSync(fd, bytes, done, want, position + done);
    if (n === 0) {
      throw new Error(`${path}: file ends at byte ${position + done} while reading ${what} (${rangeText(position, position + bytes.length)})`);
    }
    done += n;
  }
}

/** Reads `length` bytes at `position` into a new Uint8Array. */
export function readBytes(fd: number, position: number, length: number, path: string, what: string): Uint8Array {
  const out = new Uint8Array(length);
  readExact(fd, out, position, path, what);
  return out;
}

/** Makes renames durable (directory entries are data too); not possible on every platform, where the files themselves are synced. */
export function syncDir(dir: string): void {
  let fd: number | null = null;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Directories cannot be opened for fsync on some platforms.
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

/** Writes all of `bytes` at `position` (null: the file's current position), in pieces of at most 1 GiB. */
export function writeAll(fd: number, bytes: Uint8Array, position: number | null, file: string): void {
  let done = 0;
  while (done < bytes.length) {
    const n = writeSync(fd, bytes, done, Math.min(bytes.length - done, 1 << 30), position === null ? null : position + done);
    if (n <= 0) throw new Error(`${file}: write failed at byte ${(position ?? 0) + done}`);
    done += n;
  }
}
