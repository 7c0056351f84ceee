/**
 * Native kernels of the elementwise and nn families against their naive twins (ISA_NAIVE, the obvious
 * loops), variant by variant (scalar always, avx2 where the CPU has AVX2/FMA/F16C), through `runKernelAt`
 * on awkward sizes (1, 7, 8, 9, 33, 1000+, sizes that split across threads) and strided layouts. Calls are
 * built by the same `…Call` functions the backend uses, so parameter encoding is exercised too.
 *
 * Also: a call whose buffer is too short throws (and does not touch memory), and f16/bf16 conversion of
 * the native copy is bit-exact against src/engine/half.ts over all 65536 16-bit patterns and a broad sample
 * of f32 bit patterns. Not here: agreement with the ts backend (test/engine/consistency.test.ts).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  Rng, bf16BitsToF32, empty, expand, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits, narrow, permute, tensor, to,
  type DType, type Tensor, type TypedArray, type IsaLevel,
} from '../../src/index.js';
import { fastNativeIsas, loadAddon, runKernelAt } from '../../src/backends/native/addon.js';
import {
  BINARY_CODE, DTYPE_CODE, UNARY_CODE, binaryCall, compareCall, copyCall, fillCall, indexSelectCall, reduceCall, unaryCall, whereCall,
  type KernelCall,
} from '../../src/backends/native/elementwise.js';
import { attentionCall, crossEntropyCall, layerNormCall, rmsNormCall, ropeCall, softmaxCall } from '../../src/backends/native/nn.js';
import type { BinaryOp, CompareOp, ReduceOp, UnaryOp } from '../../src/engine/kernels.js';

const addon = loadAddon();
const FAST: IsaLevel[] = ['scalar', ...fastNativeIsas()];
const skip = !addon && 'native addon not loaded';

type Tol = 'exact' | { atol: number; rtol: number };

function call(c: KernelCall | string): KernelCall {
  if (typeof c === 'string') throw new Error(`the wrapper declined: ${c}`);
  return c;
}

/** Runs `c` at `level` with its output (buffer 0) reset to a sentinel first; returns a copy of the output. */
function runAt(level: IsaLevel, c: KernelCall): TypedArray {
  const out = c.arrays[0]!;
  if (out instanceof Float32Array || out instanceof Float64Array) out.fill(-7.25);
  else out.fill(out instanceof Uint8Array ? 0xab : 0xabcd);
  runKernelAt(level, c.name, c.arrays, c.params);
  return out.slice();
}

function same(a: number, b: number): boolean {
  return a === b || (Number.isNaN(a) && Number.isNaN(b));
}

/** Every fast variant of `c` against the naive twin. */
function checkFast(c: KernelCall | string, tol: Tol, msg: string): void {
  const k = call(c);
  const ref = runAt('naive', k);
  for (const level of FAST) {
    const got = runAt(level, k);
    for (let i = 0; i < ref.length; i++) {
      const a = got[i]!;
      const e = ref[i]!;
      if (same(a, e)) continue;
      const ok = tol !== 'exact' && Math.abs(a - e) <= tol.atol + tol.rtol * Math.abs(e);
      if (!ok) assert.fail(`${msg} (${level}): element ${i} is ${a}, naive gives ${e} (${k.name}, ${ref.length} elements)`);
    }
  }
}

const rng = new Rng(12345);
const SPECIAL = [NaN, Infinity, -Infinity, 0, -0, 1, -1, 0.5, -2.5, 2.5, 65504, 65520, 1e-8, 2 ** -25, 1 + 2 ** -11, 1 + 2 ** -8, 3e38, 1e10, -1e10, 4294967301, 300.7, -129.5];

/** n values: mostly normal draws (×scale), with the specials sprinkled in. */
function values(n: number, scale = 3, specials = true): number[] {
  return Array.from({ length: n }, (_, i) => (specials && i % 7 === 3 ? SPECIAL[(i / 7) % SPECIAL.length | 0]! : rng.normal() * scale));
}

