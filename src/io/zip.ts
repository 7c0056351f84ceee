/**
 * A ZIP central-directory reader for torch.save archives: finds the end record (ZIP64 when present), lists
 * the entries and locates each entry's data by its local header, so callers read entry bytes at a file
 * offset themselves. Offsets and sizes are 64-bit (a LLaVA shard is ~10 GB, past the 4 GiB of classic ZIP).
 *
 * Deliberately minimal: stored (uncompressed) entries only — torch never compresses — and compressed or
 * encrypted entries are refused with an error naming the entry. No CRC check (it would mean reading every
 * byte of a 10 GB shard up front); structure and byte ranges are checked instead. Not a zip writer.
 */
import { rangeText, readBytes, withFile } from './fileio.js';

const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;
const EOCD_SIZE = 22;
const LOCATOR_SIZE = 20;
const CENTRAL_SIZE = 46;
const LOCAL_SIZE = 30;
/** Refuse absurd central directories instead of allocating them (a 7B shard's is ~30 KB). */
const MAX_CENTRAL_BYTES = 256 << 20;

export interface ZipEntry {
  readonly name: string;
  /** Compression method (0 = stored). */
  readonly method: number;
  readonly flags: number;
  readonly size: number;
  readonly compressedSize: number;
  readonly localHeaderOffset: number;
}

function u64(v: DataView, at: number): number {
  const n = v.getBigUint64(at, true);
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`64-bit value ${n} is too large`);
  return Number(n);
}

export class ZipArchive {
  readonly entries = new Map<string, ZipEntry>();
  private readonly dataOffsets = new Map<string, number>();

  private constructor(readonly path: string, readonly size: number) {}

  /** Reads the end record and central directory of `path` (of `size` bytes) through `fd`. */
  static read(fd: number, path: string, size: number): ZipArchive {
    const zip = new ZipArchive(path, size);
    const { count, cdOffset, cdSize } = zip.findDirectory(fd);
    if (cdOffset + cdSize > size) {
      throw new Error(`${path}: zip central directory (${rangeText(cdOffset, cdOffset + cdSize)}) extends past the end of the ${size}-byte file`);
    }
    if (cdSize > MAX_CENTRAL_BYTES) throw new Error(`${path}: zip central directory of ${cdSize} bytes is implausibly large`);
    zip.parseDirectory(readBytes(fd, cdOffset, cdSize, path, 'the zip central directory'), cdOffset, count);
    return zip;
  }

