/**
 * Shape arithmetic: contiguous strides, broadcasting, axis normalisation. Pure functions over number arrays;
 * every error names the operation and the shapes involved.
 */

export type Shape = readonly number[];

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function contiguousStrides(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

export function fmtShape(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

export function shapesEqual(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function checkShape(op: string, shape: Shape): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`${op}: invalid shape ${fmtShape(shape)}`);
  }
}

/** Normalise a possibly negative axis against `ndim`. */
export function normAxis(op: string, axis: number, ndim: number): number {
  const a = axis < 0 ? axis + ndim : axis;
  if (!Number.isInteger(a) || a < 0 || a >= ndim) {
    throw new Error(`${op}: axis ${axis} out of range for a tensor with ${ndim} dimensions`);
  }
  return a;
}

/** NumPy broadcasting of several shapes; throws naming the op and every shape. */
export function broadcastShapes(op: string, ...shapes: Shape[]): number[] {
  const nd = Math.max(...shapes.map((s) => s.length));
  const out = new Array<number>(nd).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const o = nd - s.length + i;
      const d = s[i]!;
      if (out[o] === 1) out[o] = d;
      else if (d !== 1 && d !== out[o]) {
        throw new Error(`${op}: shapes ${shapes.map(fmtShape).join(' and ')} cannot be broadcast together`);
      }
    }
  }
  return out;
}

/** Resolve a reshape target that may contain one -1. */
export function inferShape(op: string, from: Shape, to: Shape): number[] {
  const total = numel(from);
  let unknown = -1;
  let known = 1;
  const out = [...to];
  out.forEach((d, i) => {
    if (d === -1) {
      if (unknown >= 0) throw new Error(`${op}: only one dimension may be -1 in ${fmtShape(to)}`);
      unknown = i;
    } else {
      if (!Number.isInteger(d) || d < 0) throw new Error(`${op}: invalid shape ${fmtShape(to)}`);
      known *= d;
    }
  });
  if (unknown >= 0) {
    if (known === 0 || total % known !== 0) {
      throw new Error(`${op}: cannot reshape ${fmtShape(from)} to ${fmtShape(to)}`);
    }
    out[unknown] = total / known;
  }
  if (numel(out) !== total) throw new Error(`${op}: cannot reshape ${fmtShape(from)} to ${fmtShape(to)}`);
  return out;
}

/** Multi-dim index of row-major flat index `i` in `shape` (error messages name positions with it). */
export function unravelIndex(i: number, shape: Shape): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d]!;
    i = Math.floor(i / shape[d]!);
  }
  return idx;
}