function filled(shape: number[], dtype: DType, opts: { scale?: number; specials?: boolean; positive?: boolean } = {}): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  let v = values(n, opts.scale ?? 3, opts.specials ?? true);
  if (opts.positive) v = v.map((x) => Math.abs(x));
  if (dtype === 'i32') v = v.map((x) => Math.round(x * 100));
  if (dtype === 'u8') v = v.map((x) => Math.abs(Math.round(x * 40)) % 256);
  if (dtype === 'bool') v = v.map((x) => (x > 0 ? 1 : 0));
  return tensor(v, { dtype, shape });
}

/** Layouts of a logical [r, c] tensor: contiguous, transposed, narrowed, and a row broadcast (stride 0). */
function layouts(r: number, c: number, dtype: DType, opts: { positive?: boolean; specials?: boolean } = {}): [string, Tensor][] {
  return [
    ['contiguous', filled([r, c], dtype, opts)],
    ['transposed', filled([c, r], dtype, opts).transpose(0, 1)],
    ['narrowed', narrow(filled([r, c + 5], dtype, opts), 1, 3, c)],
    ['broadcast', expand(filled([1, c], dtype, opts), [r, c])],
  ];
}

const SIZES: [number, number][] = [[1, 1], [1, 7], [1, 8], [1, 9], [3, 33], [1, 1031], [4, 257]];
const PLAIN: DType[] = ['f32', 'f64', 'f16', 'bf16', 'i32', 'u8', 'bool'];

