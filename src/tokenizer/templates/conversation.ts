/**
 * LLaVA's conversation templates (llava/conversation.py): the registry of named templates and their
 * `get_prompt()` rendering, producing segments instead of one string so that training labels fall out of the
 * same rendering. The text is exactly get_prompt()'s; the trained parts are each assistant reply together with
 * the separator that ends it (`</s>` for vicuna/llava v1), starting at the space that follows the role —
 * what LLaVA's preprocess_* functions supervise.
 *
 * Not here: the web UI's tuple messages and `mmtag` image turns, and the v0 example turns of `conv_vicuna_v0`
 * (`default`/`v0`), which no released checkpoint needs for inference.
 */
import { pushText, type RenderedChat, type Segment } from './segments.js';

export type SepStyle = 'single' | 'two' | 'mpt' | 'llama_2' | 'plain';

export interface ConversationTemplate {
  name: string;
  system: string;
  roles: [string, string];
  style: SepStyle;
  sep: string;
  sep2: string | null;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  /** Text with `<image>` placeholders; null for the open assistant turn of an inference prompt. */
  content: string | null;
}

const HUMAN_SYSTEM = 'A chat between a curious human and an artificial intelligence assistant. '
  + "The assistant gives helpful, detailed, and polite answers to the human's questions.";
const USER_SYSTEM = 'A chat between a curious user and an artificial intelligence assistant. '
  + "The assistant gives helpful, detailed, and polite answers to the user's questions.";

const TEMPLATES: ConversationTemplate[] = [
  { name: 'vicuna_v1', system: USER_SYSTEM, roles: ['USER', 'ASSISTANT'], style: 'two', sep: ' ', sep2: '</s>' },
  { name: 'llava_v1', system: HUMAN_SYSTEM, roles: ['USER', 'ASSISTANT'], style: 'two', sep: ' ', sep2: '</s>' },
  { name: 'llava_v0', system: HUMAN_SYSTEM, roles: ['Human', 'Assistant'], style: 'single', sep: '###', sep2: null },
  { name: 'plain', system: '', roles: ['', ''], style: 'plain', sep: '\n', sep2: null },
  {
    name: 'llava_llama_2',
    system: 'You are a helpful language and vision assistant. You are able to understand the visual content that the user '
      + 'provides, and assist the user with a variety of tasks using natural language.',
    roles: ['USER', 'ASSISTANT'], style: 'llama_2', sep: '<s>', sep2: '</s>',
  },
  { name: 'mistral_instruct', system: '', roles: ['USER', 'ASSISTANT'], style: 'llama_2', sep: '', sep2: '</s>' },
  {
    name: 'chatml_direct', system: '<|im_start|>system\nAnswer the questions.',
    roles: ['<|im_start|>user\n', '<|im_start|>assistant\n'], style: 'mpt', sep: '<|im_end|>', sep2: null,
  },
  {
    name: 'mpt',
    system: '<|im_start|>system\nA conversation between a user and an LLM-based AI assistant. The assistant gives helpful and honest answers.',
    roles: ['<|im_start|>user\n', '<|im_start|>assistant\n'], style: 'mpt', sep: '<|im_end|>', sep2: null,
  },
];

/** LLaVA's other keys for the same templates. */
const ALIASES: Record<string, string> = { v1: 'vicuna_v1', v0_plain: 'plain', mistral_direct: 'chatml_direct' };

export const TEMPLATE_NAMES: readonly string[] = [...TEMPLATES.map((t) => t.name), ...Object.keys(ALIASES)];

export function getTemplate(name: string): ConversationTemplate | undefined {
  const key = ALIASES[name] ?? name;
  return TEMPLATES.find((t) => t.name === key);
}

/** Python's str.lstrip(chars): strips any of the characters, not the string. */
function lstripChars(s: string, chars: string): string {
  let i = 0;
  while (i < s.length && chars.includes(s[i]!)) i++;
  return s.slice(i);
}

/**
 * Renders alternating user/assistant messages (a leading `system` message replaces the template's system
 * prompt) as get_prompt() would, with assistant replies marked trainable.
 */
export function renderConversation(t: ConversationTemplate, messages: readonly ChatMessage[]): RenderedChat {
  let system = t.system;
  let msgs = messages;
  if (msgs[0]?.role === 'system') {
    system = msgs[0].content ?? '';
    msgs = msgs.slice(1);
  }
  msgs.forEach((m, i) => {
    const want = i % 2 === 0 ? 'user' : 'assistant';
    if (m.role !== want) throw new Error(`template ${t.name}: message ${i} is '${m.role}', expected '${want}' (turns must alternate, starting with the user)`);
    if (m.content === null && (want === 'user' || i !== msgs.length - 1)) {
      throw new Error(`template ${t.name}: only the last (assistant) message may be open`);
    }
  });
  const out: Segment[] = [];
  const text = (s: string) => pushText(out, s, false);
  const train = (s: string) => pushText(out, s, true);
  switch (t.style) {
    case 'single':
    case 'two': {
      const seps = [t.sep, t.style === 'two' ? t.sep2! : t.sep];
      text(system + seps[0]);
      msgs.forEach((m, i) => {
        const role = t.roles[i % 2]!;
        if (!m.content) text(role + ':');
        else if (i % 2 === 0) text(role + ': ' + m.content + seps[0]);
        else {
          text(role + ':');
          train(' ' + m.content + seps[1]);
        }
      });
      break;
    }
    case 'mpt':
      text(system + t.sep);
      msgs.forEach((m, i) => {
        const role = t.roles[i % 2]!;
        if (!m.content) text(role);
        else if (i % 2 === 0) text(role + m.content + t.sep);
        else {
          text(role);
          train(m.content + t.sep);
        }
      });
      break;
    case 'llama_2': {
      const parts: Segment[] = [];
      msgs.forEach((m, i) => {
        if (!m.content) return;
        let msg = m.content;
        if (i === 0 && system.length > 0) msg = `<<SYS>>\n${system}\n<</SYS>>\n\n` + msg;
        if (i % 2 === 0) pushText(parts, t.sep + `[INST] ${msg} [/INST]`, false);
        else pushText(parts, ' ' + msg + ' ' + t.sep2!, true);
      });
      // get_prompt() ends with ret.lstrip(sep): only the opening characters of the first segment can go.
      const first = parts[0];
      if (first && 'text' in first) first.text = lstripChars(first.text, t.sep);
      for (const p of parts) if ('image' in p) out.push(p); else pushText(out, p.text, p.train);
      break;
    }
    case 'plain': {
      // Inference renders get_prompt(): user text + sep. A conversation with a reply is rendered as
      // preprocess_plain trains it: the user turn reduced to its image placeholders, then reply + sep.
      const training = msgs.some((m, i) => i % 2 === 1 && m.content);
      text(system);
      msgs.forEach((m, i) => {
        if (!m.content) return;
        if (i % 2 === 1) train(m.content + t.sep);
        else if (training) text('<image>'.repeat(m.content.split('<image>').length - 1));
        else text(m.content + t.sep);
      });
      break;
    }
  }
  return { segments: out, addBos: true };
}
