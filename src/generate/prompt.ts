/**
 * Prompt ids for generation: a model folder's tokenizer (loaded once per folder), its chat template (an
 * explicit name, else the folder's chat template, else LLaVA's rule by model name), and the inference prompt
 * built from a user text or a message list with `<image>` placeholders — put before the first user text,
 * once per image, when the text does not place them (LLaVA's CLI convention). Also the stop strings a
 * template implies (LLaVA's CLI: `###` for v0 / single-separator templates, `<|im_end|>` for MPT ones).
 *
 * Not here: tokenization and template rendering themselves (src/tokenizer), images (images.ts).
 */
import { hasModelTokenizer, modelEmbeddedTemplate, modelTemplateName, modelTokenizer } from './model-assets.js';
import {
  buildInferencePrompt, encodeSegments, renderChat, segmentsToText, selectTemplate, withImagePlaceholders,
  type ChatMessage, type ChatTemplate, type LlamaTokenizer,
} from '../tokenizer/index.js';

const TOKENIZER_FILES = ['tokenizer.model', 'tokenizer.json'];

/** Whether model folder `dir` has a tokenizer (files, or the one a GGUF model stores). */
export function hasTokenizer(dir: string): boolean {
  return hasModelTokenizer(dir);
}

const tokenizers = new Map<string, LlamaTokenizer>();

/** The folder's tokenizer (cached per folder), or null when it has none. */
export function folderTokenizer(dir: string): LlamaTokenizer | null {
  let t = tokenizers.get(dir);
  if (!t) {
    const loaded = modelTokenizer(dir);
    if (!loaded) return null;
    tokenizers.set(dir, (t = loaded));
  }
  return t;
}

/** The folder's tokenizer, or an error saying how to do without one. */
export function requireTokenizer(dir: string, alternative: string): LlamaTokenizer {
  const tok = folderTokenizer(dir);
  if (!tok) throw new Error(`${dir} has no tokenizer (${TOKENIZER_FILES.join(' or ')}); ${alternative}`);
  return tok;
}

export interface PromptInput {
  /** One user turn. Exactly one of prompt and messages. */
  prompt?: string;
  /** A conversation; an open assistant turn is added unless the last message is one. */
  messages?: readonly ChatMessage[];
  /** Replaces the template's system prompt. */
  system?: string;
  /** Template name (`hf` = the folder's Jinja template). */
  template?: string;
  /** Number of images (placeholders are added when the text has none). */
  images: number;
}

export interface BuiltPrompt {
  ids: number[];
  /** The prompt string (images as `<image>`). */
  text: string;
  /** Stop strings implied by the template. */
  stop: string[];
}

/** Stop strings LLaVA's CLI uses for a template (EOS handles the others). */
export function templateStops(t: ChatTemplate): string[] {
  if (t.kind !== 'llava') return [];
  const { style, sep } = t.template;
  return (style === 'single' || style === 'mpt') && sep ? [sep] : [];
}

/** The prompt ids (−200 per image) for a model folder. */
export function buildPrompt(dir: string, input: PromptInput, noTokenizerHint = 'give the prompt as input ids'): BuiltPrompt {
  if ((input.prompt === undefined) === (input.messages === undefined)) throw new Error('give exactly one of prompt and messages');
  const tok = requireTokenizer(dir, noTokenizerHint);
  const template = selectTemplate({ name: input.template, modelDir: dir, modelName: modelTemplateName(dir), embedded: modelEmbeddedTemplate(dir) });
  let rendered;
  if (input.prompt !== undefined) {
    rendered = buildInferencePrompt(template, { user: input.prompt, images: input.images, system: input.system }, tok);
  } else {
    const msgs = [...input.messages!];
    if (msgs.length === 0) throw new Error('messages must not be empty');
    if (input.system !== undefined) {
      if (msgs[0]!.role === 'system') throw new Error('give the system prompt either as system or as a system message, not both');
      msgs.unshift({ role: 'system', content: input.system });
    }
    const placed = msgs.some((m) => m.content?.includes('<image>'));
    const first = msgs.findIndex((m) => m.role === 'user');
    if (!placed && input.images > 0) {
      if (first < 0) throw new Error('messages: images need a user message');
      msgs[first] = { role: 'user', content: withImagePlaceholders(msgs[first]!.content ?? '', input.images) };
    }
    if (msgs[msgs.length - 1]!.content !== null) msgs.push({ role: 'assistant', content: null });
    rendered = renderChat(template, msgs, { addGenerationPrompt: true, tokenizer: tok });
  }
  const { ids } = encodeSegments(tok, rendered);
  const text = segmentsToText(rendered.segments);
  return { ids, text, stop: templateStops(template) };
}
