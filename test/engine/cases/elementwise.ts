/**
 * Consistency rows for elementwise, comparison, where, view/layout and reduction ops: every op × declared
 * dtype, with odd sizes (vector tails), size 1, 0-d scalars, broadcasting, permuted/narrowed/expanded
 * inputs, sizes large enough to split across threads, and special values (NaN, ±inf, −0, f16/bf16 rounding
 * ties, values outside the i32 range, |x| large enough to saturate exp/sigmoid/tanh/erf).
 *
 * Exact rows: conversions, views, add/sub/mul/div (f32 results of exactly rounded operations are the same
 * however they are computed), comparisons, where, max/min/arg*. Other rows state their tolerance.
 * Not here: nn and linalg rows (nn.ts, linalg.ts).
 */
import {
  abs, add, argmax, argmin, cat, clone, contiguous, cos, div, eq, erf, exp, expand, ge, gelu, geluTanh, gt, le,
  log, lt, max, maximum, min, minimum, mul, narrow, ne, neg, permute, pow, quickGelu, reciprocal, relu, reshape,
  randn, rsqrt, sigmoid, sign, silu, sin, sqrt, square, sub, sum, tanh, tensor, to, where,
  type DType, type Tensor,
} from '../../../src/index.js';
import type { OpCase } from './types.js';

const FLOATS: DType[] = ['f32', 'f64'];
const PLAIN: DType[] = ['f32', 'f64', 'f16', 'bf16', 'i32', 'u8', 'bool'];
const QUANT: DType[] = ['q8_0', 'q4_0'];

/** Native must run `k` itself on f32 rows (f64 is computed by ts). */
const nk = (dtype: DType, k: string[]) => (dtype === 'f32' ? k : []);
/** Rows sized to split across native threads: only where native computes (f32), to keep the table fast. */
const threaded = (dtype: DType, row: OpCase): OpCase[] => (dtype === 'f32' ? [row] : []);

/** Seeded values of any dtype: normal draws for floats (rounded/quantized on the host), integers else. */
function vals(shape: number[], seed: number, dtype: DType, scale = 1): Tensor {
  const r = randn(shape, { seed, dtype: 'f64' }).data as Float64Array;
  if (dtype === 'i32') return tensor(Int32Array.from(r, (a) => Math.round(a * 1000 * scale)), { shape, dtype });
  if (dtype === 'u8') return tensor(Uint8Array.from(r, (a) => Math.abs(Math.round(a * 90)) % 256), { shape, dtype });
  if (dtype === 'bool') return tensor(Uint8Array.from(r, (a) => (a > 0.3 ? 1 : 0)), { shape, dtype });
  if (scale !== 1) for (let i = 0; i < r.length; i++) r[i]! *= scale;
  return dtype === 'f64' ? tensor(r, { shape, dtype }) : tensor(Float32Array.from(r), { shape, dtype });
}

/** Values where conversions and comparisons are delicate (36 of them). */
const SPECIAL = [
  NaN, Infinity, -Infinity, 0, -0, 1, -1, 0.5, -0.5, 1.5, -2.5, 2.5, 3.7, -3.7, 255.9, 256, -129.5, 65504,
  65520, 70000, 1e-8, 2 ** -24, 2 ** -25, 3 * 2 ** -25, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -8, 1 + 3 * 2 ** -8,
  3e38, -3e38, 1e10, -1e10, 2147483648, -2147483649, 4294967301, 1e-40,
];
const special = (dtype: DType, shape = [SPECIAL.length]) => tensor(SPECIAL, { dtype, shape });

/** Values for unary math: a normal spread plus saturating magnitudes and the IEEE specials. */
const UNARY_EXTRA = [NaN, Infinity, -Infinity, 0, -0, 1e-3, -1e-3, 5, -5, 9, -9, 15, -15, 30, -30, 87, -87, 88.5, -88.5, 89, -89, 100, -100, 1e4, -1e4];
function unaryInput(dtype: DType, positive: boolean): Tensor {
  const base = vals([5, 41], 60, 'f64', 3).toArray();
  const v = [...base, ...UNARY_EXTRA].map((x) => (positive && !Number.isNaN(x) ? Math.abs(x) : x));
  return tensor(v, { dtype, shape: [v.length] });
}

// ——— unary ops ———

