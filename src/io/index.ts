/**
 * Checkpoint I/O: WeightSources over safetensors and torch .bin files (single or sharded), the safetensors
 * writer, and opening a checkpoint folder. Format internals (zip, pickle, header validation) stay private
 * to this folder.
 */
export * from './source.js';
export { FileWeightSource, readShardIndex, type TensorFile, type ShardIndex } from './file-source.js';
export { SafetensorsFile, openSafetensors, mmapWanted, type OpenOptions } from './safetensors.js';
export { readSafetensorsHeader, type SafetensorsHeader, type SafetensorsEntry } from './safetensors-header.js';
export { writeSafetensors, type PlannedTensor, type TensorsToWrite, type WriteOptions, type WriteResult } from './safetensors-writer.js';
export { TorchBinFile, openTorchBin } from './torch-bin.js';
export { CHECKPOINT_FILES, findCheckpointFile, openCheckpoint, openWeights } from './checkpoint.js';
export * from './gguf-format.js';
export { GgufFile, GgufSource, openGguf, readGgufHeader, type GgufHeader, type GgufTensorEntry } from './gguf-reader.js';
export { writeGguf, ggufHeaderBytes, type GgufTensorPlan, type GgufWriteOptions } from './gguf-writer.js';
