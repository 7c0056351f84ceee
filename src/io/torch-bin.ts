/**
 * PyTorch `.bin` checkpoints (torch.save's zip format, ZIP64 included): the pickle `<archive>/data.pkl`
 * is read with a restricted unpickler whose only callables are torch's tensor-rebuild functions, torch
 * storage types and collections.OrderedDict — any other global is refused and nothing is executed. Each
 * tensor is a view (storage offset, size, stride) of a storage kept in `<archive>/data/<key>`; reading a
 * tensor reads only the bytes its view spans and returns a new contiguous tensor.
 *
 * Nested dicts (a training checkpoint holding `{"model": state_dict, "epoch": 3}`) are flattened with '.'
 * and non-tensor values are skipped (listed in `skipped`). A storage shared by several tensors (tied
 * weights, views) is read once and kept only until each of those tensors has been returned once.
 *
 * Not here: legacy (pre-1.6, non-zip) torch files — refused with an error saying how to convert them —
 * and the generic zip/pickle machinery (zip.ts, unpickle.ts).
 */
import { Tensor } from '../engine/tensor.js';
import { allocArray, type TypedArray } from '../engine/dtype.js';
import { assertLittleEndianHost, fileSize, rangeText, readBytes, withFile } from './fileio.js';
import { finishElements, gatherStrided, rawUnits, readRawElements, storedType, type StoredType } from './elements.js';
import { FileWeightSource, openShardedSource, type TensorFile } from './file-source.js';
import type { TensorInfo } from './source.js';
import { PyDict, PyGlobal, PyTuple, unpickle, type PyValue, type UnpicklePolicy } from './unpickle.js';
import { openZip, type ZipArchive } from './zip.js';

/** torch storage classes → stored element type (safetensors spelling). */
const STORAGES: ReadonlyMap<string, string> = new Map([
  ['FloatStorage', 'F32'], ['HalfStorage', 'F16'], ['BFloat16Storage', 'BF16'], ['DoubleStorage', 'F64'],
  ['LongStorage', 'I64'], ['IntStorage', 'I32'], ['ShortStorage', 'I16'], ['CharStorage', 'I8'], ['ByteStorage', 'U8'],
  ['BoolStorage', 'BOOL'],
]);
const REBUILDERS = new Set(['_rebuild_tensor_v2', '_rebuild_parameter', '_rebuild_parameter_with_state']);
/** Nesting deeper than this is not a state dict; refusing it also bounds the flattening recursion. */
const MAX_DEPTH = 32;

interface StorageRef {
  readonly kind: 'storage';
  readonly key: string;
  readonly type: StoredType;
  readonly className: string;
  readonly numel: number;
}
interface TensorRef {
  readonly kind: 'tensor';
  readonly storage: StorageRef;
  readonly offset: number;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
}

const isStorage = (v: PyValue): v is StorageRef => typeof v === 'object' && v !== null && (v as { kind?: string }).kind === 'storage';
const isTensor = (v: PyValue): v is TensorRef => typeof v === 'object' && v !== null && (v as { kind?: string }).kind === 'tensor';

/** What torch.save's pickles may name and call, and what those calls build. */
class TorchPolicy implements UnpicklePolicy {
  readonly storages = new Map<string, StorageRef>();

  constructor(private readonly where: string) {}

  private fail(msg: string): never {
    throw new Error(`${this.where}: ${msg}`);
  }

  global(module: string, name: string): PyGlobal {
    const ok = (module === 'torch' && STORAGES.has(name)) || (module === 'torch._utils' && REBUILDERS.has(name)) ||
      (module === 'collections' && name === 'OrderedDict');
    if (!ok) {
      this.fail(`pickle global "${module}.${name}" is not allowed; a checkpoint may only name torch tensor-rebuild ` +
        'functions, torch storage types and collections.OrderedDict (nothing in the file is executed)');
    }
    return new PyGlobal(module, name);
  }