describe('native elementwise kernels against their naive twins', { skip }, () => {
  test('copy: every dtype pair, strided sources and targets', () => {
    for (const src of PLAIN) {
      for (const dst of PLAIN) {
        for (const [r, c] of [[1, 1], [1, 9], [3, 33], [2, 1031]] as [number, number][]) {
          for (const [name, x] of layouts(r, c, src)) {
            checkFast(copyCall(empty([r, c], dst), x), 'exact', `copy ${src}→${dst} ${name} [${r}, ${c}]`);
            const big = empty([r + 2, c + 3], dst);
            checkFast(copyCall(narrow(narrow(big, 0, 1, r), 1, 2, c), x), 'exact', `copy ${src}→${dst} ${name} into a slice`);
          }
        }
      }
    }
  });

  test('copy: sources transposed in their last two dims (tiled), batched and ragged', () => {
    for (const [s, d] of [['f32', 'f32'], ['f32', 'f16'], ['bf16', 'f32'], ['u8', 'i32'], ['f64', 'f64']] as [DType, DType][]) {
      for (const [b, r, c] of [[1, 16, 16], [3, 40, 50], [2, 33, 70], [1, 300, 260]]) {
        const x = filled([b!, c!, r!], s).transpose(1, 2);
        checkFast(copyCall(empty([b!, r!, c!], d), x), 'exact', `copy ${s}→${d} transposed [${b}, ${r}, ${c}]`);
        checkFast(copyCall(empty([r!, b!, c!], d).transpose(0, 1), x), 'exact', `copy ${s}→${d} transposed into a permuted target`);
      }
    }
  });

  test('copy: 0-d, empty, and a size split across threads', () => {
    checkFast(copyCall(empty([], 'f16'), tensor(1.5)), 'exact', 'copy 0-d');
    checkFast(copyCall(empty([0, 4], 'f32'), empty([0, 4], 'f16')), 'exact', 'copy empty');
    for (const [s, d] of [['f32', 'f16'], ['f16', 'f32'], ['f32', 'bf16'], ['bf16', 'f32'], ['f32', 'f32'], ['f32', 'i32']] as [DType, DType][]) {
      checkFast(copyCall(empty([150001], d), filled([150001], s)), 'exact', `copy ${s}→${d} threaded`);
    }
  });

  test('fill: every dtype, contiguous and strided', () => {
    for (const dtype of PLAIN) {
      for (const v of [NaN, -1.5, 1e10, 3, -0]) {
        checkFast(fillCall(empty([7, 9], dtype), v), 'exact', `fill ${dtype} ${v}`);
        checkFast(fillCall(narrow(empty([7, 9], dtype), 1, 2, 5), v), 'exact', `fill ${dtype} ${v} slice`);
      }
    }
    checkFast(fillCall(empty([300000], 'u8'), 7), 'exact', 'fill threaded');
  });

  test('unary: every op, sizes and layouts', () => {
    const cheap = new Set<UnaryOp>(['neg', 'abs', 'sign', 'sqrt', 'square', 'reciprocal', 'relu']);
    for (const op of Object.keys(UNARY_CODE) as UnaryOp[]) {
      const positive = op === 'log' || op === 'sqrt' || op === 'rsqrt';
      const tol: Tol = cheap.has(op) ? 'exact' : { atol: 1e-6, rtol: 3e-6 };
      for (const [r, c] of SIZES) {
        for (const [name, x] of layouts(r, c, 'f32', { positive })) checkFast(unaryCall(op, empty([r, c]), x), tol, `${op} ${name} [${r}, ${c}]`);
      }
      // Four copies of 10007 draws: enough elements to split across threads (the rng stream stays as it was).
      const base = filled([10007], 'f32', { positive }).data;
      checkFast(unaryCall(op, empty([40028]), tensor(Array.from({ length: 40028 }, (_, i) => base[i % 10007]!), { shape: [40028] })), tol, `${op} threaded`);
      checkFast(unaryCall(op, empty([]), tensor(positive ? 0.3 : -0.3)), tol, `${op} 0-d`);
    }
  });

  test('binary: every op with broadcast (stride-0) and strided operands', () => {
    for (const op of Object.keys(BINARY_CODE) as BinaryOp[]) {
      const tol: Tol = op === 'pow' ? { atol: 1e-6, rtol: 3e-6 } : 'exact';
      const positive = op === 'pow';
      for (const [r, c] of SIZES) {
        const ls = layouts(r, c, 'f32', { positive });
        for (const [na, a] of ls) {
          for (const [nb, b] of layouts(r, c, 'f32')) checkFast(binaryCall(op, empty([r, c]), a, b), tol, `${op} ${na}·${nb} [${r}, ${c}]`);
          checkFast(binaryCall(op, empty([r, c]), a, expand(tensor(0.75), [r, c])), tol, `${op} ${na}·scalar`);
          checkFast(binaryCall(op, empty([r, c]), expand(tensor(1.25), [r, c]), a), tol, `${op} scalar·${na}`);
        }
      }
      checkFast(binaryCall(op, empty([300, 257]), filled([300, 257], 'f32', { positive }), expand(filled([300, 1], 'f32'), [300, 257])), tol, `${op} threaded`);
    }
  });

  test('compare: every op and dtype, broadcast and strided', () => {
    for (const op of ['eq', 'ne', 'lt', 'le', 'gt', 'ge'] as CompareOp[]) {
      for (const dtype of ['f32', 'i32', 'u8', 'bool'] as DType[]) {
        for (const [r, c] of [[1, 1], [1, 9], [3, 33], [2, 1031]] as [number, number][]) {
          const few = (shape: number[]) => tensor(values(shape[0]! * shape[1]!, 1, false).map((v) => (dtype === 'f32' ? Math.round(v * 2) / 2 : Math.abs(Math.round(v * 2)) % 3)).map((v) => (dtype === 'bool' ? v % 2 : v)), { dtype, shape });
          for (const b of [few([r, c]), few([c, r]).transpose(0, 1), expand(few([1, c]), [r, c])]) {
            checkFast(compareCall(op, empty([r, c], 'bool'), few([r, c]), b), 'exact', `${op} ${dtype} [${r}, ${c}]`);
          }
        }
        if (dtype === 'f32') {
          const s = [NaN, Infinity, -Infinity, 0, -0, 1];
          const a = tensor(s.flatMap((x) => s.map(() => x)));
          checkFast(compareCall(op, empty([36], 'bool'), a, tensor(s.flatMap(() => s))), 'exact', `${op} specials`);
        }
      }
    }
  });

  test('where: broadcast and strided operands', () => {
    for (const [r, c] of SIZES) {
      const conds = [filled([r, c], 'bool'), filled([c, r], 'bool').transpose(0, 1), expand(filled([r, 1], 'bool'), [r, c])];
      for (const cond of conds) {
        for (const [na, a] of layouts(r, c, 'f32')) {
          checkFast(whereCall(empty([r, c]), cond, a, filled([r, c], 'f32')), 'exact', `where ${na} [${r}, ${c}]`);
        }
      }
    }
  });

  test('reduce: every op over axes of strided inputs, rows and columns modes, threads', () => {
    const sumTol: Tol = { atol: 1e-6, rtol: 1e-6 };
    const cases: [string, Tensor, number[]][] = [
      ['[1031] all', filled([1031], 'f32', { specials: false }), [0]],
      ['[7, 9] axis 0', filled([7, 9], 'f32'), [0]],
      ['[7, 9] axis 1', filled([7, 9], 'f32'), [1]],
      ['[33, 8, 9] axes 0, 2', filled([33, 8, 9], 'f32', { specials: false }), [0, 2]],
      ['[33, 8, 9] axes 0, 1', filled([33, 8, 9], 'f32', { specials: false }), [0, 1]],
      ['[1000, 37] axis 0 (columns)', filled([1000, 37], 'f32', { specials: false }), [0]],
      ['[37, 1000] axis 1 transposed', filled([1000, 37], 'f32', { specials: false }).transpose(0, 1), [1]],
      ['[5, 6, 7] permuted axis 1', permute(filled([6, 7, 5], 'f32'), [2, 0, 1]), [1]],
      ['[4, 50] expanded axis 1', expand(filled([4, 1], 'f32'), [4, 50]), [1]],
      ['[1, 1] axis 0', filled([1, 1], 'f32'), [0]],
      ['[3, 1, 4] axis 1 (size 1)', filled([3, 1, 4], 'f32'), [1]],
      ['[300, 300] axis 1 threaded', filled([300, 300], 'f32', { specials: false }), [1]],
      ['[300, 300] axis 0 threaded', filled([300, 300], 'f32', { specials: false }), [0]],
    ];
    for (const op of ['sum', 'max', 'min', 'argmax', 'argmin'] as ReduceOp[]) {
      for (const [name, x, axes] of cases) {
        if ((op === 'argmax' || op === 'argmin') && axes.length !== 1) continue;
        const out = empty(x.shape.map((s, i) => (axes.includes(i) ? 1 : s)), op.startsWith('arg') ? 'i32' : 'f32');
        checkFast(reduceCall(op, out, x, axes), op === 'sum' ? sumTol : 'exact', `${op} ${name}`);
      }
    }
    checkFast(reduceCall('sum', empty([3, 1]), empty([3, 0]), [1]), 'exact', 'sum over an empty axis');
  });

  test('indexSelect: every element size, axis and layout', () => {
    for (const dtype of PLAIN) {
      const x = filled([5, 6, 7], dtype);
      for (const [name, v] of [['contiguous', x], ['permuted', permute(x, [2, 0, 1])]] as [string, Tensor][]) {
        for (let axis = 0; axis < 3; axis++) {
          const idx = tensor([v.shape[axis]! - 1, 0, 2, 2], { dtype: 'i32' });
          const shape = [...v.shape];
          shape[axis] = 4;
          checkFast(indexSelectCall(empty(shape, dtype), v, axis, idx), 'exact', `indexSelect ${dtype} ${name} axis ${axis}`);
        }
      }
    }
    const big = filled([2000, 64], 'f32');
    checkFast(indexSelectCall(empty([1500, 64]), big, 0, tensor(values(1500, 1, false).map((_, i) => (i * 7919) % 2000), { dtype: 'i32' })), 'exact', 'indexSelect threaded');
  });
});