type UnaryFn = (x: Tensor) => Tensor;
const UNARY: [string, UnaryFn, { positive?: boolean; atol?: number; rtol?: number; exact?: boolean }][] = [
  ['neg', neg, { exact: true }], ['abs', abs, { exact: true }], ['sign', sign, { exact: true }],
  ['exp', exp, { rtol: 2e-6 }], ['log', log, { positive: true, atol: 1e-6, rtol: 1e-6 }],
  ['sqrt', sqrt, { positive: true, exact: true }], ['rsqrt', rsqrt, { positive: true, rtol: 3e-7, atol: 0 }],
  ['square', square, { exact: true }], ['reciprocal', reciprocal, { exact: true }],
  ['sin', sin, { atol: 1e-6, rtol: 1e-6 }], ['cos', cos, { atol: 1e-6, rtol: 1e-6 }],
  ['tanh', tanh, { atol: 2e-7, rtol: 2e-6 }], ['sigmoid', sigmoid, { atol: 2e-7, rtol: 2e-6 }],
  ['relu', relu, { exact: true }], ['erf', erf, { atol: 2e-7, rtol: 2e-6 }],
  ['gelu', gelu, { atol: 2e-6, rtol: 2e-6 }], ['geluTanh', geluTanh, { atol: 2e-6, rtol: 2e-6 }],
  ['quickGelu', quickGelu, { atol: 2e-6, rtol: 2e-6 }], ['silu', silu, { atol: 2e-6, rtol: 2e-6 }],
];

const unaryRows: OpCase[] = UNARY.flatMap(([op, f, t]) => FLOATS.flatMap((dtype): OpCase[] => {
  const tol = { atol: t.atol, rtol: t.rtol, exact: t.exact };
  const k = nk(dtype, ['unary']);
  return [
    { op, dtype, name: 'odd length 230 with specials and saturating magnitudes', ...tol, nativeKernels: k, run: () => f(unaryInput(dtype, !!t.positive)) },
    { op, dtype, name: 'transposed view [17, 9], 0-d scalar, size 1', ...tol, nativeKernels: k, run: () => {
      const x = vals([9, 17], 61, dtype, 2);
      const y = t.positive ? abs(x) : x;
      return [f(y.transpose(0, 1)), f(tensor(t.positive ? 0.75 : -0.75, { dtype })), f(narrow(y, 1, 4, 1))];
    } },
    ...threaded(dtype, { op, dtype, name: 'threaded size [96, 100]', ...tol, nativeKernels: k, run: () => {
      const x = vals([96, 100], 62, dtype, 2);
      return f(t.positive ? abs(x) : x);
    } }),
  ];
}));

// ——— binary ops ———

type BinaryFn = (a: Tensor | number, b: Tensor | number) => Tensor;
const BINARY: [string, BinaryFn, { atol?: number; rtol?: number; exact?: boolean; positiveA?: boolean }][] = [
  ['add', add, { exact: true }], ['sub', sub, { exact: true }], ['mul', mul, { exact: true }], ['div', div, { exact: true }],
  ['pow', pow, { positiveA: true, atol: 1e-6, rtol: 2e-6 }], ['maximum', maximum, { exact: true }], ['minimum', minimum, { exact: true }],
];

const binaryRows: OpCase[] = BINARY.flatMap(([op, f, t]) => FLOATS.flatMap((dtype): OpCase[] => {
  const tol = { atol: t.atol, rtol: t.rtol, exact: t.exact };
  const k = nk(dtype, ['binary']);
  const A = (shape: number[], seed: number) => (t.positiveA ? abs(vals(shape, seed, dtype, 2)) : vals(shape, seed, dtype, 2));
  return [
    { op, dtype, name: 'same shape, odd length 1031', ...tol, nativeKernels: k, run: () => f(A([1031], 70), vals([1031], 71, dtype)) },
    { op, dtype, name: 'broadcast [3, 1, 5] with [4, 1] and row vector [9] with [7, 9]', ...tol, nativeKernels: k,
      run: () => [f(A([3, 1, 5], 72), vals([4, 1], 73, dtype)), f(A([9], 74), vals([7, 9], 75, dtype)), f(A([7, 9], 76), vals([9], 77, dtype))] },
    { op, dtype, name: 'tensor with a number, 0-d with 0-d, size 1', ...tol, nativeKernels: k,
      run: () => [f(A([2, 11], 78), 1.5), f(2.5, vals([2, 11], 79, dtype)), f(tensor(3, { dtype }), tensor(0.5, { dtype })), f(A([1], 80), vals([1, 1], 81, dtype))] },
    { op, dtype, name: 'permuted and narrowed views', ...tol, nativeKernels: k,
      run: () => f(permute(A([5, 6, 7], 82), [2, 0, 1]), narrow(vals([7, 5, 9], 83, dtype), 2, 2, 6)) },
    { op, dtype, name: 'specials (NaN, ±inf, ±0) against each other', ...tol, nativeKernels: k, run: () => {
      const s = [NaN, Infinity, -Infinity, 0, -0, 2, -3];
      const a = tensor(s.flatMap((x) => s.map(() => (t.positiveA && x < 0 ? -x : x))), { dtype });
      const b = tensor(s.flatMap(() => s), { dtype });
      return f(a, b);
    } },
    ...threaded(dtype, { op, dtype, name: 'threaded size [300, 257] with a broadcast column', ...tol, nativeKernels: k,
      run: () => [f(A([300, 257], 84), vals([300, 257], 85, dtype)), f(A([300, 257], 86), vals([300, 1], 87, dtype))] }),
  ];
}));

