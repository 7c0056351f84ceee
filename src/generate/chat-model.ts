/**
 * What a chat session needs from a loaded model folder (`ChatModel`): the assembled LLaVA model, the
 * folder's tokenizer, its EOS ids and the image preprocessing it asks for; `loadChatModel(dir)` builds one.
 * Also the one place a session turns its images (paths, buffers or decoded RGB) into projected features.
 *
 * `ChatModel` is deliberately structural: any loaded-model object with these fields (such as the public
 * `loadModel` result) can be handed to a ChatSession.
 *
 * Not here: the conversation, prompts and decoding (chat.ts, chat-prompt.ts).
 */
import { noGrad } from '../engine/index.js';
import type { Tensor } from '../engine/tensor.js';
import { loadLlava, type LoadedLlava, type LoadOptions } from '../models/llava/load.js';
import type { LlavaModel } from '../models/llava/model.js';
import type { LlamaTokenizer } from '../tokenizer/index.js';
import { modelPreprocessing, modelTokenizer } from './model-assets.js';
import type { AspectMode, PreprocessOptions } from '../vision/preprocess.js';
import { preprocessImages } from './images.js';
import type { ImageInput } from './options.js';

export interface ChatModel {
  /** Vision tower, projector and decoder. */
  model: LlavaModel;
  tokenizer: LlamaTokenizer;
  /** Ids that end a reply (generation_config.json's eos_token_id, else the text config's). */
  eosTokenIds: readonly number[];
  /** The model folder: chat-template selection (the folder's template, else LLaVA's rule on its name). */
  dir?: string;
  /** How images are preprocessed for this model; required to chat about an image. */
  preprocess?: PreprocessOptions;
}

export type { ImageInput };

export interface LoadChatModelOptions extends LoadOptions {
  /** Force LLaVA's pad-to-square or plain CLIP cropping instead of what the folder's configs say. */
  imageMode?: AspectMode;
}

/** Model, tokenizer and preprocessing of the folder `dir`. */
export function loadChatModel(dir: string, opts: LoadChatModelOptions = {}): ChatModel {
  return chatModelFrom(loadLlava(dir, opts), opts.imageMode);
}

/** The chat view of an already loaded folder (the worker holds a LoadedLlava). */
export function chatModelFrom(loaded: LoadedLlava, imageMode?: AspectMode): ChatModel {
  const dir = loaded.dir;
  const prep = modelPreprocessing(loaded, imageMode);
  const tokenizer = modelTokenizer(dir);
  if (!tokenizer) throw new Error(`${dir} has no tokenizer (tokenizer.model, tokenizer.json or one stored in its GGUF file); a chat needs one`);
  return { model: loaded.model, tokenizer, eosTokenIds: loaded.eosTokenIds, dir, preprocess: prep.options };
}

/** Preprocess `images` and run the vision tower and projector once over all of them: features [M, N, hidden]. */
export async function encodeImages(m: ChatModel, images: readonly ImageInput[]): Promise<Tensor> {
  const prep = m.preprocess;
  if (!prep) throw new Error('this model has no image preprocessing settings (ChatModel.preprocess): it cannot take an image');
  if (images.length === 0) throw new Error('encodeImages: no image given');
  const pixels = await preprocessImages(images, prep, m.model.config.vision); // (M, C, S, S)
  return noGrad(() => m.model.imageFeatures(pixels).projected); // (M, N, D)
}
