/**
 * Test-side builders for torch-style archives: a pickle assembler (opcode by opcode, so tests can write
 * pickles torch never would) and a stored-zip writer with optional ZIP64 records and sparse entries (to
 * place real entries past 4 GiB without writing 4 GiB). Written from the format specifications,
 * independently of the readers under test.
 */
import { closeSync, openSync, writeSync } from 'node:fs';

/** Pickle assembler: each method appends one opcode. */
export class Pickle {
  private readonly out: number[] = [];

  private le(v: number, bytes: number): this {
    for (let i = 0; i < bytes; i++) this.out.push(Math.floor(v / 2 ** (8 * i)) & 0xff);
    return this;
  }
  op(code: number, ...args: number[]): this {
    this.out.push(code, ...args);
    return this;
  }
  proto(): this { return this.op(0x80, 2); }
  mark(): this { return this.op(0x28); }
  stop(): this { return this.op(0x2e); }
  none(): this { return this.op(0x4e); }
  bool(v: boolean): this { return this.op(v ? 0x88 : 0x89); }
  int(v: number): this {
    if (v >= 0 && v < 256) return this.op(0x4b, v);
    if (v >= 0 && v < 65536) return this.op(0x4d).le(v, 2);
    return this.op(0x4a).le(v >>> 0, 4);
  }
  long1(bytes: number[]): this { return this.op(0x8a, bytes.length, ...bytes); }
  float(v: number): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, false);
    return this.op(0x47, ...b);
  }
  str(s: string): this {
    const b = Buffer.from(s, 'utf8');
    this.op(0x58).le(b.length, 4);
    for (const c of b) this.out.push(c);
    return this;
  }
  global(module: string, name: string): this {
    return this.op(0x63, ...Buffer.from(`${module}\n${name}\n`, 'latin1'));
  }
  emptyTuple(): this { return this.op(0x29); }
  tuple(): this { return this.op(0x74); }
  tupleN(n: 1 | 2 | 3): this { return this.op(0x84 + n); }
  emptyDict(): this { return this.op(0x7d); }
  emptyList(): this { return this.op(0x5d); }
  appends(): this { return this.op(0x65); }
  setitem(): this { return this.op(0x73); }
  setitems(): this { return this.op(0x75); }
  put(i: number): this { return this.op(0x71, i); }
  get(i: number): this { return this.op(0x68, i); }
  persid(): this { return this.op(0x51); }
  reduce(): this { return this.op(0x52); }
  build(): this { return this.op(0x62); }
  ints(values: number[]): this {
    this.mark();
    for (const v of values) this.int(v);
    return this.tuple();
  }
  /** `_rebuild_tensor_v2(('storage', torch.<cls>, key, 'cpu', numel), offset, size, stride, False, OrderedDict())` */
  tensor(cls: string, key: string, numel: number, offset: number, size: number[], stride: number[]): this {
    this.global('torch._utils', '_rebuild_tensor_v2').mark();
    this.mark().str('storage').global('torch', cls).str(key).str('cpu').int(numel).tuple().persid();
    this.int(offset).ints(size).ints(stride).bool(false);
    this.global('collections', 'OrderedDict').emptyTuple().reduce();
    return this.tuple().reduce();
  }
  bytes(): Uint8Array {
    return new Uint8Array(this.out);
  }
}

export interface ZipItem {
  name: string;
  /** Entry content; with `sparseSize` instead, the entry's data is a hole of that many bytes. */
  data?: Uint8Array;
  sparseSize?: number;
  /** Compression method to claim (default 0 = stored). */
  method?: number;
}

/**
 * Writes a zip of stored entries. With `zip64`, every size and offset goes through ZIP64 extra fields and
 * the ZIP64 end record (as writers do past 4 GiB).
 */
export function writeZip(path: string, items: ZipItem[], zip64: boolean): void {
  const fd = openSync(path, 'w');
  const put = (b: Uint8Array, at: number) => writeSync(fd, b, 0, b.length, at);
  const central: Uint8Array[] = [];
  let pos = 0;
  for (const it of items) {
    const name = Buffer.from(it.name, 'utf8');
    const size = it.data ? it.data.length : it.sparseSize!;
    const big = zip64 ? 0xffffffff : size;
    const localExtra = zip64 ? extra64([size, size]) : new Uint8Array(0);
    const local = new Uint8Array(30 + name.length + localExtra.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, zip64 ? 45 : 20, true);
    lv.setUint16(8, it.method ?? 0, true);
    lv.setUint32(18, big, true);
    lv.setUint32(22, big, true);
    lv.setUint16(26, name.length, true);
    lv.setUint16(28, localExtra.length, true);
    local.set(name, 30);
    local.set(localExtra, 30 + name.length);
    put(local, pos);
    if (it.data) put(it.data, pos + local.length);

    const cExtra = zip64 ? extra64([size, size, pos]) : new Uint8Array(0);
    const c = new Uint8Array(46 + name.length + cExtra.length);
    const cv = new DataView(c.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 45, true);
    cv.setUint16(6, zip64 ? 45 : 20, true);
    cv.setUint16(10, it.method ?? 0, true);
    cv.setUint32(20, big, true);
    cv.setUint32(24, big, true);
    cv.setUint16(28, name.length, true);
    cv.setUint16(30, cExtra.length, true);
    cv.setUint32(42, zip64 ? 0xffffffff : pos, true);
    c.set(name, 46);
    c.set(cExtra, 46 + name.length);
    central.push(c);
    pos += local.length + size;
  }
  const cdOffset = pos;
  for (const c of central) {
    put(c, pos);
    pos += c.length;
  }
  const cdSize = pos - cdOffset;
  if (zip64) {
    const rec = new Uint8Array(56);
    const rv = new DataView(rec.buffer);
    rv.setUint32(0, 0x06064b50, true);
    rv.setBigUint64(4, 44n, true);
    rv.setUint16(12, 45, true);
    rv.setUint16(14, 45, true);
    rv.setBigUint64(24, BigInt(items.length), true);
    rv.setBigUint64(32, BigInt(items.length), true);
    rv.setBigUint64(40, BigInt(cdSize), true);
    rv.setBigUint64(48, BigInt(cdOffset), true);
    put(rec, pos);
    const loc = new Uint8Array(20);
    const lv = new DataView(loc.buffer);
    lv.setUint32(0, 0x07064b50, true);
    lv.setBigUint64(8, BigInt(pos), true);
    lv.setUint32(16, 1, true);
    pos += rec.length;
    put(loc, pos);
    pos += loc.length;
  }
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, zip64 ? 0xffff : items.length, true);
  ev.setUint16(10, zip64 ? 0xffff : items.length, true);
  ev.setUint32(12, zip64 ? 0xffffffff : cdSize, true);
  ev.setUint32(16, zip64 ? 0xffffffff : cdOffset, true);
  put(end, pos);
  closeSync(fd);
}

function extra64(values: number[]): Uint8Array {
  const b = new Uint8Array(4 + 8 * values.length);
  const v = new DataView(b.buffer);
  v.setUint16(0, 0x0001, true);
  v.setUint16(2, 8 * values.length, true);
  values.forEach((x, i) => v.setBigUint64(4 + 8 * i, BigInt(x), true));
  return b;
}
