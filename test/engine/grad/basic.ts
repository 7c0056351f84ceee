/**
 * Gradient checks of the elementwise, view and reduction ops: broadcasting, non-contiguous inputs and
 * tensors used twice, each against f64 central differences.
 */
import * as E from '../../../src/index.js';
import { tensor, type Tensor } from '../../../src/index.js';
import { gradcheck } from '../../helpers/gradcheck.js';
import { g64, narrow64, perm64, pos64 } from './inputs.js';
import type { GradCase } from './types.js';

type Unary = (x: Tensor) => Tensor;
const UNARY: [string, Unary, 'any' | 'positive'][] = [
  ['neg', E.neg, 'any'], ['abs', E.abs, 'any'], ['sign', E.sign, 'any'], ['exp', E.exp, 'any'],
  ['log', E.log, 'positive'], ['sqrt', E.sqrt, 'positive'], ['rsqrt', E.rsqrt, 'positive'],
  ['square', E.square, 'any'], ['reciprocal', E.reciprocal, 'positive'], ['sin', E.sin, 'any'],
  ['cos', E.cos, 'any'], ['tanh', E.tanh, 'any'], ['sigmoid', E.sigmoid, 'any'], ['relu', E.relu, 'any'],
  ['erf', E.erf, 'any'], ['gelu', E.gelu, 'any'], ['geluTanh', E.geluTanh, 'any'],
  ['quickGelu', E.quickGelu, 'any'], ['silu', E.silu, 'any'],
];

const unaryCases: GradCase[] = UNARY.flatMap(([op, f, domain], i): GradCase[] => [
  { op, name: 'contiguous [2, 3]', run: () => gradcheck(f, [domain === 'positive' ? pos64([2, 3], i) : g64([2, 3], i)]) },
  {
    op,
    name: 'permuted view [3, 2]',
    run: () => {
      const x = perm64([3, 2], 50 + i);
      if (domain === 'positive') for (let k = 0; k < x.data.length; k++) x.data[k] = 0.5 + Math.abs(x.data[k]!);
      gradcheck(f, [x]);
    },
  },
]);

type Binary = (a: Tensor, b: Tensor) => Tensor;
const BINARY: [string, Binary][] = [
  ['add', E.add], ['sub', E.sub], ['mul', E.mul], ['div', E.div], ['maximum', E.maximum], ['minimum', E.minimum],
];
const binaryCases: GradCase[] = BINARY.flatMap(([op, f], i): GradCase[] => {
  const b = op === 'div' ? pos64 : g64;
  return [
    { op, name: 'broadcast [2, 3] with [3]', run: () => gradcheck(f, [g64([2, 3], i), b([3], 10 + i)]) },
    { op, name: 'broadcast [2, 1] with permuted [2, 3]', run: () => gradcheck(f, [g64([2, 1], i), op === 'div' ? pos64([2, 3], 20 + i) : perm64([2, 3], 20 + i)]) },
    { op, name: 'tensor used twice', run: () => gradcheck((x) => f(f(x, x), x), [op === 'div' ? pos64([4], i) : g64([4], i)]) },
  ];
});

export const basicCases: GradCase[] = [
  ...unaryCases,
  ...binaryCases,
  { op: 'pow', name: 'positive base, broadcast exponent', run: () => gradcheck(E.pow, [pos64([2, 3], 1), g64([3], 2)]) },
  { op: 'pow', name: 'number exponent on a narrowed view', run: () => gradcheck((x) => E.pow(x, 3), [narrow64([2, 3], 3)]) },
  {
    op: 'where',
    name: 'broadcast condition and operands',
    run: () => {
      const cond = tensor([[true, false, true], [false, false, true]], { dtype: 'bool' });
      gradcheck((a, b) => E.where(cond, a, b), [g64([2, 3], 1), g64([3], 2)]);
    },
  },
  { op: 'sum', name: 'all elements of a permuted view', run: () => gradcheck((x) => E.sum(x), [perm64([3, 4], 1)]) },
  { op: 'sum', name: 'axes [0, 2] keepDim', run: () => gradcheck((x) => E.sum(x, [0, 2], true), [g64([2, 3, 4], 2)]) },
  { op: 'max', name: 'along dim 1', run: () => gradcheck((x) => E.max(x, 1), [g64([3, 4], 3)]) },
  { op: 'max', name: 'all elements', run: () => gradcheck((x) => E.max(x), [narrow64([2, 3], 4)]) },
  { op: 'min', name: 'along dim 0 keepDim', run: () => gradcheck((x) => E.min(x, 0, true), [perm64([3, 4], 5)]) },
  { op: 'contiguous', name: 'of a permuted view', run: () => gradcheck((x) => E.contiguous(x), [perm64([3, 4], 1)]) },
  { op: 'clone', name: 'of a narrowed view', run: () => gradcheck((x) => E.clone(x), [narrow64([2, 3], 2)]) },
  { op: 'to', name: 'f64 → f32 → f64', run: () => gradcheck((x) => E.to(E.to(x, 'f32'), 'f64'), [g64([2, 3], 3)], { eps: 1e-2, atol: 1e-4 }) },
  { op: 'reshape', name: 'of a permuted view (copies)', run: () => gradcheck((x) => E.reshape(x, [6, 2]), [perm64([3, 4], 4)]) },
  { op: 'permute', name: '3-D', run: () => gradcheck((x) => E.permute(x, [2, 0, 1]), [g64([2, 3, 4], 5)]) },
  { op: 'narrow', name: 'middle of dim 1, used twice', run: () => gradcheck((x) => E.mul(E.narrow(x, 1, 1, 2), E.narrow(x, 1, 0, 2)), [g64([2, 4], 6)]) },
  { op: 'expand', name: '[3, 1] → [2, 3, 4]', run: () => gradcheck((x) => E.expand(x, [2, 3, 4]), [g64([3, 1], 7)]) },
  { op: 'cat', name: 'dim 1 with a permuted part', run: () => gradcheck((a, b) => E.cat([a, b], 1), [g64([2, 3], 8), perm64([2, 2], 9)]) },
  { op: 'cat', name: 'same tensor twice (stack)', run: () => gradcheck((a) => E.stack([a, E.mul(a, 2)], 0), [g64([3], 10)]) },
];
