/**
 * Activation functions by the names Hugging Face configs use (`hidden_act`, `projector_hidden_act`),
 * mapped onto the engine's fused elementwise ops. One table, so that a config naming an activation we do
 * not have fails at load time with the list of supported names, never in the middle of a forward.
 *
 * Not here: the activations themselves (engine/ops/elementwise.ts).
 */
import { gelu, geluTanh, quickGelu, relu, silu } from '../engine/ops/elementwise.js';
import type { Tensor } from '../engine/tensor.js';

export type Activation = (x: Tensor) => Tensor;

// HF's ACT2FN names. "gelu" is the exact erf form (torch.nn.GELU()); the tanh variants are separate names.
const ACTIVATIONS: Readonly<Record<string, Activation>> = {
  gelu,
  quick_gelu: quickGelu,
  gelu_new: geluTanh,
  gelu_pytorch_tanh: geluTanh,
  silu,
  swish: silu,
  relu,
};

/** The activation called `name` in a config; `what` names the config field for the error. */
export function activation(name: string, what: string): Activation {
  const f = ACTIVATIONS[name];
  if (!f) throw new Error(`${what}: unsupported activation "${name}" (supported: ${Object.keys(ACTIVATIONS).join(', ')})`);
  return f;
}