describe('native nn kernels against their naive twins', { skip }, () => {
  const tol = { atol: 2e-5, rtol: 2e-5 };
  const D_SIZES = [1, 7, 8, 9, 33, 1031];

  test('layerNorm and rmsNorm: sizes, affine or not, strided rows', () => {
    for (const D of D_SIZES) {
      const rows = D > 100 ? 3 : 5;
      const xs: [string, Tensor][] = [['contiguous', filled([rows, D], 'f32', { specials: false })], ['transposed', filled([D, rows], 'f32', { specials: false }).transpose(0, 1)]];
      const w = filled([D], 'f32', { specials: false });
      const b = filled([D], 'f32', { specials: false });
      const ws = narrow(filled([D, 2], 'f32', { specials: false }), 1, 1, 1).reshape(D);
      for (const [name, x] of xs) {
        checkFast(layerNormCall(empty([rows, D]), x, w, b, 1e-5), tol, `layerNorm ${name} D=${D}`);
        checkFast(layerNormCall(empty([rows, D]), x, null, null, 1e-5), tol, `layerNorm ${name} D=${D} plain`);
        checkFast(layerNormCall(empty([rows, D]), x, ws, null, 1e-5), tol, `layerNorm ${name} D=${D} strided weight`);
        checkFast(rmsNormCall(empty([rows, D]), x, w, 1e-6), tol, `rmsNorm ${name} D=${D}`);
        checkFast(rmsNormCall(empty([rows, D]), x, null, 1e-6), tol, `rmsNorm ${name} D=${D} plain`);
      }
    }
    checkFast(rmsNormCall(empty([64, 512]), filled([64, 512], 'f32', { specials: false }), filled([512], 'f32'), 1e-6), tol, 'rmsNorm threaded');
  });

  test('softmax and log-softmax: sizes, large values, strided rows, NaN/inf rows', () => {
    for (const D of D_SIZES) {
      for (const log of [false, true]) {
        checkFast(softmaxCall(empty([4, D]), filled([4, D], 'f32', { scale: 20, specials: false }), log), tol, `softmax log=${log} D=${D}`);
        checkFast(softmaxCall(empty([4, D]), filled([D, 4], 'f32', { scale: 3, specials: false }).transpose(0, 1), log), tol, `softmax log=${log} D=${D} transposed`);
      }
    }
    const odd = tensor([[1, NaN, 2], [Infinity, 0, 1], [-Infinity, -Infinity, -Infinity], [-Infinity, 0, 3]]);
    for (const log of [false, true]) checkFast(softmaxCall(empty([4, 3]), odd, log), tol, `softmax log=${log} specials`);
    checkFast(softmaxCall(empty([40, 1000]), filled([40, 1000], 'f32', { specials: false }), false), tol, 'softmax threaded');
  });

  test('crossEntropy: sizes, ignored targets, strided logits', () => {
    for (const V of D_SIZES) {
      const N = 6;
      const t = tensor(Array.from({ length: N }, (_, i) => (i === 2 ? -100 : (i * 5) % V)), { dtype: 'i32' });
      checkFast(crossEntropyCall(empty([N]), filled([N, V], 'f32', { scale: 5, specials: false }), t, -100), tol, `crossEntropy V=${V}`);
      checkFast(crossEntropyCall(empty([N]), filled([V, N], 'f32', { specials: false }).transpose(0, 1), t, -100), tol, `crossEntropy V=${V} transposed`);
    }
  });

  test('rope: head dims, head-split views, tables broadcast over batch', () => {
    for (const D of [2, 8, 14, 18, 66]) {
      const [B, H, T] = [2, 3, 5];
      const cos = filled([1, T, D / 2], 'f32', { specials: false });
      const sin = filled([1, T, D / 2], 'f32', { specials: false });
      const xs: [string, Tensor][] = [['contiguous', filled([B, H, T, D], 'f32', { specials: false })], ['head-split', filled([B, T, H, D], 'f32', { specials: false }).transpose(1, 2)],
        ['strided last dim', filled([B, H, T, D], 'f32', { specials: false }).transpose(2, 3).contiguous().transpose(2, 3)]];
      for (const [name, x] of xs) {
        checkFast(ropeCall(empty([B, H, T, D]), x, expand(cos, [B, T, D / 2]), expand(sin, [B, T, D / 2])), { atol: 1e-6, rtol: 1e-6 }, `rope ${name} D=${D}`);
      }
    }
  });

  test('attention: GQA, causal with a KV prefix, key masks, rows with no key, blocks with tails, strided views', () => {
    const configs: [string, number[], boolean, boolean][] = [
      // [B, Hq, Hkv, Tq, Tk, D, Dv], causal, mask
      ['all ones', [1, 1, 1, 1, 1, 1, 1], false, false],
      ['GQA causal prefix masked', [2, 4, 2, 3, 7, 16, 9], true, true],
      ['blocks with tails', [1, 2, 1, 37, 70, 33, 20], true, false],
      ['more queries than keys (rows see no key)', [1, 2, 2, 9, 5, 8, 8], true, false],
      ['decode', [1, 4, 4, 1, 130, 64, 64], true, false],
      ['non-causal masked, odd dims', [2, 3, 1, 17, 67, 7, 13], false, true],
      // Few tasks: keys split into chunks whose softmax states are merged (at 384 and 768; at 320 and 640).
      ['decode split, GQA 2:1', [1, 2, 1, 1, 1000, 64, 64], true, false],
      ['decode split, masked, odd dims', [1, 1, 1, 1, 700, 20, 12], true, true],
      ['few queries, GQA 4:1 in one task, split, prefix', [1, 4, 1, 3, 900, 33, 17], true, true],
      ['decode, GQA 8:2, many tasks', [2, 8, 2, 1, 300, 128, 128], true, false],
    ];
    for (const [name, [B, Hq, Hkv, Tq, Tk, D, Dv], causal, masked] of configs) {
      const keyMask = masked ? tensor(Array.from({ length: B! * Tk! }, (_, i) => (i % 5 === 1 || i < Tk! / 2 && i % Tk! > 3 ? 0 : 1)), { dtype: 'bool', shape: [B!, Tk!] }) : null;
      const q = filled([B!, Hq!, Tq!, D!], 'f32', { specials: false, scale: 1 });
      const k = filled([B!, Hkv!, Tk!, D!], 'f32', { specials: false, scale: 1 });
      const v = filled([B!, Hkv!, Tk!, Dv!], 'f32', { specials: false, scale: 1 });
      const opts = { causal, keyMask, scale: 1 / Math.sqrt(D!) };
      checkFast(attentionCall(empty([B!, Hq!, Tq!, Dv!]), q, k, v, opts), tol, `attention ${name}`);
      const qs = filled([B!, Tq!, Hq!, D!], 'f32', { specials: false }).transpose(1, 2);
      const ks = filled([B!, Tk!, Hkv!, D!], 'f32', { specials: false }).transpose(1, 2);
      const vs = narrow(filled([B!, Hkv!, Tk!, Dv! + 3], 'f32', { specials: false }), 3, 2, Dv!);
      checkFast(attentionCall(empty([B!, Hq!, Tq!, Dv!]), qs, ks, vs, opts), tol, `attention ${name} strided`);
      for (const half of ['f16', 'bf16'] as const) {
        checkFast(attentionCall(empty([B!, Hq!, Tq!, Dv!]), q, to(k, half), to(v, half), opts), tol, `attention ${name} ${half} k/v`);
        checkFast(attentionCall(empty([B!, Hq!, Tq!, Dv!]), qs, to(ks, half), narrow(to(filled([B!, Hkv!, Tk!, Dv! + 3], 'f32', { specials: false }), half), 3, 2, Dv!), opts),
          tol, `attention ${name} strided ${half} k/v`);
      }
    }
    checkFast(attentionCall(empty([1, 4, 40, 64]), filled([1, 4, 40, 64], 'f32', { specials: false }), filled([1, 4, 300, 64], 'f32', { specials: false }),
      filled([1, 4, 300, 64], 'f32', { specials: false }), { causal: true, keyMask: null, scale: 0.125 }), tol, 'attention threaded');
  });
});