  call(fn: PyGlobal, args: readonly PyValue[]): PyValue {
    if (fn.qualified === 'collections.OrderedDict') {
      const d = new PyDict();
      const pairs = args[0];
      if (args.length > 1 || (pairs !== undefined && !Array.isArray(pairs))) this.fail('OrderedDict called with unexpected arguments');
      for (const p of (pairs ?? []) as PyValue[]) {
        if (!(p instanceof PyTuple) || p.items.length !== 2) this.fail('OrderedDict pair is not a 2-tuple');
        const key = (p as PyTuple).items[0]!;
        if (key !== null && typeof key === 'object') this.fail('OrderedDict key is not a str, int or bool');
        d.map.set(key as string, (p as PyTuple).items[1]!);
      }
      return d;
    }
    if (fn.name === '_rebuild_tensor_v2') return this.rebuildTensor(args);
    if (fn.name === '_rebuild_parameter' || fn.name === '_rebuild_parameter_with_state') {
      // A Parameter wraps a tensor; requires_grad, hooks and state do not change the data.
      if (!isTensor(args[0]!)) this.fail(`${fn.qualified} of something that is not a tensor`);
      return args[0]!;
    }
    return this.fail(`pickle calls ${fn.qualified}, which a checkpoint never calls`);
  }

  private rebuildTensor(args: readonly PyValue[]): TensorRef {
    const [storage, offset, size, stride] = args;
    if (args.length < 4 || !isStorage(storage!)) this.fail('_rebuild_tensor_v2 without a storage');
    const ints = (v: PyValue | undefined, what: string): number[] => {
      if (!(v instanceof PyTuple) || !v.items.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0)) {
        this.fail(`_rebuild_tensor_v2 ${what} is not a tuple of non-negative integers`);
      }
      return (v as PyTuple).items as number[];
    };
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) this.fail('_rebuild_tensor_v2 storage offset is not a non-negative integer');
    const shape = ints(size, 'size');
    const strides = ints(stride, 'stride');
    if (shape.length !== strides.length) this.fail(`_rebuild_tensor_v2 size (${shape.length} dims) and stride (${strides.length}) differ`);
    return { kind: 'tensor', storage: storage as StorageRef, offset: offset as number, shape, strides };
  }

  persistentLoad(pid: PyValue): PyValue {
    if (!(pid instanceof PyTuple) || pid.items[0] !== 'storage' || pid.items.length !== 5) this.fail('persistent id is not a torch storage record');
    const [, cls, key, , numel] = (pid as PyTuple).items;
    if (!(cls instanceof PyGlobal) || !STORAGES.has(cls.name) || cls.module !== 'torch') this.fail('storage record without a torch storage type');
    if (typeof key !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(key)) this.fail(`storage key ${JSON.stringify(key)} is not a plain name`);
    if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) this.fail(`storage "${key}" has an invalid element count`);
    const className = `torch.${(cls as PyGlobal).name}`;
    const known = this.storages.get(key as string);
    if (known) {
      if (known.className !== className || known.numel !== numel) this.fail(`storage "${key}" is described twice differently`);
      return known;
    }
    const ref: StorageRef = { kind: 'storage', key: key as string, type: storedType(STORAGES.get((cls as PyGlobal).name)!)!, className, numel: numel as number };
    this.storages.set(ref.key, ref);
    return ref;
  }

  build(obj: PyValue, state: PyValue): void {
    // A module state dict is an OrderedDict carrying `_metadata` (per-module versions): kept, not used.
    if (obj instanceof PyDict) obj.state = state;
    else this.fail('BUILD applies state to something other than a dict');
  }
}

/** Highest storage element a view touches (offset when empty). */
function lastElement(t: TensorRef): number {
  let last = t.offset;
  for (let i = 0; i < t.shape.length; i++) last += (t.shape[i]! - 1) * t.strides[i]!;
  return last;
}

