/**
 * The LLaMA tokenizer (SentencePiece BPE with the slow Hugging Face LlamaTokenizer semantics), its loaders,
 * the incremental detokenizer, LLaVA's tokenizer_image_token and the chat templates.
 */
export { DecodeStream, type DecodeOptions } from './decode.js';
export { parseTokenizerJson, type AddedTokenSpec } from './hf-json.js';
export { IGNORE_INDEX, IMAGE_PLACEHOLDER, IMAGE_TOKEN_INDEX, LlamaTokenizer, type EncodedWithOffsets, type LlamaTokenizerOptions } from './llama.js';
export { loadTokenizer, readTokenizerConfig, type LoadTokenizerOptions } from './load.js';
export { parseSentencePieceModel, PieceType, type SentencePieceSpec } from './protobuf.js';
export { SentencePieceModel, SPACE, type SpToken } from './sentencepiece.js';
export * from './templates/index.js';
export { tokenizerFromGguf, tokenizerToGguf, GgufTokenType, type GgufTokenizerData } from './gguf.js';
