/**
 * Choosing a chat template for a model and building the inference prompt (`llava run --prompt`).
 *
 * Selection order: an explicit name (`--template`; "hf" means the folder's own Jinja template), else the
 * folder's chat template, else LLaVA's CLI rule on the model name (llava/serve/cli.py): `llama-2` →
 * llava_llama_2, `mistral` → mistral_instruct, `v1.6-34b` → chatml_direct, `v1` → llava_v1, `mpt` → mpt,
 * else llava_v0. One addition to that rule: llava-hf's names (`llava-1.5-…`, `llava-1.6-…`) contain no "v1"
 * yet are LLaVA-1.5/1.6 models, so they also select llava_v1.
 */
import path from 'node:path';
import type { LlamaTokenizer } from '../llama.js';
import { getTemplate, renderConversation, TEMPLATE_NAMES, type ChatMessage, type ConversationTemplate } from './conversation.js';
import { readChatTemplate, renderHfTemplate } from './hf.js';
import { segmentsToText, type RenderedChat } from './segments.js';

export type ChatTemplate =
  | { kind: 'llava'; name: string; template: ConversationTemplate }
  | { kind: 'hf'; name: 'hf'; source: string };

/** The model name LLaVA derives from a path: its last component, or `parent_checkpoint-N`. */
export function modelNameFromPath(p: string): string {
  const parts = p.replace(/[\\/]+$/, '').split(/[\\/]/);
  const last = parts[parts.length - 1] ?? '';
  return last.startsWith('checkpoint-') && parts.length > 1 ? `${parts[parts.length - 2]}_${last}` : last;
}

/** LLaVA's conversation-mode rule by model name (see the file header for the one addition). */
export function templateNameForModel(modelName: string): string {
  const n = modelName.toLowerCase();
  if (n.includes('llama-2')) return 'llava_llama_2';
  if (n.includes('mistral')) return 'mistral_instruct';
  if (n.includes('v1.6-34b')) return 'chatml_direct';
  if (n.includes('v1') || /llava-1\.[56]/.test(n)) return 'llava_v1';
  if (n.includes('mpt')) return 'mpt';
  return 'llava_v0';
}

function named(name: string, modelDir?: string, embedded?: string): ChatTemplate {
  if (name === 'hf') {
    const source = (modelDir ? readChatTemplate(modelDir) : undefined) ?? embedded;
    if (source === undefined) throw new Error(`template 'hf' needs a model with a chat template (its folder's, or a GGUF's tokenizer.chat_template)${modelDir ? ` ('${modelDir}' has none)` : ''}`);
    return { kind: 'hf', name: 'hf', source };
  }
  const template = getTemplate(name);
  if (!template) throw new Error(`unknown template '${name}' (known: ${[...TEMPLATE_NAMES, 'hf'].join(', ')})`);
  return { kind: 'llava', name: template.name, template };
}

/**
 * The template for a model: explicit name, else the folder's chat template, else one embedded in the model
 * file (a GGUF's `tokenizer.chat_template`), else the name rule. "hf" also accepts the embedded one.
 */
export function selectTemplate(opts: { name?: string; modelDir?: string; modelName?: string; embedded?: string }): ChatTemplate {
  if (opts.name) return named(opts.name, opts.modelDir, opts.embedded);
  const source = (opts.modelDir ? readChatTemplate(opts.modelDir) : undefined) ?? opts.embedded;
  if (source !== undefined) return { kind: 'hf', name: 'hf', source };
  const modelName = opts.modelName ?? (opts.modelDir ? modelNameFromPath(path.resolve(opts.modelDir)) : '');
  return named(templateNameForModel(modelName));
}

/** Renders messages with either kind of template. */
export function renderChat(
  t: ChatTemplate, messages: readonly ChatMessage[], opts: { addGenerationPrompt?: boolean; tokenizer?: LlamaTokenizer } = {},
): RenderedChat {
  if (t.kind === 'llava') return renderConversation(t.template, messages);
  const tok = opts.tokenizer;
  const open = messages.length > 0 && messages[messages.length - 1]!.content === null;
  return renderHfTemplate(t.source, messages, {
    addGenerationPrompt: opts.addGenerationPrompt ?? open,
    bosToken: tok?.bosToken, eosToken: tok?.eosToken, unkToken: tok?.unkToken, padToken: tok?.padToken,
  });
}

/**
 * A user text without `<image>` gets `<image>\n` prepended once per image (LLaVA's CLI/eval convention);
 * with `imStartEnd` (configs with mm_use_im_start_end) each is `<im_start><image><im_end>\n`.
 */
export function withImagePlaceholders(text: string, images: number, imStartEnd = false): string {
  if (images <= 0 || text.includes('<image>')) return text;
  return (imStartEnd ? '<im_start><image><im_end>\n' : '<image>\n').repeat(images) + text;
}

export interface InferencePromptInput {
  /** The user's text; `<image>` marks where images go, else they are put first. */
  user: string;
  images: number;
  /** Replaces the template's system prompt. */
  system?: string;
  /** Earlier turns (text only; images belong to the first user turn). */
  history?: { user: string; assistant: string }[];
  /** Wrap each image in `<im_start>`/`<im_end>` (model config mm_use_im_start_end). */
  imStartEnd?: boolean;
}

/**
 * System + user turn with its images + an open assistant turn, as LLaVA's CLI builds it. `prompt` is the
 * string to give `tokenizerImageToken`; `segments`/`addBos` feed `encodeSegments`.
 */
export function buildInferencePrompt(t: ChatTemplate, input: InferencePromptInput, tokenizer?: LlamaTokenizer): RenderedChat & { prompt: string } {
  const messages: ChatMessage[] = [];
  if (input.system !== undefined) messages.push({ role: 'system', content: input.system });
  const turns = input.history ?? [];
  turns.forEach((h, k) => {
    messages.push({ role: 'user', content: k === 0 ? withImagePlaceholders(h.user, input.images, input.imStartEnd) : h.user });
    messages.push({ role: 'assistant', content: h.assistant });
  });
  messages.push({ role: 'user', content: turns.length === 0 ? withImagePlaceholders(input.user, input.images, input.imStartEnd) : input.user });
  messages.push({ role: 'assistant', content: null });
  const rendered = renderChat(t, messages, { addGenerationPrompt: true, tokenizer });
  return { ...rendered, prompt: segmentsToText(rendered.segments) };
}