// ——— comparisons and where ———

const COMPARE: [string, BinaryFn][] = [['eq', eq], ['ne', ne], ['lt', lt], ['le', le], ['gt', gt], ['ge', ge]];
const CMP_DTYPES: DType[] = ['f32', 'f64', 'i32', 'u8', 'bool'];

const compareRows: OpCase[] = COMPARE.flatMap(([op, f]) => CMP_DTYPES.flatMap((dtype): OpCase[] => {
  const k = dtype === 'f64' ? [] : ['compare'];
  // Few distinct values so that ties are common.
  const few = (shape: number[], seed: number) =>
    dtype === 'bool' || dtype === 'u8' ? vals(shape, seed, dtype) : tensor(vals(shape, seed, 'f64').toArray().map((v) => Math.round(v * 2)), { dtype, shape });
  return [
    { op, dtype, name: 'odd length 67 with ties, broadcast [5, 1] against [1, 13]', exact: true, nativeKernels: k,
      run: () => [f(few([67], 90), few([67], 91)), f(few([5, 1], 92), few([1, 13], 93))] },
    { op, dtype, name: 'transposed view against a number, 0-d, size 1', exact: true, nativeKernels: k,
      run: () => [f(few([6, 8], 94).transpose(0, 1), 1), f(tensor(1, { dtype }), few([3], 95)), f(few([1], 96), few([1], 97))] },
    ...(dtype === 'f32' || dtype === 'f64' ? [{
      op, dtype, name: 'NaN, ±inf, ±0 against each other', exact: true, nativeKernels: k, run: () => {
        const s = [NaN, Infinity, -Infinity, 0, -0, 1];
        return f(tensor(s.flatMap((x) => s.map(() => x)), { dtype }), tensor(s.flatMap(() => s), { dtype }));
      },
    }] : []),
  ];
}));

const whereRows: OpCase[] = FLOATS.flatMap((dtype): OpCase[] => {
  const k = nk(dtype, ['where']);
  const cond = (shape: number[], seed: number) => vals(shape, seed, 'bool');
  return [
    { op: 'where', dtype, name: 'odd length 1001, all same shape', exact: true, nativeKernels: k,
      run: () => where(cond([1001], 100), vals([1001], 101, dtype), vals([1001], 102, dtype)) },
    { op: 'where', dtype, name: 'broadcast cond [4, 1], a [1, 9], b 0-d; numbers', exact: true, nativeKernels: k,
      run: () => [where(cond([4, 1], 103), vals([1, 9], 104, dtype), tensor(-1, { dtype })), where(cond([3, 5], 105), vals([3, 5], 106, dtype), 0)] },
    { op: 'where', dtype, name: 'permuted cond and narrowed values', exact: true, nativeKernels: k,
      run: () => where(cond([5, 4], 107).transpose(0, 1), narrow(vals([4, 9], 108, dtype), 1, 2, 5), vals([4, 5], 109, dtype).transpose(0, 1).transpose(0, 1)) },
  ];
});

// ——— reductions ———

