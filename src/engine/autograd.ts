/**
 * Define-by-run reverse-mode autograd. An op is one `defineOp` definition holding its forward and its
 * backward side by side; calling the op records a GradNode on its output when grad mode is on and an input
 * needs a gradient. `backward()` walks the recorded graph once in reverse topological order, accumulates
 * gradients of tensors used several times, adds into `.grad` of leaves with `requiresGrad`, and releases
 * every saved tensor as it goes (a second backward through the same graph is an error, as in PyTorch
 * without retain_graph).
 *
 * Backward formulas are written with ops, so whichever backend is active computes them; they run with grad
 * mode off (no double backward).
 */
import type { DType } from './dtype.js';
import { fmtShape, shapesEqual } from './shape.js';
import { Tensor, type GradNode } from './tensor.js';

let gradOff = 0;

export function isGradEnabled(): boolean {
  return gradOff === 0;
}

/** Run `fn` without recording gradients (also for async functions: mode is restored when they settle). */
export function noGrad<T>(fn: () => T): T {
  gradOff++;
  let result: T;
  try {
    result = fn();
  } catch (e) {
    gradOff--;
    throw e;
  }
  if (result instanceof Promise) {
    return result.finally(() => { gradOff--; }) as T;
  }
  gradOff--;
  return result;
}

export interface OpContext {
  /** For each tensor input (in argument order, arrays flattened): does it need a gradient? */
  readonly needsGrad: readonly boolean[];
  /** True when a node will be recorded (save tensors only then). */
  readonly recording: boolean;
  saved: Tensor[];
  save(...ts: Tensor[]): void;
  /** Free-form values the forward keeps for backward (shapes, axes, …). */
  attrs: Record<string, unknown>;
}

export interface OpDef<A extends unknown[]> {
  readonly name: string;
  /** DTypes of the primary input this op accepts; the consistency table needs a row for each. */
  readonly dtypes: readonly DType[];
  /** Runs with grad mode off when `backward` exists (the op records one node for itself). */
  forward(ctx: OpContext, ...args: A): Tensor;
  /** Gradients for each tensor input (argument order, arrays flattened); null where none. */
  backward?(ctx: OpContext, grad: Tensor): (Tensor | null | undefined)[];
  /** Composite ops (no backward of their own) are differentiable through the ops they call. */
  readonly composite?: boolean;
  /** False for ops with no gradient (comparisons, argmax, factories). Default: true when backward exists. */
  readonly differentiable?: boolean;
}

export type AnyOpDef = OpDef<any[]>;
const registry = new Map<string, AnyOpDef>();

/** Every op defined so far (the consistency suite checks it has a row for each op × dtype). */
export function opRegistry(): ReadonlyMap<string, AnyOpDef> {
  return registry;
}

function collectTensors(args: readonly unknown[]): Tensor[] {
  const out: Tensor[] = [];
  for (const a of args) {
    if (a instanceof Tensor) out.push(a);
    else if (Array.isArray(a)) for (const x of a) if (x instanceof Tensor) out.push(x);
  }
  return out;
}

export function defineOp<A extends unknown[]>(def: OpDef<A>): (...args: A) => Tensor {
  if (registry.has(def.name)) throw new Error(`defineOp: op '${def.name}' defined twice`);
  registry.set(def.name, def as unknown as AnyOpDef);
  const hasBackward = typeof def.backward === 'function';
  return (...args: A): Tensor => {
    if (!hasBackward) {
      return def.forward({ needsGrad: [], recording: false, saved: [], save() {}, attrs: {} }, ...args);
    }
    const inputs = collectTensors(args);
    const needsGrad = inputs.map((t) => t.requiresGrad || t.node !== null);
    const recording = isGradEnabled() && needsGrad.some(Boolean);
    const ctx: OpContext = {
      needsGrad,
      recording,
      saved: [],
      save(...ts: Tensor[]) { if (recording) this.saved.push(...ts); },
      attrs: {},
    };
    gradOff++;
    let out: Tensor;
    try {
      out = def.forward(ctx, ...args);
    } finally {
      gradOff--;
    }
    if (recording) {
      // Views return new Tensor objects over shared storage, so attaching the node never touches an input.
      const node: GradNode = {
        op: def.name,
        inputs: inputs.map((t, i) => (needsGrad[i] ? t : null)),
        saved: ctx.saved,
        backward: (g: Tensor) => def.backward!(ctx, g).map((x) => x ?? null),
      };
      out.node = node;
    }
    return out;
  };
}

interface GradHelpers {
  add(a: Tensor, b: Tensor): Tensor;
  /** A private contiguous copy (stored as `.grad`, which optimizers update in place). */
  clone(a: Tensor): Tensor;
  onesLike(a: Tensor): Tensor;
}
let helpers: GradHelpers | null = null;
/** Called once by the ops module: autograd needs add/clone but must not import ops (they import it). */
export function setGradHelpers(h: GradHelpers): void {
  helpers = h;
}

/** Reverse-mode pass from `root` (a scalar unless `grad` is given). */
export function backward(root: Tensor, grad?: Tensor): void {
  const h = helpers;
  if (!h) throw new Error('backward: engine ops are not loaded');
  if (!root.node && !root.requiresGrad) {
    throw new Error(`backward: ${root} does not require grad (no parameter with requiresGrad led to it, or it was computed under noGrad)`);
  }
  if (!grad) {
    if (root.numel !== 1) throw new Error(`backward: gradient must be given for non-scalar output of shape ${fmtShape(root.shape)}`);
    grad = h.onesLike(root);
  } else if (!shapesEqual(grad.shape, root.shape)) {
    throw new Error(`backward: gradient shape ${fmtShape(grad.shape)} does not match output shape ${fmtShape(root.shape)}`);
  }

  // Topological order by iterative DFS (deep graphs must not overflow the stack).
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const [t, i] = top;
    const inputs = t.node?.inputs ?? [];
    if (i < inputs.length) {
      top[1]++;
      const c = inputs[i];
      if (c && !seen.has(c)) {
        seen.add(c);
        stack.push([c, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }

  const grads = new Map<Tensor, Tensor>([[root, grad]]);
  gradOff++;
  try {
    for (let k = order.length - 1; k >= 0; k--) {
      const t = order[k]!;
      const g = grads.get(t);
      grads.delete(t);
      if (!g) continue;
      const node = t.node;
      if (!node) {
        if (t.requiresGrad) t.grad = t.grad ? h.add(t.grad, g) : h.clone(g);
        continue;
      }
      if (!node.backward) {
        throw new Error(`backward: the graph through '${node.op}' was already released (backward called twice on the same graph?)`);
      }
      const inGrads = node.backward(g);
      const inputs = node.inputs;
      for (let i = 0; i < inputs.length; i++) {
        const x = inputs[i];
        const gx = inGrads[i];
        if (!x || !gx) continue;
        if (!shapesEqual(gx.shape, x.shape)) {
          throw new Error(`backward of '${node.op}': gradient ${fmtShape(gx.shape)} for input ${i} of shape ${fmtShape(x.shape)}`);
        }
        const prev = grads.get(x);
        grads.set(x, prev ? h.add(prev, gx) : gx);
      }
      // Release: saved activations and the closure go now; the node keeps only its name.
      node.backward = null;
      node.saved.length = 0;
      node.inputs = [];
    }
  } finally {
    gradOff--;
  }
}

declare module './tensor.js' {
  interface Tensor {
    /** Reverse-mode autograd from this tensor (see autograd.ts). */
    backward(grad?: Tensor): void;
  }
}
Tensor.prototype.backward = function (this: Tensor, grad?: Tensor) {
  backward(this, grad);
};
