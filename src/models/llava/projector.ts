/**
 * The multimodal projector (vision features → LLM embeddings) as a small registry of types:
 * `identity`, `linear` (one Linear) and `mlp{N}x_gelu` (N Linears with an activation between them; exact
 * erf GELU in the original code, `projector_hidden_act` in llava-hf). Weight names are relative to the
 * projector prefix; which published spelling a layer has (`0`/`2`/… in original checkpoints,
 * `linear_1`/`linear_2`/… in llava-hf) is decided by the key-layout map and passed in as `layerName`.
 *
 * Not here: Q-Former/resampler projectors (later issues), the key layouts (layouts.ts).
 */
import { linear } from '../../engine/ops/index.js';
import type { Tensor } from '../../engine/tensor.js';
import type { WeightSource } from '../../io/source.js';
import { activation, type Activation } from '../../nn/activations.js';
import { matrix, optionalVector } from '../../nn/params.js';

export interface ProjectorSpec {
  /** Canonical type name: "identity", "linear" or "mlp{N}x_gelu". */
  type: string;
  /** Linear layers (0 for identity). */
  layers: number;
  /** Activation between Linears (HF ACT2FN name). */
  act: string;
  bias: boolean;
}

/** Parse an original `mm_projector_type`. */
export function parseProjectorType(type: string, where: string): ProjectorSpec {
  if (type === 'identity') return { type, layers: 0, act: 'gelu', bias: true };
  if (type === 'linear') return { type, layers: 1, act: 'gelu', bias: true };
  const m = /^mlp(\d+)x_gelu$/.exec(type);
  if (m && Number(m[1]) >= 1) return { type, layers: Number(m[1]), act: 'gelu', bias: true };
  throw new Error(`${where}: unknown projector type "${type}" (supported: identity, linear, mlp{N}x_gelu)`);
}

/** Published name of Linear `i` (0-based) of `n` under the projector prefix. */
export type ProjectorLayerName = (i: number, n: number) => string;

export class Projector {
  private constructor(
    readonly spec: ProjectorSpec,
    private readonly linears: { w: Tensor; b: Tensor | null }[],
    private readonly act: Activation,
  ) {}

  /** Weights from `src` (positioned at the projector prefix) mapping inDim → outDim. */
  static load(src: WeightSource, spec: ProjectorSpec, inDim: number, outDim: number, layerName: ProjectorLayerName): Projector {
    if (spec.layers === 0 && inDim !== outDim) {
      throw new Error(`identity projector: vision feature width ${inDim} differs from the LLM hidden size ${outDim}`);
    }
    const linears = Array.from({ length: spec.layers }, (_, i) => {
      const name = layerName(i, spec.layers);
      const at = (leaf: string) => (name === '' ? leaf : `${name}.${leaf}`);
      return {
        w: matrix(src, at('weight'), [outDim, i === 0 ? inDim : outDim]),
        b: optionalVector(src, at('bias'), [outDim], spec.bias),
      };
    });
    return new Projector(spec, linears, activation(spec.act, 'projector activation'));
  }

  /** features [..., inDim] → [..., outDim]: Linear (→ act → Linear)*. */
  forward(features: Tensor): Tensor {
    let x = features;
    this.linears.forEach((l, i) => {
      if (i > 0) x = this.act(x);
      x = linear(x, l.w, l.b);
    });
    return x;
  }
}