const REDUCE_ROWS = (dtype: DType): OpCase[] => {
  const k = nk(dtype, ['reduce']);
  const tol = { atol: 1e-6, rtol: 1e-6 };
  const x3 = () => vals([5, 33, 7], 110, dtype);
  const withNaN = () => {
    const v = vals([4, 9], 111, dtype).toArray();
    v[4] = NaN;
    v[9 + 2] = Infinity;
    v[18 + 3] = -Infinity;
    v[27 + 5] = v[27 + 1]!; // a tie in the last row
    return tensor(v, { dtype, shape: [4, 9] });
  };
  return [
    { op: 'sum', dtype, name: 'each axis, axis pairs and all of [5, 33, 7]', ...tol, nativeKernels: k,
      run: () => [sum(x3(), 0), sum(x3(), 1), sum(x3(), 2), sum(x3(), [0, 2]), sum(x3(), [1, 2], true), sum(x3())] },
    { op: 'sum', dtype, name: 'permuted and expanded views, 0-d, size 1, empty axis', ...tol, nativeKernels: k,
      run: () => [
        sum(permute(vals([6, 4, 9], 112, dtype), [2, 0, 1]), [1, 2]), sum(expand(vals([3, 1], 113, dtype), [3, 50]), 1),
        sum(tensor(2.5, { dtype })), sum(vals([1, 1], 114, dtype), 0), sum(vals([3, 0], 115, dtype), 1),
      ] },
    ...threaded(dtype, { op: 'sum', dtype, name: 'threaded: columns of [700, 130] and rows of [130, 700]', ...tol, nativeKernels: k,
      run: () => [sum(vals([700, 130], 116, dtype), 0), sum(vals([130, 700], 117, dtype), 1), sum(vals([700, 130], 118, dtype).transpose(0, 1), 1)] }),
    ...(['max', 'min'] as const).map((op): OpCase => ({
      op, dtype, name: 'axes of [5, 33, 7], NaN/inf rows, permuted view, 0-d', exact: true, nativeKernels: k,
      run: () => {
        const f = op === 'max' ? max : min;
        return [f(x3(), 0), f(x3(), 1), f(x3(), [0, 2], true), f(x3()), f(withNaN(), 1), f(withNaN(), 0),
          f(vals([8, 40], 119, dtype).transpose(0, 1), 1), f(tensor(-4, { dtype }))];
      },
    })),
    ...(['argmax', 'argmin'] as const).map((op): OpCase => ({
      op, dtype, name: 'each axis of [5, 33, 7], NaN/inf/ties, permuted view, size 1', exact: true, nativeKernels: k,
      run: () => {
        const f = op === 'argmax' ? argmax : argmin;
        const ties = tensor([1, 3, 3, 0, 3, -1, 0, -1, -1, 2, 2, 2], { dtype, shape: [3, 4] });
        return [f(x3(), 0), f(x3(), 1), f(x3(), 2, true), f(withNaN(), 1), f(withNaN(), 0), f(ties, 1), f(ties, 0),
          f(vals([8, 40], 120, dtype).transpose(0, 1), 1), f(vals([1, 3], 121, dtype), 0), f(vals([200, 300], 122, dtype), 1)];
      },
    })),
  ];
};

// ——— views and copies ———

/** The view itself and a contiguous copy of it (the copy runs the native copy kernel). */
const viewAndCopy = (v: Tensor): Tensor[] => [v, contiguous(v)];

