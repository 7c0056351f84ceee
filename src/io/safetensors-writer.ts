/**
 * safetensors writing: atomic (each file is written to a temporary name in the target folder, fsynced,
 * then renamed; on failure the temporaries are removed and existing files are untouched), streaming
 * (tensors are produced and written one at a time), with `__metadata__`, and sharded by a maximum data
 * size into `<stem>-0000i-of-0000n.safetensors` plus `<stem>.safetensors.index.json`, as Hugging Face
 * names them.
 *
 * Two input forms:
 * - planned: names, dtypes and shapes known up front (a Map/record of tensors, or `PlannedTensor`s whose
 *   data is produced on demand). The header is written first and each tensor's bytes exactly once, so a
 *   14 GB checkpoint needs only one tensor in memory at a time. Tensors are ordered by item size (largest
 *   first, stable otherwise), so every tensor starts aligned to its item size, as the reference
 *   implementation orders them;
 * - streamed: an (async) iterable of [name, tensor] whose shapes are unknown until they arrive. Data goes
 *   to a spool file first and is copied behind the header when the shard closes (one extra copy on disk,
 *   still one tensor in memory). Order is kept as given.
 * In both, the header is padded with spaces so the data section starts at a multiple of 8 bytes.
 *
 * Not here: reading (safetensors.ts).
 */
