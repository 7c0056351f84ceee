/**
 * WeightSource: how model code pulls its tensors by published checkpoint name.
 *
 * Model code asks `src.prefix('vision_model.encoder.layers.3').get('mlp.fc1.weight', [hidden, inter])`;
 * the source checks the shape, records the name as used, and returns the tensor in its stored dtype
 * (f32/f16/bf16 weights stay in that dtype; the model decides what to convert). After building a model the
 * loader calls `unused()` on the root source to report keys that nothing asked for (known buffers such as
 * `rotary_emb.inv_freq` are filtered by the caller's layout map, not here).
 *
 * `info(name)` answers dtype and shape without reading data, so tools can describe a 14 GB checkpoint
 * while holding only its headers.
 *
 * Here: the interface and an in-memory implementation (tests, converted layouts). File-backed sources
 * (safetensors, torch .bin, sharded folders) implement the same interface in their own files.
 */
import type { DType } from '../engine/dtype.js';
import type { Tensor } from '../engine/tensor.js';

/** What a tensor is, known without reading its data. */
export interface TensorInfo {
  /** The engine dtype `get` returns it in; null when the stored type has no engine equivalent (get throws). */
  dtype: DType | null;
  shape: readonly number[];
  /** The stored element type in safetensors spelling (F16, BF16, F32, I64, …). */
  storedAs: string;
}

export interface WeightSource {
  /** Every full tensor name under this source's prefix, relative to it. */
  keys(): string[];
  has(name: string): boolean;
  /**
   * The tensor `name` (relative to this source's prefix) in its stored dtype; marks it used. With `shape`,
   * a different shape is an error naming the tensor, both shapes and where it came from.
   */
  get(name: string, shape?: readonly number[]): Tensor;
  /** Dtype and shape of `name` without reading its data (does not mark it used). */
  info(name: string): TensorInfo;
  /** A view of this source where names are relative to `p` (joined with '.'). */
  prefix(p: string): WeightSource;
  /** Full names (relative to this source's prefix) never returned by `get` on this source or its views. */
  unused(): string[];
}

export function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** Shared base: prefix views, used-name tracking and the shape check. */
export abstract class BaseWeightSource implements WeightSource {
  private readonly used = new Set<string>();

  /** All full names held. */
  protected abstract allKeys(): string[];
  /** Reads full name `name` (already known to exist). */
  protected abstract read(name: string): Tensor;
  /** Where a tensor lives, for error messages (a file name, "memory"). */
  protected abstract where(name: string): string;

  /**
   * Dtype and shape without reading data. The default reads the tensor (fine for memory); file sources
   * override it from their headers.
   */
  protected describe(name: string): TensorInfo {
    const t = this.read(name);
    return { dtype: t.dtype, shape: t.shape, storedAs: storedName(t.dtype) };
  }

  keys(): string[] {
    return this.allKeys();
  }

  has(name: string): boolean {
    return this.allKeys().includes(name);
  }

  info(name: string): TensorInfo {
    if (!this.has(name)) throw new Error(`missing tensor "${name}"`);
    return this.describe(name);
  }

  get(name: string, shape?: readonly number[]): Tensor {
    // The shape is checked from the header first, so a mismatch never costs reading a large tensor.
    if (shape) checkShape(name, this.info(name).shape, shape, () => this.where(name));
    else if (!this.has(name)) throw new Error(`missing tensor "${name}"`);
    const t = this.read(name);
    if (shape) checkShape(name, t.shape, shape, () => this.where(name));
    this.used.add(name);
    return t;
  }

  prefix(p: string): WeightSource {
    return new PrefixedSource(this, p);
  }

  unused(): string[] {
    return this.allKeys().filter((k) => !this.used.has(k));
  }
}

function checkShape(name: string, got: readonly number[], want: readonly number[], where: () => string): void {
  if (want.length !== got.length || want.some((d, i) => d !== got[i])) {
    throw new Error(`tensor "${name}" in ${where()} has shape ${shapeText(got)}, expected ${shapeText(want)}`);
  }
}

/** Engine dtype → safetensors dtype name (q8_0/q4_0 have none and keep their engine name). */
export function storedName(d: DType): string {
  switch (d) {
    case 'f32': return 'F32';
    case 'f64': return 'F64';
    case 'f16': return 'F16';
    case 'bf16': return 'BF16';
    case 'i32': return 'I32';
    case 'u8': return 'U8';
    case 'bool': return 'BOOL';
    default: return d;
  }
}

class PrefixedSource implements WeightSource {
  constructor(
    private readonly root: WeightSource,
    private readonly pre: string,
  ) {}

  private full(name: string): string {
    return this.pre === '' ? name : `${this.pre}.${name}`;
  }

  private strip(names: string[]): string[] {
    const head = `${this.pre}.`;
    return names.filter((k) => k.startsWith(head)).map((k) => k.slice(head.length));
  }

  keys(): string[] {
    return this.strip(this.root.keys());
  }

  has(name: string): boolean {
    return this.root.has(this.full(name));
  }

  get(name: string, shape?: readonly number[]): Tensor {
    return this.root.get(this.full(name), shape);
  }

  info(name: string): TensorInfo {
    return this.root.info(this.full(name));
  }

  prefix(p: string): WeightSource {
    return new PrefixedSource(this.root, this.full(p));
  }

  unused(): string[] {
    return this.strip(this.root.unused());
  }
}

/** Tensors held in a Map (tests, layouts converted in memory). */
export class MemoryWeightSource extends BaseWeightSource {
  constructor(private readonly tensors: Map<string, Tensor>) {
    super();
  }

  protected allKeys(): string[] {
    return [...this.tensors.keys()];
  }

  protected read(name: string): Tensor {
    return this.tensors.get(name)!;
  }

  protected where(): string {
    return 'memory';
  }

  override has(name: string): boolean {
    return this.tensors.has(name);
  }
}
