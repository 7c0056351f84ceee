/**
 * Image preprocessing for the vision tower: Pillow-equivalent decoding, the PIL-exact bicubic resize, CLIP
 * preprocessing with LLaVA's pad-to-square, and the options a model folder asks for.
 */
export { decodeImage, DEFAULT_MAX_PIXELS, type DecodeOptions, type RgbImage } from './decode.js';
export { encodePng, writePng } from './encode.js';
export { resizeBicubic, axisWeights, type AxisWeights } from './resample.js';
export { CLIP_MEAN, CLIP_STD, padColor, expandToSquare, shortestEdgeSize, centerCrop, resizeImage, toPixelValues, type NormalizeOptions } from './clip.js';
export { preprocessImage, preprocessRgb, type AspectMode, type PreprocessOptions, type PreprocessResult } from './preprocess.js';
export { preprocessOptionsFromModel, optionsFromProcessorConfig, type ModelPreprocessing, type ModelPreprocessingOptions } from './config.js';
