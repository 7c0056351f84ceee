/**
 * Reference neural-network kernels: layerNorm, rmsNorm (HF cast order), softmax/logSoftmax, rope
 * (rotate_half), fused attention forward, per-row cross entropy, indexSelect.
 */
import type { AttentionOptions, KernelResult } from '../../engine/kernels.js';
import type { Tensor } from '../../engine/tensor.js';

const pending = (name: string): KernelResult => `ts ${name} is not written yet`;

export function layerNorm(_out: Tensor, _x: Tensor, _w: Tensor | null, _b: Tensor | null, _eps: number): KernelResult {
  return pending('layerNorm');
}
export function rmsNorm(_out: Tensor, _x: Tensor, _w: Tensor | null, _eps: number): KernelResult {
  return pending('rmsNorm');
}
export function softmax(_out: Tensor, _x: Tensor, _log: boolean): KernelResult {
  return pending('softmax');
}
export function rope(_out: Tensor, _x: Tensor, _cos: Tensor, _sin: Tensor): KernelResult {
  return pending('rope');
}
export function attention(_out: Tensor, _q: Tensor, _k: Tensor, _v: Tensor, _opts: AttentionOptions): KernelResult {
  return pending('attention');
}
export function crossEntropy(_out: Tensor, _logits: Tensor, _targets: Tensor, _ignoreIndex: number): KernelResult {
  return pending('crossEntropy');
}
export function indexSelect(_out: Tensor, _x: Tensor, _axis: number, _idx: Tensor): KernelResult {
  return pending('indexSelect');
}
