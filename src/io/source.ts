/**
 * WeightSource: how model code pulls its tensors by published checkpoint name.
 *
 * Model code asks `src.prefix('vision_model.encoder.layers.3').get('mlp.fc1.weight', [hidden, inter])`;
 * the source checks the shape, records the name as used, and returns the tensor in its stored dtype
 * (f32/f16/bf16 weights stay in that dtype; the model decides what to convert). After building a model the
 * loader calls `unused()` on the root source to report keys that nothing asked for (known buffers such as
 * `rotary_emb.inv_freq` are filtered by the caller's layout map, not here).
 *
 * Here: the interface and an in-memory implementation (tests, converted layouts). File-backed sources
 * (safetensors, torch .bin, sharded folders) implement the same interface in their own files.
 */
import type { Tensor } from '../engine/tensor.js';

export interface WeightSource {
  /** Every full tensor name under this source's prefix, relative to it. */
  keys(): string[];
  has(name: string): boolean;
  /**
   * The tensor `name` (relative to this source's prefix) in its stored dtype; marks it used. With `shape`,
   * a different shape is an error naming the tensor, both shapes and where it came from.
   */
  get(name: string, shape?: readonly number[]): Tensor;
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

  keys(): string[] {
    return this.allKeys();
  }

  has(name: string): boolean {
    return this.allKeys().includes(name);
  }

  get(name: string, shape?: readonly number[]): Tensor {
    if (!this.has(name)) throw new Error(`missing tensor "${name}"`);
    const t = this.read(name);
    if (shape && (shape.length !== t.shape.length || shape.some((d, i) => d !== t.shape[i]))) {
      throw new Error(`tensor "${name}" in ${this.where(name)} has shape ${shapeText(t.shape)}, expected ${shapeText(shape)}`);
    }
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
