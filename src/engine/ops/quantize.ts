/**
 * `quantize(x, dtype)`: f32/f64 values [..., K] (K a multiple of 32) → q8_0/q4_0 blocks of the same shape,
 * bit for bit as engine/quant.ts specifies. This is how weights become quantized (at load or conversion
 * time); it is not differentiable, quantized tensors being frozen weights.
 *
 * Not here: the block formats (quant.ts), dequantization (`to(x, 'f32')`), matmul with quantized weights
 * (`linear`).
 */
import { defineOp } from '../autograd.js';
import { dispatch } from '../backend.js';
import { isFloat, isQuant, QK, type QuantDType } from '../dtype.js';
import { contiguousStrides, fmtShape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { empty } from './factory.js';
import { reshape, to } from './view.js';

export const quantize: (x: Tensor, dtype: QuantDType) => Tensor = defineOp({
  name: 'quantize',
  dtypes: ['f32', 'f64'],
  differentiable: false,
  forward(_ctx, x: Tensor, dtype: QuantDType): Tensor {
    const what = `x ${x.dtype} ${fmtShape(x.shape)} to ${dtype}`;
    if (!isQuant(dtype)) throw new Error(`quantize: target must be q8_0 or q4_0: ${what}`);
    if (!isFloat(x.dtype)) throw new Error(`quantize: x must be f32 or f64: ${what}`);
    const K = x.shape[x.ndim - 1];
    if (K === undefined || K % QK !== 0) throw new Error(`quantize: the last dim must be a multiple of ${QK}: ${what}`);
    const x2 = reshape(to(x, 'f32'), [-1, K]);
    const out = empty([x2.shape[0]!, K], dtype);
    dispatch('quantize', out, x2);
    return out._view(x.shape, contiguousStrides(x.shape), 0);
  },
});