function isContiguous(shape: readonly number[], strides: readonly number[]): boolean {
  let expect = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && strides[i] !== expect) return false;
    expect *= shape[i]!;
  }
  return true;
}

/** One opened torch.save archive. */
export class TorchBinFile implements TensorFile {
  private readonly size: number;
  private readonly zip: ZipArchive;
  private readonly prefix: string;
  private readonly tensors = new Map<string, TensorRef>();
  /** Non-tensor entries of the pickled dict (epoch counters, names, …), by flattened name. */
  readonly skipped: string[] = [];
  /** Shared storages read and not yet returned to every tensor viewing them. */
  private readonly cache = new Map<string, TypedArray>();
  private readonly pending = new Map<string, Set<string>>();
  /** Storage reads performed (shared storages count once while cached). */
  storageReads = 0;

  constructor(readonly path: string) {
    assertLittleEndianHost('torch .bin');
    this.size = fileSize(path);
    const magic = withFile(path, this.size, (fd) => readBytes(fd, 0, Math.min(4, this.size), path, 'the file signature'));
    if (!(magic[0] === 0x50 && magic[1] === 0x4b && magic[2] === 0x03 && magic[3] === 0x04)) {
      if (magic[0] === 0x80) {
        throw new Error(`${path}: legacy (pre-1.6, non-zip) torch serialization is not supported; re-save it with a current torch.save or convert it to safetensors`);
      }
      throw new Error(`${path}: not a torch.save zip archive (no zip signature at byte 0)`);
    }
    this.zip = openZip(path, this.size);
    const pickles = [...this.zip.entries.keys()].filter((n) => /^([^/]+\/)?data\.pkl$/.test(n));
    if (pickles.length !== 1) {
      throw new Error(`${path}: expected one data.pkl in the archive, found ${pickles.length ? pickles.join(', ') : 'none'}; not a torch.save checkpoint`);
    }
    const pkl = pickles[0]!;
    this.prefix = pkl.slice(0, pkl.length - 'data.pkl'.length);
    const where = `${path} (zip entry "${pkl}")`;
    const policy = new TorchPolicy(where);
    const root = withFile(path, this.size, (fd) => {
      if (this.zip.entries.has(`${this.prefix}byteorder`)) {
        const order = new TextDecoder().decode(this.zip.readEntry(fd, `${this.prefix}byteorder`)).trim();
        if (order !== 'little') throw new Error(`${path}: archive byteorder is "${order}"; only little-endian checkpoints are supported`);
      }
      return unpickle(this.zip.readEntry(fd, pkl), policy, where);
    });
    if (!(root instanceof PyDict)) throw new Error(`${where}: the pickle holds ${isTensor(root) ? 'a single tensor' : 'no dict'}, not a dict of tensors`);
    this.flatten(root, '', 0, new Set(), where);
    for (const [name, t] of this.tensors) this.checkView(name, t);
    for (const [name, t] of this.tensors) {
      const key = t.storage.key;
      if (!this.pending.has(key)) this.pending.set(key, new Set());
      this.pending.get(key)!.add(name);
    }
    for (const [key, users] of this.pending) if (users.size < 2) this.pending.delete(key);
  }

  private flatten(d: PyDict, prefix: string, depth: number, seen: Set<PyDict>, where: string): void {
    if (depth > MAX_DEPTH) throw new Error(`${where}: dicts nested deeper than ${MAX_DEPTH} levels at "${prefix}"`);
    if (seen.has(d)) throw new Error(`${where}: dict at "${prefix}" contains itself`);
    seen.add(d);
    for (const [k, v] of d.map) {
      const name = prefix + String(k);
      if (isTensor(v)) {
        if (this.tensors.has(name)) throw new Error(`${where}: tensor name "${name}" occurs twice after flattening nested dicts`);
        this.tensors.set(name, v);
      } else if (v instanceof PyDict) {
        this.flatten(v, `${name}.`, depth + 1, seen, where);
      } else {
        this.skipped.push(name);
      }
    }
    seen.delete(d);
  }

