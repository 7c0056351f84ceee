/**
 * Chat templates: LLaVA's conversation registry, Hugging Face Jinja templates, selection for a model, and
 * encoding of rendered segments into ids and training labels.
 */
export { getTemplate, renderConversation, TEMPLATE_NAMES, type ChatMessage, type ConversationTemplate, type SepStyle } from './conversation.js';
export { readChatTemplate, renderHfTemplate, type HfRenderOptions } from './hf.js';
export { countImages, encodeSegments, pushText, segmentsToText, type EncodedChat, type RenderedChat, type Segment } from './segments.js';
export {
  buildInferencePrompt, modelNameFromPath, renderChat, selectTemplate, templateNameForModel, withImagePlaceholders,
  type ChatTemplate, type InferencePromptInput,
} from './select.js';
