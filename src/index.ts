/**
 * llava-ts public entry: the tensor engine with its backends registered, and generation (loadModel, generate).
 */
import './backends/index.js';

export * from './engine/index.js';
export { setNativeIsa, nativeIsa, effectiveNativeIsa, fastNativeIsas, type IsaLevel } from './backends/native/addon.js';

// Generation: models loaded in a worker thread, streamed replies, sampling. (Imported from the client
// module directly: the tokenizer, image decoding and the model code load in the worker only.)
export { generate, generateBatch, loadModel, Model, type LoadModelOptions } from './generate/client.js';
export type { BatchSummary } from './generate/batch.js';
export type { WeightQuant } from './models/llama/quant.js';
export { ChatSession, type RemoteChatOptions as ChatSessionOptions } from './generate/chat-client.js';
export type { ChatNotice, ChatPiece, SendOptions, TurnStats } from './generate/chat.js';
export type { ChatTurn } from './generate/chat-prompt.js';
export type { GenerationSummary } from './generate/core.js';
export {
  DEFAULTS as GENERATION_DEFAULTS, type BatchOptions, type BatchPiece, type BatchRequest, type FinishReason, type GenerateOptions, type ImageInput, type Piece,
  type PrefillProgress,
} from './generate/options.js';
export type { ModelInfo } from './generate/protocol.js';
export type { SamplingOptions } from './generate/sampling.js';

// Text and images. The tokenizer is light; image preprocessing brings sharp, so it loads on first use.
export { LlamaTokenizer as Tokenizer, loadTokenizer, type LoadTokenizerOptions } from './tokenizer/index.js';
export type { PreprocessOptions, PreprocessResult } from './vision/preprocess.js';

/** The image exactly as the model sees it (see src/vision/preprocess.ts); sharp loads on the first call. */
export async function preprocessImage(
  ...args: Parameters<typeof import('./vision/preprocess.js').preprocessImage>
): ReturnType<typeof import('./vision/preprocess.js').preprocessImage> {
  return (await import('./vision/preprocess.js')).preprocessImage(...args);
}