  private storageEntry(s: StorageRef): string {
    return `${this.prefix}data/${s.key}`;
  }

  /** The view must lie inside its storage, and the storage entry must hold exactly numel × item size bytes. */
  private checkView(name: string, t: TensorRef): void {
    const s = t.storage;
    const entryName = this.storageEntry(s);
    const entry = this.zip.storedEntry(entryName);
    const bytes = s.numel * s.type.itemBytes;
    if (entry.size !== bytes) {
      throw new Error(`${this.path}: tensor "${name}": storage "${s.key}" (${s.className}, ${s.numel} elements = ${bytes} bytes) but zip entry "${entryName}" holds ${entry.size} bytes`);
    }
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (numel > 0 && lastElement(t) >= s.numel) {
      const ib = s.type.itemBytes;
      throw new Error(`${this.path}: tensor "${name}" (offset ${t.offset}, size [${t.shape.join(', ')}], stride [${t.strides.join(', ')}]) ` +
        `reaches storage element ${lastElement(t)} (entry ${rangeText(t.offset * ib, (lastElement(t) + 1) * ib)}) beyond storage "${s.key}" of ${s.numel} elements`);
    }
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }

  private ref(name: string): TensorRef {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`${this.path}: no tensor "${name}"`);
    return t;
  }

  info(name: string): TensorInfo {
    const t = this.ref(name);
    return { dtype: t.storage.type.engine, shape: t.shape, storedAs: t.storage.type.name };
  }

  read(name: string): Tensor {
    const t = this.ref(name);
    const s = t.storage;
    const type = s.type;
    const what = `"${name}" (storage "${s.key}", ${s.className})`;
    if (type.engine === null) {
      throw new Error(`${this.path}: tensor ${what} has no engine dtype (supported: Float, Half, BFloat16, Double, Long, Int, Byte, Bool storages)`);
    }
    const numel = t.shape.reduce((a, b) => a * b, 1);
    const units = rawUnits(type);
    let raw: TypedArray;
    let viewOffset: number;
    if (numel === 0) {
      raw = units === 2 ? new Int32Array(0) : allocArray(type.engine, 0);
      viewOffset = 0;
    } else {
      const users = this.pending.get(s.key);
      const cached = this.cache.get(s.key);
      if (cached) {
        raw = cached;
      } else {
        // Shared storages are read whole (once); a storage of one tensor only over the span its view touches.
        const lo = users ? 0 : t.offset;
        const count = users ? s.numel : lastElement(t) - t.offset + 1;
        raw = withFile(this.path, this.size, (fd) => {
          const start = this.zip.dataOffset(fd, this.storageEntry(s));
          return readRawElements(fd, start + lo * type.itemBytes, type, count, this.path, what);
        });
        this.storageReads++;
        if (users) this.cache.set(s.key, raw);
      }
      viewOffset = users || cached ? t.offset : 0;
      if (users) {
        users.delete(name);
        if (users.size === 0) {
          this.pending.delete(s.key);
          this.cache.delete(s.key);
        }
      }
    }
    // A contiguous view covering all the words read is returned as is; anything else is copied out.
    const whole = viewOffset === 0 && raw.length === numel * units && isContiguous(t.shape, t.strides);
    const data = whole && !this.cache.has(s.key) ? raw : gatherStrided(raw, units, t.shape, t.strides, viewOffset);
    const out = new Tensor(finishElements(data, type, this.path, what), type.engine, t.shape);
    out.name = name;
    return out;
  }
}

/** A WeightSource over a torch .bin file or a sharded `pytorch_model.bin.index.json`. */
export function openTorchBin(path: string): FileWeightSource {
  if (path.endsWith('.json')) return openShardedSource(path, (f) => new TorchBinFile(f));
  return new FileWeightSource(path, [new TorchBinFile(path)]);
}
