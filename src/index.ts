/**
 * llava-ts public entry: the tensor engine with its backends registered.
 */
import './backends/index.js';

export * from './engine/index.js';
export { setNativeIsa, nativeIsa, type IsaLevel } from './backends/native/addon.js';
