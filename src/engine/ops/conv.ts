/**
 * `conv2d` for the one convolution the models need: a patch embedding, whose stride equals its kernel
 * size (non-overlapping patches, no padding). It is composed of views and `linear`, so autograd flows
 * through those ops and the heavy work runs in the linear kernel. Rows/columns beyond the last whole patch
 * are ignored, as torch does.
 *
 * Not here: overlapping strides, padding, dilation, groups (clear errors instead).
 */
import { defineOp } from '../autograd.js';
import { isFloat, isHalf } from '../dtype.js';
import { fmtShape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { linear } from './linalg.js';
import { narrow, permute, reshape } from './view.js';

export interface Conv2dOptions {
  /** Must equal the kernel size (default 1, as torch: valid for 1×1 kernels only). */
  stride?: number | readonly [number, number];
  /** Only 0 is supported. */
  padding?: number | readonly [number, number];
}

function pair(v: number | readonly [number, number]): [number, number] {
  return typeof v === 'number' ? [v, v] : [v[0], v[1]];
}

const conv2dOp = defineOp({
  name: 'conv2d',
  // The dtype axis of this op is the weight's (as for linear).
  dtypes: ['f32', 'f64', 'f16', 'bf16'],
  composite: true,
  forward(_ctx, x: Tensor, w: Tensor, bias: Tensor | null, opts: Conv2dOptions): Tensor {
    const shapes = `x ${x.dtype} ${fmtShape(x.shape)}, w ${w.dtype} ${fmtShape(w.shape)}`;
    const fail = (why: string) => new Error(`conv2d: ${why}: ${shapes}`);
    if (x.ndim !== 4 || w.ndim !== 4) throw fail('x must be [B, C, H, W] and w [O, C, kh, kw]');
    if (!isFloat(x.dtype) || !(isFloat(w.dtype) || isHalf(w.dtype))) throw fail('x must be f32/f64 and w f32/f64/f16/bf16');
    const [B, C, H, W] = x.shape as [number, number, number, number];
    const [O, Cw, kh, kw] = w.shape as [number, number, number, number];
    if (Cw !== C) throw fail(`channels differ (${C} vs ${Cw})`);
    const [sh, sw] = pair(opts.stride ?? 1);
    if (sh !== kh || sw !== kw) {
      throw fail(`only stride equal to the kernel size (patch embedding) is supported, got stride [${sh}, ${sw}] for kernel [${kh}, ${kw}]`);
    }
    const [ph, pw] = pair(opts.padding ?? 0);
    if (ph !== 0 || pw !== 0) throw fail(`padding [${ph}, ${pw}] is not supported`);
    if (kh < 1 || kw < 1 || H < kh || W < kw) throw fail('the kernel is larger than the input');
    const Hp = Math.floor(H / kh);
    const Wp = Math.floor(W / kw);
    const whole = narrow(narrow(x, 2, 0, Hp * kh), 3, 0, Wp * kw);
    const patches = permute(reshape(whole, [B, C, Hp, kh, Wp, kw]), [0, 2, 4, 1, 3, 5]);
    const y = linear(reshape(patches, [B * Hp * Wp, C * kh * kw]), reshape(w, [O, C * kh * kw]), bias);
    return permute(reshape(y, [B, Hp, Wp, O]), [0, 3, 1, 2]);
  },
});

/**
 * 2-D convolution with stride equal to the kernel size (patch embedding): x [B, C, H, W], w [O, C, kh, kw]
 * (f32/f64 like x, or frozen f16/bf16), bias [O] → [B, O, floor(H/kh), floor(W/kw)].
 */
export function conv2d(x: Tensor, w: Tensor, bias: Tensor | null = null, opts: Conv2dOptions = {}): Tensor {
  return conv2dOp(x, w, bias, opts);
}
