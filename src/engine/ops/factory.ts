/**
 * Tensor constructors: from values, zeros/ones/full, arange, seeded randn/rand. They create data in
 * ordinary JS memory (shared by every backend), so they need no kernels.
 */
import { allocArray, isFloat, isHalf, isQuant, storageLength, type DType, type TypedArray } from '../dtype.js';
import { f32ToBf16Bits, f32ToF16Bits } from '../half.js';
import { quantizeRow } from '../quant.js';
import { Rng } from '../random.js';
import { checkShape, fmtShape, numel, type Shape } from '../shape.js';
import { Tensor } from '../tensor.js';

type Nested = number | boolean | readonly Nested[];

function flattenNested(v: Nested, shape: number[], depth: number, out: number[]): void {
  if (Array.isArray(v)) {
    if (shape.length === depth) shape.push(v.length);
    else if (shape[depth] !== v.length) throw new Error(`tensor: ragged nested array (expected ${shape[depth]} items at depth ${depth}, got ${v.length})`);
    for (const x of v) flattenNested(x, shape, depth + 1, out);
  } else {
    if (shape.length !== depth) throw new Error(`tensor: ragged nested array at depth ${depth}`);
    out.push(typeof v === 'boolean' ? (v ? 1 : 0) : (v as number));
  }
}

/** Encode JS numbers into a fresh typed array for `dtype` (f16/bf16 rounded, quantized by rows). */
export function encodeValues(values: ArrayLike<number>, shape: Shape, dtype: DType): TypedArray {
  const n = numel(shape);
  if (values.length !== n) throw new Error(`tensor: ${values.length} values do not fill shape ${fmtShape(shape)}`);
  const arr = allocArray(dtype, storageLength(dtype, n));
  if (isQuant(dtype)) {
    const k = shape[shape.length - 1] ?? 1;
    const rowBytes = storageLength(dtype, k);
    for (let r = 0; r < n / k; r++) quantizeRow(dtype, values, r * k, k, arr as Uint8Array, r * rowBytes);
  } else if (isHalf(dtype)) {
    const enc = dtype === 'f16' ? f32ToF16Bits : f32ToBf16Bits;
    for (let i = 0; i < n; i++) arr[i] = enc(values[i]!);
  } else if (dtype === 'bool') {
    for (let i = 0; i < n; i++) arr[i] = values[i] !== 0 ? 1 : 0;
  } else {
    for (let i = 0; i < n; i++) arr[i] = values[i]!;
  }
  return arr;
}

export interface TensorOptions {
  dtype?: DType;
  shape?: Shape;
  requiresGrad?: boolean;
}

/**
 * A tensor from nested arrays, a flat array/typed array plus `shape`, or a scalar.
 * Typed arrays of the matching kind are used as storage without copying.
 */
export function tensor(values: Nested | ArrayLike<number>, opts: TensorOptions = {}): Tensor {
  const dtype = opts.dtype ?? 'f32';
  let t: Tensor;
  if (ArrayBuffer.isView(values) && !(values instanceof DataView)) {
    const shape = opts.shape ?? [(values as TypedArray).length];
    checkShape('tensor', shape);
    const ta = values as TypedArray;
    // Same-kind typed arrays become the storage as they are (bool is normalised to 0/1, so it copies).
    const direct = (dtype === 'f32' && ta instanceof Float32Array) || (dtype === 'f64' && ta instanceof Float64Array) ||
      (dtype === 'i32' && ta instanceof Int32Array) || (dtype === 'u8' && ta instanceof Uint8Array);
    t = direct && ta.length === numel(shape) ? new Tensor(ta, dtype, shape) : new Tensor(encodeValues(ta, shape, dtype), dtype, shape);
  } else if (typeof values === 'number' || typeof values === 'boolean') {
    const shape = opts.shape ?? [];
    t = new Tensor(encodeValues([Number(values)], shape.length ? [1] : [], dtype), dtype, []);
    if (shape.length) throw new Error('tensor: a scalar takes no shape (use full)');
  } else {
    const shape: number[] = [];
    const flat: number[] = [];
    if (Array.isArray(values)) flattenNested(values as Nested, shape, 0, flat);
    else for (let i = 0; i < (values as ArrayLike<number>).length; i++) flat.push((values as ArrayLike<number>)[i]!);
    const finalShape = opts.shape ?? (Array.isArray(values) ? shape : [flat.length]);
    checkShape('tensor', finalShape);
    t = new Tensor(encodeValues(flat, finalShape, dtype), dtype, finalShape);
  }
  if (opts.requiresGrad) t.requiresGrad = true;
  return t;
}

export function empty(shape: Shape, dtype: DType = 'f32'): Tensor {
  checkShape('empty', shape);
  return Tensor.empty(shape, dtype);
}

export function zeros(shape: Shape, dtype: DType = 'f32'): Tensor {
  if (isQuant(dtype)) throw new Error(`zeros: ${dtype} tensors are made by quantizing, not allocated`);
  return empty(shape, dtype);
}

export function full(shape: Shape, value: number, dtype: DType = 'f32'): Tensor {
  const t = zeros(shape, dtype);
  const v = dtype === 'f16' ? f32ToF16Bits(value) : dtype === 'bf16' ? f32ToBf16Bits(value) : dtype === 'bool' ? (value !== 0 ? 1 : 0) : value;
  t.data.fill(v);
  return t;
}

export function ones(shape: Shape, dtype: DType = 'f32'): Tensor {
  return full(shape, 1, dtype);
}
export function zerosLike(t: Tensor, dtype: DType = t.dtype): Tensor {
  return zeros(t.shape, dtype);
}
export function onesLike(t: Tensor, dtype: DType = t.dtype): Tensor {
  return ones(t.shape, dtype);
}

/**
 * [start, end) by step (PyTorch semantics; `arange(n)` = 0..n−1). Default dtype: i32 when every argument
 * is an integer, else f32 (as torch picks int64/float32).
 */
export function arange(start: number, end?: number, step = 1, dtype?: DType): Tensor {
  if (end === undefined) { end = start; start = 0; }
  dtype ??= [start, end, step].every(Number.isInteger) ? 'i32' : 'f32';
  if (step === 0) throw new Error('arange: step must not be 0');
  const n = Math.max(0, Math.ceil((end - start) / step));
  const t = zeros([n], dtype);
  for (let i = 0; i < n; i++) t.data[i] = start + i * step;
  return t;
}

export interface RandomOptions {
  seed?: number;
  rng?: Rng;
  dtype?: DType;
  requiresGrad?: boolean;
}

function randomTensor(op: string, shape: Shape, opts: RandomOptions, draw: (r: Rng) => number): Tensor {
  const dtype = opts.dtype ?? 'f32';
  if (!isFloat(dtype)) throw new Error(`${op}: dtype ${dtype} is not a float compute type (draw f32, then convert)`);
  checkShape(op, shape);
  const rng = opts.rng ?? new Rng(opts.seed ?? 0);
  const t = zeros(shape, dtype);
  for (let i = 0; i < t.data.length; i++) t.data[i] = draw(rng);
  if (opts.requiresGrad) t.requiresGrad = true;
  return t;
}

/** Standard normal samples; the same seed gives the same values on every backend and platform. */
export function randn(shape: Shape, opts: RandomOptions = {}): Tensor {
  return randomTensor('randn', shape, opts, (r) => r.normal());
}

/** Uniform samples in [0, 1). */
export function rand(shape: Shape, opts: RandomOptions = {}): Tensor {
  return randomTensor('rand', shape, opts, (r) => r.uniform());
}