describe('native kernels reject bad calls', { skip }, () => {
  const calls = (): KernelCall[] => [
    call(copyCall(empty([3, 5], 'f16'), filled([3, 5], 'f32'))),
    call(fillCall(narrow(empty([4, 5], 'i32'), 1, 2, 3), 2)),
    call(unaryCall('exp', empty([9]), filled([9], 'f32'))),
    call(binaryCall('add', empty([4, 6]), filled([4, 6], 'f32'), filled([6, 4], 'f32').transpose(0, 1))),
    call(compareCall('lt', empty([8], 'bool'), filled([8], 'i32'), filled([8], 'i32'))),
    call(whereCall(empty([8]), filled([8], 'bool'), filled([8], 'f32'), filled([8], 'f32'))),
    call(reduceCall('sum', empty([3, 1]), filled([3, 7], 'f32'), [1])),
    call(indexSelectCall(empty([2, 5]), filled([4, 5], 'f32'), 0, tensor([3, 0], { dtype: 'i32' }))),
    call(layerNormCall(empty([2, 9]), filled([2, 9], 'f32'), filled([9], 'f32'), filled([9], 'f32'), 1e-5)),
    call(rmsNormCall(empty([2, 9]), filled([2, 9], 'f32'), filled([9], 'f32'), 1e-5)),
    call(softmaxCall(empty([2, 9]), filled([2, 9], 'f32'), false)),
    call(ropeCall(empty([1, 2, 3, 8]), filled([1, 2, 3, 8], 'f32'), filled([1, 3, 4], 'f32'), filled([1, 3, 4], 'f32'))),
    call(attentionCall(empty([1, 2, 3, 8]), filled([1, 2, 3, 8], 'f32'), filled([1, 1, 5, 8], 'f32'), filled([1, 1, 5, 8], 'f32'),
      { causal: true, keyMask: tensor([[1, 0, 1, 1, 1]], { dtype: 'bool' }), scale: 0.3 })),
    call(attentionCall(empty([1, 2, 3, 8]), filled([1, 2, 3, 8], 'f32'), filled([1, 1, 5, 8], 'f16'), filled([1, 1, 5, 8], 'f16'),
      { causal: false, keyMask: null, scale: 0.3 })),
    call(crossEntropyCall(empty([3]), filled([3, 5], 'f32'), tensor([1, -100, 4], { dtype: 'i32' }), -100)),
  ];

  test('a buffer one element too short throws, for every buffer of every kernel', () => {
    for (const c of calls()) {
      c.arrays.forEach((arr, b) => {
        if (arr.length === 0) return;
        // Buffers shared by several operands (a dummy for an absent one) are shortened together.
        const short = arr.subarray(0, arr.length - 1) as TypedArray;
        const arrays = c.arrays.map((a) => (a === arr ? short : a));
        for (const level of ['naive', ...FAST] as IsaLevel[]) {
          assert.throws(() => runKernelAt(level, c.name, arrays, c.params), /native kernel .*(reaches|outside|does not fit)/, `${c.name} buffer ${b} (${level})`);
        }
      });
    }
  });

  test('missing parameters, unknown codes, negative strides and out-of-range indices throw', () => {
    for (const c of calls()) {
      assert.throws(() => runKernelAt('scalar', c.name, c.arrays, c.params.slice(0, c.params.length - 2)), /native kernel/, `${c.name} truncated`);
    }
    const u = call(unaryCall('exp', empty([9]), filled([9], 'f32')));
    assert.throws(() => runKernelAt('scalar', u.name, u.arrays, [99, ...u.params.slice(1)]), /unknown unary op code 99/);
    assert.throws(() => runKernelAt('scalar', u.name, u.arrays, [...u.params.slice(0, -1), -1]), /negative stride/);
    const ix = call(indexSelectCall(empty([2, 5]), filled([4, 5], 'f32'), 0, tensor([3, 4], { dtype: 'i32' })));
    assert.throws(() => runKernelAt('scalar', ix.name, ix.arrays, ix.params), /index 4 at position 1 is outside \[0, 4\)/);
    const ce = call(crossEntropyCall(empty([2]), filled([2, 5], 'f32'), tensor([1, 5], { dtype: 'i32' }), -100));
    assert.throws(() => runKernelAt('avx2', ce.name, ce.arrays, ce.params), /target 5 of row 1 is outside \[0, 5\)/);
    const at = call(attentionCall(empty([1, 2, 3, 8]), filled([1, 2, 3, 8], 'f32'), filled([1, 1, 5, 8], 'f16'), filled([1, 1, 5, 8], 'f16'),
      { causal: false, keyMask: null, scale: 0.3 }));
    assert.throws(() => runKernelAt('scalar', at.name, at.arrays, [...at.params.slice(0, -1), 3]), /unknown key\/value storage code 3/);
  });
});

