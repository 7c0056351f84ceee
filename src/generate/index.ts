/**
 * Generation: the worker-backed `loadModel` / `generate` API, the pure sampling functions, stop-string
 * handling, and the in-thread decoding loop they are built on.
 */
export { generate, generateBatch, loadModel, Model, type LoadModelOptions } from './client.js';
export { generateBatchTokens, type BatchSummary } from './batch.js';
export { ChatSession, type RemoteChatOptions } from './chat-client.js';
export type { ChatNotice, ChatPiece, SendOptions, TurnStats } from './chat.js';
export type { ChatTurn } from './chat-prompt.js';
export {
  abortError, generateTokens, newTokenBudget, prepareRequest, ReplyDecoder, type CoreHooks, type GenerationSummary, type PreparedRequest,
} from './core.js';
export { pixelValuesFor } from './images.js';
export { checkBatch, DEFAULTS, forRequest, type BatchOptions, type BatchPiece, type BatchRequest, type FinishReason, type GenerateOptions, type GenerateRequest, type ImageInput, type Piece, type PrefillProgress } from './options.js';
export { buildPrompt, folderTokenizer, hasTokenizer, templateStops, type BuiltPrompt, type PromptInput } from './prompt.js';
export type { ModelInfo } from './protocol.js';
export {
  applyRepetitionPenalty, applyTemperature, argmax, drawCategorical, minPFilter, sampleToken, softmax, topKFilter, topPFilter,
  validateSampling, warpLogits, type SamplingOptions,
} from './sampling.js';
export { StopFilter } from './stop.js';
