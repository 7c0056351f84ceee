/**
 * Hugging Face chat templates (Jinja, rendered with @huggingface/jinja) as segments: read from a model
 * folder's `chat_template.json` / `chat_template.jinja` (processor templates, llava-hf) or the
 * `chat_template` of `tokenizer_config.json` (a string, or a list of named templates: "default" is used).
 *
 * Trainable spans: a template's `{% generation %}…{% endgeneration %}` blocks when it has them; otherwise each
 * assistant message's text plus an end-of-sequence token written right after it. Both are found by rendering
 * with private-use marker characters around the spans and removing them afterwards.
 *
 * Message content is passed the way the template expects it: templates that look at `content` items'
 * `type` (llava-hf's) get `[{type: "image"}…, {type: "text", text}]` with one image item per `<image>`
 * placeholder; others get the string with its placeholders.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Template } from '@huggingface/jinja';
import { readTokenizerConfig } from '../load.js';
import type { ChatMessage } from './conversation.js';
import { pushText, type RenderedChat, type Segment } from './segments.js';

const OPEN = '\ue000';
const CLOSE = '\ue001';

/** The chat template a folder ships, or undefined. */
export function readChatTemplate(dir: string): string | undefined {
  const json = path.join(dir, 'chat_template.json');
  if (existsSync(json)) {
    let v: { chat_template?: unknown };
    try {
      v = JSON.parse(readFileSync(json, 'utf8')) as { chat_template?: unknown };
    } catch (e) {
      throw new Error(`${json}: not valid JSON (${(e as Error).message})`);
    }
    if (typeof v.chat_template === 'string') return v.chat_template;
  }
  const jinja = path.join(dir, 'chat_template.jinja');
  if (existsSync(jinja)) return readFileSync(jinja, 'utf8');
  const cfg = readTokenizerConfig(dir);
  const t = cfg?.chat_template;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const named = t.find((e) => e && typeof e === 'object' && (e as { name?: unknown }).name === 'default') as { template?: unknown } | undefined;
    if (named && typeof named.template === 'string') return named.template;
  }
  return undefined;
}

export interface HfRenderOptions {
  addGenerationPrompt: boolean;
  bosToken?: string;
  eosToken?: string;
  unkToken?: string;
  padToken?: string | null;
}

function usesContentItems(source: string): boolean {
  return /\[\s*['"]type['"]\s*\]|\.type\b|selectattr\(\s*['"]type['"]/.test(source);
}

function toContent(text: string, items: boolean, assistant: boolean, mark: boolean): unknown {
  const wrap = (s: string) => (mark && assistant ? OPEN + s + CLOSE : s);
  if (!items) return wrap(text);
  const parts = text.split('<image>');
  const images = parts.length - 1;
  const rest = parts.join('').replace(/^\n/, '');
  const list: unknown[] = Array.from({ length: images }, () => ({ type: 'image' }));
  if (rest.length > 0 || images === 0) list.push({ type: 'text', text: wrap(rest) });
  return list;
}

/** Renders messages with a Jinja chat template into segments. */
export function renderHfTemplate(source: string, messages: readonly ChatMessage[], opts: HfRenderOptions): RenderedChat {
  const generation = /\{%-?\s*generation\s*-?%\}/.test(source);
  const prepared = source
    .replace(/\{%(-?)\s*generation\s*(-?)%\}/g, `{{$1 '${OPEN}' $2}}`)
    .replace(/\{%(-?)\s*endgeneration\s*(-?)%\}/g, `{{$1 '${CLOSE}' $2}}`);
  let template: Template;
  try {
    template = new Template(prepared);
  } catch (e) {
    throw new Error(`chat template does not parse: ${(e as Error).message}`);
  }
  const items = usesContentItems(source);
  const msgs = messages.filter((m) => m.content !== null).map((m) => ({
    role: m.role,
    content: toContent(m.content!, items, m.role === 'assistant', !generation),
  }));
  const bos = opts.bosToken ?? '<s>';
  const eos = opts.eosToken ?? '</s>';
  let rendered: string;
  try {
    rendered = template.render({
      messages: msgs, add_generation_prompt: opts.addGenerationPrompt, bos_token: bos, eos_token: eos,
      unk_token: opts.unkToken ?? '<unk>', pad_token: opts.padToken ?? null,
    });
  } catch (e) {
    throw new Error(`chat template failed to render: ${(e as Error).message}`);
  }
  const out: Segment[] = [];
  // BOS is added when encoding, as llava-hf's processor does; a template that writes it itself has it
  // removed here (the text "<s>" would also make tokenizer_image_token drop the first id of every chunk).
  if (rendered.startsWith(bos)) rendered = rendered.slice(bos.length);
  let i = 0;
  while (i < rendered.length) {
    const open = rendered.indexOf(OPEN, i);
    if (open < 0) {
      pushText(out, rendered.slice(i).replaceAll(CLOSE, ''), false);
      break;
    }
    pushText(out, rendered.slice(i, open).replaceAll(CLOSE, ''), false);
    let close = rendered.indexOf(CLOSE, open + 1);
    if (close < 0) close = rendered.length;
    let span = rendered.slice(open + 1, close).replaceAll(OPEN, '');
    i = close + 1;
    if (!generation && rendered.startsWith(eos, i)) {
      span += eos;
      i += eos.length;
    }
    pushText(out, span, true);
  }
  return { segments: out, addBos: true };
}