function viewRows(dtype: DType): OpCase[] {
  const copyK = ['copy'];
  const x = (shape: number[], seed: number) => vals(shape, seed, dtype);
  return [
    { op: 'contiguous', dtype, name: 'permuted [3, 4, 5] → [5, 3, 4], narrowed, expanded', exact: true, nativeKernels: copyK,
      run: () => [contiguous(permute(x([3, 4, 5], 130), [2, 0, 1])), contiguous(narrow(x([7, 9], 131), 1, 3, 5)),
        contiguous(expand(x([1, 5], 132), [4, 5])), contiguous(x([2, 3], 133))] },
    ...threaded(dtype, { op: 'contiguous', dtype, name: 'threaded transposed copy [400, 330]', exact: true, nativeKernels: copyK,
      run: () => contiguous(x([330, 400], 134).transpose(0, 1)) }),
    { op: 'clone', dtype, name: 'contiguous, permuted, 0-d, size 1', exact: true, nativeKernels: copyK,
      run: () => [clone(x([4, 7], 135)), clone(x([4, 7], 136).transpose(0, 1)), clone(tensor(1, { dtype })), clone(x([1], 137))] },
    { op: 'reshape', dtype, name: 'as a view, and of a permuted tensor (copies)', exact: true, nativeKernels: copyK,
      run: () => [reshape(x([4, 6], 138), [2, 12]), reshape(x([4, 6], 139).transpose(0, 1), [-1]), reshape(tensor(3, { dtype }), [1, 1])] },
    { op: 'permute', dtype, name: '4-d permutation, then copied', exact: true, nativeKernels: copyK,
      run: () => viewAndCopy(permute(x([2, 3, 4, 5], 140), [3, 1, 0, 2])) },
    { op: 'narrow', dtype, name: 'inner and outer dims, length 1 and 0, then copied', exact: true, nativeKernels: copyK,
      run: () => [...viewAndCopy(narrow(narrow(x([6, 9, 3], 141), 1, 2, 5), 0, 1, 4)), ...viewAndCopy(narrow(x([5, 4], 142), 0, 4, 1)), narrow(x([5, 4], 143), 1, 2, 0)] },
    { op: 'expand', dtype, name: 'new leading dims and size-1 dims, then copied', exact: true, nativeKernels: copyK,
      run: () => [...viewAndCopy(expand(x([3, 1], 144), [2, 3, 7])), ...viewAndCopy(expand(tensor(2, { dtype }), [3, 2]))] },
    { op: 'cat', dtype, name: 'along dims 0, 1 and last, odd sizes, views and an empty part', exact: true, nativeKernels: copyK,
      run: () => [
        cat([x([2, 5], 145), x([3, 5], 146), x([1, 5], 147)], 0),
        cat([x([4, 3], 148), x([3, 4], 149).transpose(0, 1), x([4, 0], 150)], 1),
        cat([x([2, 3, 1], 151), expand(x([1, 1, 6], 152), [2, 3, 6])], -1),
      ] },
  ];
}

function quantViewRows(dtype: DType): OpCase[] {
  const q = (shape: number[], seed: number) => vals(shape, seed, dtype);
  return [
    { op: 'contiguous', dtype, name: 'already contiguous (no copy)', exact: true, run: () => contiguous(q([3, 64], 160)) },
    { op: 'clone', dtype, name: 'rows [3, 64]', exact: true, run: () => clone(q([3, 64], 161)) },
    { op: 'reshape', dtype, name: 'rows [4, 64] → [8, 32]', exact: true, run: () => reshape(q([4, 64], 162), [8, 32]) },
    { op: 'permute', dtype, name: 'identity permutation', exact: true, run: () => permute(q([2, 32], 163), [0, 1]) },
    { op: 'narrow', dtype, name: 'rows 1..3 of [4, 32]', exact: true, run: () => narrow(q([4, 32], 164), 0, 1, 2) },
    { op: 'expand', dtype, name: 'to its own shape', exact: true, run: () => expand(q([2, 32], 165), [2, 32]) },
  ];
}

/** Every conversion out of `dtype` (to itself too), from contiguous specials and from a transposed view. */
function toRows(dtype: DType): OpCase[] {
  if (QUANT.includes(dtype)) {
    return [{ op: 'to', dtype, name: 'dequantize rows [3, 64] to f32 and f64', exact: true, run: () => {
      const q = vals([3, 64], 170, dtype, 2);
      return [to(q, 'f32'), to(q, 'f64')];
    } }];
  }
  return [
    { op: 'to', dtype, name: 'specials to every dtype (rounding ties, overflow, NaN, wrap-around)', exact: true, nativeKernels: ['copy'],
      run: () => PLAIN.map((t) => to(special(dtype), t)) },
    { op: 'to', dtype, name: 'transposed view of specials, and seeded values [41] to every dtype', exact: true, nativeKernels: ['copy'],
      run: () => PLAIN.flatMap((t) => [to(special(dtype, [6, 6]).transpose(0, 1), t), to(vals([41], 171, dtype, 40), t)]) },
    ...(dtype === 'f32' || dtype === 'f16' || dtype === 'bf16' ? [{
      op: 'to', dtype, name: 'threaded size [380, 400] to f32, f16 and bf16', exact: true, nativeKernels: ['copy'],
      run: () => [to(vals([380, 400], 172, dtype), 'f32'), to(vals([380, 400], 173, dtype), 'f16'), to(vals([380, 400], 174, dtype), 'bf16')],
    }] : []),
  ];
}

export const cases: OpCase[] = [
  ...unaryRows,
  ...binaryRows,
  ...compareRows,
  ...whereRows,
  ...FLOATS.flatMap(REDUCE_ROWS),
  ...PLAIN.flatMap(viewRows),
  ...QUANT.flatMap(quantViewRows),
  ...[...PLAIN, ...QUANT].flatMap(toRows),
];