  private findDirectory(fd: number): { count: number; cdOffset: number; cdSize: number } {
    const { path, size } = this;
    // The end record is the last 22 bytes plus a comment of up to 65535 bytes.
    const tailLen = Math.min(size, EOCD_SIZE + 0xffff);
    const tail = readBytes(fd, size - tailLen, tailLen, path, 'the zip end record');
    const tv = new DataView(tail.buffer);
    let at = -1;
    for (let i = tailLen - EOCD_SIZE; i >= 0; i--) {
      if (tv.getUint32(i, true) === SIG_EOCD && i + EOCD_SIZE + tv.getUint16(i + 20, true) === tailLen) {
        at = i;
        break;
      }
    }
    if (at < 0) throw new Error(`${path}: not a zip archive (no end-of-central-directory record in the last ${tailLen} bytes)`);
    const eocdPos = size - tailLen + at;
    let count = tv.getUint16(at + 10, true);
    let cdSize = tv.getUint32(at + 12, true);
    let cdOffset = tv.getUint32(at + 16, true);
    if (tv.getUint16(at + 4, true) !== 0 || tv.getUint16(at + 6, true) !== 0) throw new Error(`${path}: multi-disk zip archives are not supported`);

    // ZIP64: a locator right before the end record points at the 64-bit end record.
    const locPos = eocdPos - LOCATOR_SIZE;
    if (locPos >= 0) {
      const loc = new DataView(readBytes(fd, locPos, LOCATOR_SIZE, path, 'the zip64 locator').buffer);
      if (loc.getUint32(0, true) === SIG_ZIP64_LOCATOR) {
        const recPos = u64(loc, 8);
        if (recPos + 56 > locPos) throw new Error(`${path}: zip64 end record offset ${recPos} (from the locator at byte ${locPos}) is out of range`);
        const rec = new DataView(readBytes(fd, recPos, 56, path, 'the zip64 end record').buffer);
        if (rec.getUint32(0, true) !== SIG_ZIP64_EOCD) throw new Error(`${path}: no zip64 end record at byte ${recPos} where the locator points`);
        count = u64(rec, 32);
        cdSize = u64(rec, 40);
        cdOffset = u64(rec, 48);
        return { count, cdOffset, cdSize };
      }
    }
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      throw new Error(`${path}: zip end record needs ZIP64 values but no zip64 locator precedes it (byte ${eocdPos})`);
    }
    return { count, cdOffset, cdSize };
  }

  private parseDirectory(cd: Uint8Array, cdOffset: number, count: number): void {
    const { path } = this;
    const v = new DataView(cd.buffer, cd.byteOffset, cd.byteLength);
    const names = new TextDecoder('utf-8');
    let p = 0;
    for (let i = 0; i < count; i++) {
      const here = `zip central directory entry ${i} (byte ${cdOffset + p})`;
      if (p + CENTRAL_SIZE > cd.length || v.getUint32(p, true) !== SIG_CENTRAL) throw new Error(`${path}: ${here} is missing or corrupt`);
      const flags = v.getUint16(p + 8, true);
      const method = v.getUint16(p + 10, true);
      let compressedSize = v.getUint32(p + 20, true);
      let size = v.getUint32(p + 24, true);
      const nameLen = v.getUint16(p + 28, true);
      const extraLen = v.getUint16(p + 30, true);
      const commentLen = v.getUint16(p + 32, true);
      let localHeaderOffset = v.getUint32(p + 42, true);
      const end = p + CENTRAL_SIZE + nameLen + extraLen + commentLen;
      if (end > cd.length) throw new Error(`${path}: ${here} runs past the central directory`);
      const name = names.decode(cd.subarray(p + CENTRAL_SIZE, p + CENTRAL_SIZE + nameLen));

      // ZIP64 extended information (extra field 0x0001) holds, in this order, exactly those of
      // size / compressed size / local offset whose 32-bit fields are 0xFFFFFFFF.
      let q = p + CENTRAL_SIZE + nameLen;
      const extraEnd = q + extraLen;
      while (q + 4 <= extraEnd) {
        const id = v.getUint16(q, true);
        const len = v.getUint16(q + 2, true);
        if (q + 4 + len > extraEnd) throw new Error(`${path}: ${here} ("${name}") has a truncated extra field`);
        if (id === 0x0001) {
          let r = q + 4;
          const take = (): number => {
            if (r + 8 > q + 4 + len) throw new Error(`${path}: ${here} ("${name}") has a short zip64 extra field`);
            const x = u64(v, r);
            r += 8;
            return x;
          };
          if (size === 0xffffffff) size = take();
          if (compressedSize === 0xffffffff) compressedSize = take();
          if (localHeaderOffset === 0xffffffff) localHeaderOffset = take();
        }
        q += 4 + len;
      }
      if (this.entries.has(name)) throw new Error(`${path}: zip entry "${name}" appears twice`);
      this.entries.set(name, { name, method, flags, size, compressedSize, localHeaderOffset });
      p = end;
    }
  }

  /** The entry `name`, checked to be stored uncompressed and unencrypted. */
  storedEntry(name: string): ZipEntry {
    const e = this.entries.get(name);
    if (!e) throw new Error(`${this.path}: zip entry "${name}" is missing`);
    if (e.flags & 1) throw new Error(`${this.path}: zip entry "${name}" is encrypted`);
    if (e.method !== 0) {
      throw new Error(`${this.path}: zip entry "${name}" is compressed (method ${e.method}); torch.save writes stored entries, re-save the checkpoint with torch.save`);
    }
    if (e.compressedSize !== e.size) throw new Error(`${this.path}: stored zip entry "${name}" has sizes ${e.compressedSize} and ${e.size}`);
    return e;
  }

  /**
   * File offset of the data of stored entry `name`, from its local header (whose extra field differs from
   * the central one: torch pads it so data is 64-byte aligned). Cached per entry.
   */
  dataOffset(fd: number, name: string): number {
    const known = this.dataOffsets.get(name);
    if (known !== undefined) return known;
    const e = this.storedEntry(name);
    const at = e.localHeaderOffset;
    if (at + LOCAL_SIZE > this.size) throw new Error(`${this.path}: local header of zip entry "${name}" at byte ${at} is past the end of the file`);
    const h = new DataView(readBytes(fd, at, LOCAL_SIZE, this.path, `the local header of zip entry "${name}"`).buffer);
    if (h.getUint32(0, true) !== SIG_LOCAL) throw new Error(`${this.path}: no local header for zip entry "${name}" at byte ${at}`);
    const nameLen = h.getUint16(26, true);
    const extraLen = h.getUint16(28, true);
    const localName = new TextDecoder('utf-8').decode(readBytes(fd, at + LOCAL_SIZE, nameLen, this.path, `the name of zip entry "${name}"`));
    if (localName !== name) throw new Error(`${this.path}: local header at byte ${at} names "${localName}", the central directory "${name}"`);
    const start = at + LOCAL_SIZE + nameLen + extraLen;
    if (start + e.size > this.size) {
      throw new Error(`${this.path}: data of zip entry "${name}" (${rangeText(start, start + e.size)}) extends past the end of the ${this.size}-byte file`);
    }
    this.dataOffsets.set(name, start);
    return start;
  }

  /** The whole content of a small stored entry (the pickle, the version file). */
  readEntry(fd: number, name: string): Uint8Array {
    const e = this.storedEntry(name);
    return readBytes(fd, this.dataOffset(fd, name), e.size, this.path, `zip entry "${name}"`);
  }
}

/** Opens `path` and reads its directory (the descriptor is closed again). */
export function openZip(path: string, size: number): ZipArchive {
  return withFile(path, size, (fd) => ZipArchive.read(fd, path, size));
}