import { closeSync, fsyncSync, openSync, readdirSync, readSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { DType } from '../engine/dtype.js';
import type { Tensor } from '../engine/tensor.js';
import { storedTypeOf, storedBytes, type StoredType } from './elements.js';
import { assertLittleEndianHost, syncDir, writeAll } from './fileio.js';

export interface PlannedTensor {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** Produces the data when its turn comes (it must match dtype and shape). */
  readonly produce: () => Tensor | Promise<Tensor>;
}

export type TensorsToWrite =
  | ReadonlyMap<string, Tensor>
  | Readonly<Record<string, Tensor>>
  | readonly PlannedTensor[]
  | Iterable<readonly [string, Tensor]>
  | AsyncIterable<readonly [string, Tensor]>;

export interface WriteOptions {
  /** `__metadata__` (string → string) written into every file. */
  metadata?: Readonly<Record<string, string>>;
  /** Largest data size of one file in bytes; more data is split into shards (a larger tensor gets a shard alone). */
  maxShardBytes?: number;
}

export interface WriteResult {
  /** Files written, in order (one file, or the shards). */
  readonly files: string[];
  /** The index file when sharded, else null. */
  readonly index: string | null;
  /** Total tensor data bytes. */
  readonly totalBytes: number;
}

interface Slot {
  readonly name: string;
  readonly type: StoredType;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly bytes: number;
}

const COPY_CHUNK = 16 << 20;

/**
 * Writes `tensors` to `target` (a `.safetensors` path; with sharding its stem names the shards and the
 * index). Resolves once every file is durable under its final name.
 */
export async function writeSafetensors(target: string, tensors: TensorsToWrite, opts: WriteOptions = {}): Promise<WriteResult> {
  assertLittleEndianHost('safetensors writer');
  const max = opts.maxShardBytes ?? Infinity;
  if (!(max > 0)) throw new Error(`writeSafetensors ${target}: maxShardBytes must be positive, got ${opts.maxShardBytes}`);
  const metadata = checkMetadata(target, opts.metadata);
  const job = new WriteJob(target, metadata, max);
  try {
    const planned = plannedForm(tensors);
    if (planned) await job.writePlanned(planned);
    else await job.writeStreamed(tensors as Iterable<readonly [string, Tensor]> | AsyncIterable<readonly [string, Tensor]>);
    return job.commit();
  } catch (e) {
    job.abort();
    throw e;
  }
}

function checkMetadata(target: string, m: Readonly<Record<string, string>> | undefined): Record<string, string> | null {
  if (!m) return null;
  for (const [k, v] of Object.entries(m)) {
    if (typeof v !== 'string') throw new Error(`writeSafetensors ${target}: __metadata__ value "${k}" is not a string`);
  }
  return { ...m };
}

function isPlannedArray(x: unknown): x is readonly PlannedTensor[] {
  return Array.isArray(x) && x.every((p) => typeof p === 'object' && p !== null && typeof (p as PlannedTensor).produce === 'function');
}

/** Inputs whose names, dtypes and shapes are known before any data is written. */
function plannedForm(t: TensorsToWrite): PlannedTensor[] | null {
  const fromTensor = (name: string, x: Tensor): PlannedTensor => ({ name, dtype: x.dtype, shape: x.shape, produce: () => x });
  if (t instanceof Map) return [...(t as ReadonlyMap<string, Tensor>)].map(([n, x]) => fromTensor(n, x));
  if (isPlannedArray(t)) return [...t];
  // An array of pairs is already in memory: plan it rather than spool it.
  if (Array.isArray(t) && t.every((e) => Array.isArray(e) && e.length === 2)) {
    return (t as (readonly [string, Tensor])[]).map(([n, x]) => fromTensor(n, x));
  }
  const iterable = typeof (t as Iterable<unknown>)[Symbol.iterator] === 'function' || typeof (t as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function';
  if (iterable) return null;
  return Object.entries(t as Record<string, Tensor>).map(([n, x]) => fromTensor(n, x));
}



/** `{"__metadata__":…,"name":{"dtype",…}}` padded with spaces so 8 + length is a multiple of 8. */
function headerBytes(slots: readonly Slot[], metadata: Record<string, string> | null): Uint8Array {
  const parts: string[] = [];
  if (metadata) parts.push(`"__metadata__":${JSON.stringify(metadata)}`);
  let offset = 0;
  for (const s of slots) {
    // Keys are written as JSON strings, never as object properties ("__proto__" is a legal tensor name).
    parts.push(`${JSON.stringify(s.name)}:{"dtype":"${s.type.name}","shape":${JSON.stringify(s.shape)},"data_offsets":[${offset},${offset + s.bytes}]}`);
    offset += s.bytes;
  }
  let json = `{${parts.join(',')}}`;
  const len = Buffer.byteLength(json);
  json += ' '.repeat((8 - ((8 + len) % 8)) % 8);
  const body = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + body.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(body.length), true);
  out.set(body, 8);
  return out;
}

class WriteJob {
  private readonly dir: string;
  private readonly stem: string;
  private readonly names = new Set<string>();
  /** Finished shards: temp path and slots, in order. */
  private readonly shards: { temp: string; slots: Slot[] }[] = [];
  private readonly temps = new Set<string>();
  private readonly open = new Set<number>();
  private totalBytes = 0;

  constructor(private readonly target: string, private readonly metadata: Record<string, string> | null, private readonly max: number) {
    this.dir = path.dirname(target);
    const base = path.basename(target);
    this.stem = base.endsWith('.safetensors') ? base.slice(0, -'.safetensors'.length) : base;
  }

  private fail(msg: string): never {
    throw new Error(`writeSafetensors ${this.target}: ${msg}`);
  }

  private slot(name: string, dtype: DType, shape: readonly number[]): Slot {
    if (typeof name !== 'string' || name === '' || name === '__metadata__') this.fail(`invalid tensor name ${JSON.stringify(name)}`);
    if (this.names.has(name)) this.fail(`tensor "${name}" is given twice`);
    this.names.add(name);
    const type = storedTypeOf(dtype);
    if (!type) this.fail(`tensor "${name}" has dtype ${dtype}, which safetensors cannot store`);
    if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) this.fail(`tensor "${name}" has invalid shape [${shape.join(', ')}]`);
    const bytes = shape.reduce((a, b) => a * b, 1) * type.itemBytes;
    this.totalBytes += bytes;
    return { name, type, dtype, shape: [...shape], bytes };
  }

  private tempFile(): { temp: string; fd: number } {
    const temp = path.join(this.dir, `.${this.stem}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
    this.temps.add(temp);
    const fd = openSync(temp, 'wx+');
    this.open.add(fd);
    return { temp, fd };
  }

  private closeDurably(fd: number): void {
    fsyncSync(fd);
    closeSync(fd);
    this.open.delete(fd);
  }

  private check(slot: Slot, t: Tensor): void {
    if (t.dtype !== slot.dtype || t.shape.length !== slot.shape.length || t.shape.some((d, i) => d !== slot.shape[i])) {
      this.fail(`tensor "${slot.name}" was planned as ${slot.dtype} [${slot.shape.join(', ')}] but produced as ${t.dtype} [${t.shape.join(', ')}]`);
    }
  }

  /** Splits slots into shards: a shard takes tensors until the next would pass the maximum. */
  private split(slots: Slot[]): Slot[][] {
    const out: Slot[][] = [];
    let cur: Slot[] = [];
    let size = 0;
    for (const s of slots) {
      if (cur.length && size + s.bytes > this.max) {
        out.push(cur);
        cur = [];
        size = 0;
      }
      cur.push(s);
      size += s.bytes;
    }
    out.push(cur);
    return out;
  }

  async writePlanned(planned: PlannedTensor[]): Promise<void> {
    const slots = planned.map((p) => ({ slot: this.slot(p.name, p.dtype, p.shape), produce: p.produce }));
    // Stable sort by item size, largest first: every tensor then starts aligned to its own item size.
    slots.sort((a, b) => b.slot.type.itemBytes - a.slot.type.itemBytes);
    const produceOf = new Map(slots.map((s) => [s.slot.name, s.produce]));
    for (const shard of this.split(slots.map((s) => s.slot))) {
      const { temp, fd } = this.tempFile();
      writeAll(fd, headerBytes(shard, this.metadata), null, temp);
      for (const s of shard) {
        const t = await produceOf.get(s.name)!();
        this.check(s, t);
        writeAll(fd, storedBytes(t), null, temp);
      }
      this.closeDurably(fd);
      this.shards.push({ temp, slots: shard });
    }
  }

  async writeStreamed(items: Iterable<readonly [string, Tensor]> | AsyncIterable<readonly [string, Tensor]>): Promise<void> {
    let spool: { temp: string; fd: number } | null = null;
    let slots: Slot[] = [];
    let size = 0;
    const finish = (): void => {
      if (!spool) return;
      const s = spool;
      spool = null;
      this.shards.push({ temp: this.assemble(s, slots), slots });
      slots = [];
      size = 0;
    };
    for await (const entry of items as AsyncIterable<readonly [string, Tensor]>) {
      if (!Array.isArray(entry) || entry.length !== 2) this.fail('streamed items must be [name, tensor] pairs');
      const [name, t] = entry;
      const slot = this.slot(name, t.dtype, t.shape);
      if (slots.length && size + slot.bytes > this.max) finish();
      spool ??= this.tempFile();
      writeAll(spool.fd, storedBytes(t), null, spool.temp);
      slots.push(slot);
      size += slot.bytes;
    }
    if (!spool) spool = this.tempFile();
    finish();
  }

  /** Header + spooled data into a new temp file; the spool is removed. */
  private assemble(spool: { temp: string; fd: number }, slots: Slot[]): string {
    const { temp, fd } = this.tempFile();
    const header = headerBytes(slots, this.metadata);
    writeAll(fd, header, null, temp);
    const buf = new Uint8Array(COPY_CHUNK);
    const total = slots.reduce((a, s) => a + s.bytes, 0);
    for (let pos = 0; pos < total;) {
      const n = readSync(spool.fd, buf, 0, Math.min(COPY_CHUNK, total - pos), pos);
      if (n <= 0) this.fail(`spool file ${spool.temp} ended at byte ${pos} of ${total}`);
      writeAll(fd, buf.subarray(0, n), null, temp);
      pos += n;
    }
    this.closeDurably(fd);
    closeSync(spool.fd);
    this.open.delete(spool.fd);
    rmSync(spool.temp, { force: true });
    this.temps.delete(spool.temp);
    return temp;
  }

  /** Renames temporaries to their final names (index last) and removes files the new set replaces. */
  commit(): WriteResult {
    const n = this.shards.length;
    const sharded = n > 1;
    const final = sharded
      ? this.shards.map((_, i) => path.join(this.dir, `${this.stem}-${String(i + 1).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.safetensors`))
      : [this.target];
    const indexPath = path.join(this.dir, `${this.stem}.safetensors.index.json`);
    let indexTemp: string | null = null;
    if (sharded) {
      const weightMap: Record<string, string> = {};
      const entries: [string, string][] = [];
      this.shards.forEach((s, i) => s.slots.forEach((slot) => entries.push([slot.name, path.basename(final[i]!)])));
      entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      for (const [k, v] of entries) Object.defineProperty(weightMap, k, { value: v, enumerable: true });
      const text = JSON.stringify({ metadata: { total_size: this.totalBytes }, weight_map: weightMap }, null, 2) + '\n';
      const { temp, fd } = this.tempFile();
      writeAll(fd, Buffer.from(text, 'utf8'), null, temp);
      this.closeDurably(fd);
      indexTemp = temp;
    }
    this.shards.forEach((s, i) => renameSync(s.temp, final[i]!));
    if (indexTemp) renameSync(indexTemp, indexPath);
    this.temps.clear();
    this.removeReplaced(sharded, final, indexPath);
    syncDir(this.dir);
    return { files: final, index: sharded ? indexPath : null, totalBytes: this.totalBytes };
  }

  /**
   * A previous write in the other form would shadow or contradict this one (a single file is preferred
   * over an index by readers; old shards of another count stay listed nowhere): remove them.
   */
  private removeReplaced(sharded: boolean, final: string[], indexPath: string): void {
    const shardName = new RegExp(`^${this.stem.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-\\d{5}-of-\\d{5}\\.safetensors$`);
    const keep = new Set(final.map((f) => path.basename(f)));
    for (const f of readdirSync(this.dir)) {
      if ((shardName.test(f) && !keep.has(f)) || (!sharded && path.join(this.dir, f) === indexPath)) rmSync(path.join(this.dir, f), { force: true });
    }
    if (sharded) rmSync(this.target, { force: true });
  }

  /** Closes and deletes everything this job created; existing files were never touched. */
  abort(): void {
    for (const fd of this.open) {
      try {
        closeSync(fd);
      } catch {
        // Already closed by a failed write: nothing left to release.
      }
    }
    this.open.clear();
    for (const t of this.temps) rmSync(t, { force: true });
    this.temps.clear();
  }
}