describe('native copy converts f16/bf16 exactly as src/engine/half.ts', { skip }, () => {
  const all16 = Uint16Array.from({ length: 65536 + 5 }, (_, i) => i & 0xffff);

  test('every f16 and bf16 pattern to f32', () => {
    const expected16 = Float32Array.from(all16, (h) => f16BitsToF32(h));
    const expectedB = Float32Array.from(all16, (h) => bf16BitsToF32(h));
    for (const level of ['naive', ...FAST] as IsaLevel[]) {
      for (const [dtype, expected] of [['f16', expected16], ['bf16', expectedB]] as [DType, Float32Array][]) {
        const out = empty([all16.length]);
        // A tensor of raw f16/bf16 patterns (tensor() would encode numbers).
        const src = empty([all16.length], dtype);
        src.data.set(all16);
        runKernelAt(level, 'copy', [out.data, src.data], [DTYPE_CODE[dtype]!, DTYPE_CODE.f32!, 1, all16.length, 0, 1, 0, 1]);
        const got = out.data as Float32Array;
        const gb = new Uint32Array(got.buffer);
        const eb = new Uint32Array(expected.buffer);
        for (let i = 0; i < got.length; i++) {
          if (Number.isNaN(expected[i]!)) assert.ok(Number.isNaN(got[i]!), `${dtype} ${all16[i]} → NaN (${level})`);
          else if (gb[i] !== eb[i]) assert.fail(`${dtype} pattern 0x${all16[i]!.toString(16)} → ${got[i]}, half.ts gives ${expected[i]} (${level})`);
        }
      }
    }
  });

  test('f32 patterns (every exponent with tie, subnormal, boundary and random mantissas, inf, NaN) to f16 and bf16', () => {
    const mants = [0, 1, 2, 0xfff, 0x1000, 0x1001, 0x1fff, 0x2000, 0x3000, 0x5000, 0x7fff, 0x8000, 0x8001, 0x17fff, 0x18000, 0x3fffff, 0x400000, 0x7fe000, 0x7ff000, 0x7fffff];
    const bits: number[] = [];
    for (let se = 0; se < 512; se++) {
      for (const m of mants) bits.push(((se << 23) | m) >>> 0);
      for (let k = 0; k < 12; k++) bits.push(((se << 23) | rng.nextU32() & 0x7fffff) >>> 0);
    }
    for (let k = 0; k < 20000; k++) bits.push(rng.nextU32());
    const src = new Float32Array(Uint32Array.from(bits).buffer);
    for (const level of ['naive', ...FAST] as IsaLevel[]) {
      for (const [dtype, enc] of [['f16', f32ToF16Bits], ['bf16', f32ToBf16Bits]] as [DType, (x: number) => number][]) {
        const out = empty([src.length], dtype);
        runKernelAt(level, 'copy', [out.data, src], [DTYPE_CODE.f32!, DTYPE_CODE[dtype]!, 1, src.length, 0, 1, 0, 1]);
        const got = out.data as Uint16Array;
        for (let i = 0; i < src.length; i++) {
          const e = enc(src[i]!);
          const isNaN16 = (h: number) => (dtype === 'f16' ? (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0 : (h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0);
          if (Number.isNaN(src[i]!)) assert.ok(isNaN16(got[i]!), `${dtype}: NaN 0x${bits[i]!.toString(16)} stays NaN (${level})`);
          else if (got[i] !== e) assert.fail(`${dtype}: f32 0x${bits[i]!.toString(16)} (${src[i]}) → 0x${got[i]!.toString(16)}, half.ts gives 0x${e.toString(16)} (${level})`);
        }
      }
    }
  });
});
