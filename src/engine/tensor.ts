/**
 * Tensor = storage (a typed array shared by all views of it) + layout (shape, strides, offset, in
 * elements) + an optional autograd node. Storage is ordinary JS memory, so every backend reads and writes
 * the same arrays: the native backend receives them zero-copy.
 *
 * This file knows nothing of ops: view methods (reshape, permute, …) and `backward` are attached by
 * ops/view.ts and autograd.ts, so that views record gradients like every other op.
 */
import { allocArray, arrayMatches, isQuant, QK, storageLength, type DType, type TypedArray } from './dtype.js';
import { bf16BitsToF32, f16DecodeTable } from './half.js';
import { dequantizeRow } from './quant.js';
import { contiguousStrides, fmtShape, numel as shapeNumel, type Shape } from './shape.js';

/** An autograd record: how to turn the output gradient into input gradients (see autograd.ts). */
export interface GradNode {
  readonly op: string;
  /** Tensor inputs of the op, aligned with the gradients `backward` returns (null: no grad needed). */
  inputs: (Tensor | null)[];
  backward: ((grad: Tensor) => (Tensor | null)[]) | null;
  /** Tensors saved for backward; emptied once backward ran. */
  saved: Tensor[];
}

export class Tensor {
  readonly data: TypedArray;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
  /** Leaf parameters set this; gradients accumulate into `.grad`. */
  requiresGrad = false;
  grad: Tensor | null = null;
  /** Set on outputs of differentiable ops recorded while grad mode is on. */
  node: GradNode | null = null;
  /** Optional name (a checkpoint key), used in error messages. */
  name: string | undefined;

  constructor(data: TypedArray, dtype: DType, shape: Shape, strides?: Shape, offset = 0) {
    if (!arrayMatches(dtype, data)) throw new Error(`Tensor: ${data.constructor.name} cannot back dtype ${dtype}`);
    this.data = data;
    this.dtype = dtype;
    this.shape = [...shape];
    this.strides = strides ? [...strides] : contiguousStrides(shape);
    this.offset = offset;
    if (this.strides.length !== this.shape.length) {
      throw new Error(`Tensor: strides [${this.strides}] do not match shape ${fmtShape(shape)}`);
    }
    if (isQuant(dtype)) {
      // Quantized storage is addressed in whole rows of blocks: only row-major layouts are meaningful.
      const last = this.shape[this.shape.length - 1] ?? 1;
      if (last % QK !== 0 || !this.isContiguous() || this.offset % QK !== 0) {
        throw new Error(`Tensor: ${dtype} needs contiguous rows whose length is a multiple of ${QK}, got ${fmtShape(shape)}`);
      }
    }
    this.checkBounds();
  }

  /** A new contiguous tensor of zeros. */
  static empty(shape: Shape, dtype: DType = 'f32'): Tensor {
    return new Tensor(allocArray(dtype, storageLength(dtype, shapeNumel(shape))), dtype, shape);
  }

  get ndim(): number {
    return this.shape.length;
  }
  get numel(): number {
    return shapeNumel(this.shape);
  }
  size(dim: number): number {
    const d = dim < 0 ? dim + this.ndim : dim;
    const s = this.shape[d];
    if (s === undefined) throw new Error(`size: dim ${dim} out of range for ${fmtShape(this.shape)}`);
    return s;
  }

  isContiguous(): boolean {
    let expect = 1;
    for (let i = this.ndim - 1; i >= 0; i--) {
      if (this.shape[i] !== 1 && this.strides[i] !== expect) return false;
      expect *= this.shape[i]!;
    }
    return true;
  }

  /** Same storage, new layout; no autograd (ops/view.ts wraps this in differentiable views). */
  _view(shape: Shape, strides: Shape, offset: number): Tensor {
    return new Tensor(this.data, this.dtype, shape, strides, offset);
  }

  /** A tensor sharing storage but cut off from the graph. */
  detach(): Tensor {
    return this._view(this.shape, this.strides, this.offset);
  }

  /** Storage element offsets of every element, in row-major order of the logical index. */
  elementOffsets(): Int32Array | Float64Array {
    const n = this.numel;
    const out = n < 2 ** 31 ? new Int32Array(n) : new Float64Array(n);
    const nd = this.ndim;
    if (nd === 0) {
      if (n) out[0] = this.offset;
      return out;
    }
    const idx = new Array<number>(nd).fill(0);
    let off = this.offset;
    for (let i = 0; i < n; i++) {
      out[i] = off;
      for (let d = nd - 1; d >= 0; d--) {
        idx[d]!++;
        off += this.strides[d]!;
        if (idx[d]! < this.shape[d]!) break;
        off -= this.strides[d]! * this.shape[d]!;
        idx[d] = 0;
      }
    }
    return out;
  }

  /** Logical values in row-major order as JS numbers (f16/bf16/quantized decoded). */
  toArray(): number[] {
    const n = this.numel;
    const out = new Array<number>(n);
    if (isQuant(this.dtype)) {
      const rowLen = this.shape[this.ndim - 1]!;
      const rows = n / rowLen;
      const rowBytes = storageLength(this.dtype, rowLen);
      const byteOff = storageLength(this.dtype, this.offset);
      for (let r = 0; r < rows; r++) dequantizeRow(this.dtype, this.data as Uint8Array, byteOff + r * rowBytes, rowLen, out, r * rowLen);
      return out;
    }
    const offs = this.elementOffsets();
    const d = this.data;
    if (this.dtype === 'f16') {
      const t = f16DecodeTable();
      for (let i = 0; i < n; i++) out[i] = t[d[offs[i]!]!]!;
    } else if (this.dtype === 'bf16') {
      for (let i = 0; i < n; i++) out[i] = bf16BitsToF32(d[offs[i]!]!);
    } else {
      for (let i = 0; i < n; i++) out[i] = d[offs[i]!]!;
    }
    return out;
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.numel !== 1) throw new Error(`item: tensor of shape ${fmtShape(this.shape)} has ${this.numel} elements, not 1`);
    return this.toArray()[0]!;
  }

  toString(): string {
    return `Tensor(${this.dtype}, ${fmtShape(this.shape)}${this.name ? `, ${this.name}` : ''})`;
  }

  private checkBounds(): void {
    if (this.numel === 0) return;
    let lo = this.offset;
    let hi = this.offset;
    for (let i = 0; i < this.ndim; i++) {
      const span = (this.shape[i]! - 1) * this.strides[i]!;
      if (span < 0) lo += span;
      else hi += span;
    }
    const len = isQuant(this.dtype) ? (this.data.length / storageLength(this.dtype, QK)) * QK : this.data.length;
    if (lo < 0 || hi >= len) {
      throw new Error(`Tensor: layout ${fmtShape(this.shape)} strides [${this.strides}] offset ${this.offset} reaches outside storage of ${len} elements`);
    }
  }
}
