/**
 * The tensor engine: tensors, dtypes, autograd, ops and backend dispatch. Backends register themselves
 * (src/backends); importing the package entry does that.
 */
export * from './dtype.js';
export * from './half.js';
export * from './quant.js';
export * from './shape.js';
export * from './random.js';
export { Tensor, type GradNode } from './tensor.js';
export { noGrad, isGradEnabled, backward, opRegistry, defineOp, type OpDef, type OpContext } from './autograd.js';
export * from './backend.js';
export { fileMappingAvailable, isFileMapped, mapFile, releaseMappedPages, setFileMapper, type FileMapper, type MappedFile } from './file-map.js';
export type * from './kernels.js';
export { KERNEL_NAMES } from './kernels.js';
export * from './ops/index.js';
