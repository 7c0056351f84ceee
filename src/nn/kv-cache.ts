/**
 * A key/value cache for causal decoders, owned by the caller and passed to `forward`: one preallocated
 * [B, Hkv, maxLength, headDim] buffer per layer for keys and one for values, in f32 or f16 storage.
 *
 * A forward over T new positions writes its rotated keys and values at [length, length + T) of every
 * layer (`write`), attends over [0, length + T) (`read`), and then the model calls `advance(T)` once. The
 * buffers are written in place through the engine's `copy` kernel (which converts f32 → f16 when the
 * cache is f16); `read` returns views of the buffers in their storage dtype — no copy — because
 * `scaledDotProductAttention` reads f16 keys and values in place (decoding them exactly).
 *
 * A chat session keeps one cache across turns: `truncate` drops the positions after a shared prefix and
 * `resized` moves the filled prefix into a larger buffer when a conversation outgrows it.
 *
 * Not differentiable (inference only), and it knows nothing of any model: the decoder supplies shapes.
 */
import { dispatch } from '../engine/backend.js';
import { empty } from '../engine/ops/factory.js';
import { narrow } from '../engine/ops/view.js';
import type { Tensor } from '../engine/tensor.js';
import { fmtShape } from '../engine/shape.js';

export interface KVCacheOptions {
  layers: number;
  batch: number;
  kvHeads: number;
  headDim: number;
  /** Positions the cache can hold: prompt (after image expansion) + new tokens. */
  maxLength: number;
  /** Storage dtype (default f32; f16 halves the memory at the cost of rounding keys and values). */
  dtype?: 'f32' | 'f16';
}

export class KVCache {
  readonly dtype: 'f32' | 'f16';
  readonly maxLength: number;
  private readonly keys: Tensor[];
  private readonly values: Tensor[];
  private filled = 0;

  constructor(readonly opts: KVCacheOptions) {
    const { layers, batch, kvHeads, headDim, maxLength } = opts;
    for (const [k, v] of Object.entries({ layers, batch, kvHeads, headDim, maxLength })) {
      if (!Number.isInteger(v) || v < 1) throw new Error(`KVCache: ${k} must be a positive integer, got ${v}`);
    }
    this.dtype = opts.dtype ?? 'f32';
    this.maxLength = maxLength;
    const shape = [batch, kvHeads, maxLength, headDim];
    this.keys = Array.from({ length: layers }, () => empty(shape, this.dtype));
    this.values = Array.from({ length: layers }, () => empty(shape, this.dtype));
  }

  /** Positions already cached (the position of the next token). */
  get length(): number {
    return this.filled;
  }

  /** Bytes held by the buffers. */
  get bytes(): number {
    return 2 * this.keys.length * this.keys[0]!.numel * (this.dtype === 'f32' ? 4 : 2);
  }

  /** Store k, v [B, Hkv, T, headDim] of `layer` at positions [length, length + T). */
  write(layer: number, k: Tensor, v: Tensor): void {
    const buf = this.keys[layer];
    if (!buf) throw new Error(`KVCache: layer ${layer} out of range (${this.keys.length} layers)`);
    const T = k.shape[2] ?? 0;
    const want = [buf.shape[0], buf.shape[1], T, buf.shape[3]];
    for (const [name, t] of [['keys', k], ['values', v]] as const) {
      if (t.ndim !== 4 || t.shape.some((d, i) => d !== want[i])) {
        throw new Error(`KVCache: ${name} must be [${want.join(', ')}], got ${fmtShape(t.shape)}`);
      }
    }
    if (this.filled + T > this.maxLength) {
      throw new Error(`KVCache: ${this.filled} cached + ${T} new positions exceed its size ${this.maxLength}`);
    }
    dispatch('copy', narrow(buf, 2, this.filled, T), k);
    dispatch('copy', narrow(this.values[layer]!, 2, this.filled, T), v);
  }

  /**
   * Keys and values of `layer` at positions [0, length + T): views [B, Hkv, length + T, headDim] of the
   * buffers in the cache's dtype (f16 ones go to attention as they are; they are frozen, like half weights).
   */
  read(layer: number, T: number): { k: Tensor; v: Tensor } {
    const buf = this.keys[layer];
    if (!buf) throw new Error(`KVCache: layer ${layer} out of range (${this.keys.length} layers)`);
    const n = this.filled + T;
    return { k: narrow(buf, 2, 0, n), v: narrow(this.values[layer]!, 2, 0, n) };
  }

  /** Called by the model once every layer wrote its T positions. */
  advance(T: number): void {
    this.filled += T;
  }

  /** Forget everything (the buffers are kept). */
  reset(): void {
    this.filled = 0;
  }

  /**
   * Keep only positions [0, length): the next forward writes at `length`. Positions beyond it are simply
   * overwritten later, so a caller that shares a prefix with a new sequence recomputes only the rest.
   */
  truncate(length: number): void {
    if (!Number.isInteger(length) || length < 0 || length > this.filled) {
      throw new Error(`KVCache: cannot truncate to ${length} positions (it holds ${this.filled})`);
    }
    this.filled = length;
  }

  /** A cache of the same layout holding `maxLength` positions, with this cache's filled positions copied in. */
  resized(maxLength: number): KVCache {
    if (!Number.isInteger(maxLength) || maxLength < this.filled) {
      throw new Error(`KVCache: cannot resize to ${maxLength} positions (it holds ${this.filled})`);
    }
    const out = new KVCache({ ...this.opts, maxLength });
    const n = this.filled;
    if (n > 0) {
      this.keys.forEach((k, i) => dispatch('copy', narrow(out.keys[i]!, 2, 0, n), narrow(k, 2, 0, n)));
      this.values.forEach((v, i) => dispatch('copy', narrow(out.values[i]!, 2, 0, n), narrow(v, 2, 0, n)));
    }
    out.filled = n;
    return out;
  }
}
