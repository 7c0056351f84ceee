/**
 * A chat session's prompt for its next turn: the conversation so far (complete user/assistant turns) plus
 * the new user message and an open assistant turn, rendered with the chat template and tokenized whole with
 * LLaVA's tokenizer_image_token — the way LLaVA's CLI rebuilds its prompt every turn. Assistant turns are
 * rendered from the text the reference keeps (`stored`), not from what was shown.
 *
 * Also the two things the KV-cache reuse and the context rule need: the sequence as per-position keys (a
 * text position is its token id, an image position a negative number unique to that image and feature
 * index, so equal keys mean equal inputs) and `fitConversation`, which drops the oldest complete turns after
 * the first until prompt + new tokens fit the context.
 *
 * Not here: the model, the cache and decoding (chat.ts).
 */
import { IMAGE_TOKEN_INDEX, buildInferencePrompt, encodeSegments, type ChatTemplate, type LlamaTokenizer } from '../tokenizer/index.js';

export interface ChatTurn {
  role: 'user' | 'assistant';
  /** The user's text, or the reply as shown (special tokens skipped, stripped). */
  content: string;
  /**
   * Assistant turns: the reply as the reference keeps it for later prompts (LLaVA's CLI stores
   * `tokenizer.decode(new_ids).strip()`: special tokens kept, so a reply ended by EOS keeps its `</s>`
   * before the template adds its own separator). Absent: `content` is used.
   */
  stored?: string;
}

export interface PromptSetup {
  template: ChatTemplate;
  tokenizer: LlamaTokenizer;
  /** Replaces the template's system prompt. */
  system?: string;
  /** Images the first user turn carries (0 or more, in order). */
  images: number;
  /** Feature vectors one image occupies in the sequence. */
  featuresPerImage: number;
}

export interface ChatPrompt {
  /** The prompt string (the image as `<image>`). */
  text: string;
  /** Token ids, −200 for the image. */
  ids: number[];
  /** Positions in the decoder sequence (the image expanded to its features). */
  positions: number;
}

/** Renders `turns` (alternating user/assistant, complete) + `user` + an open assistant turn. */
export function renderPrompt(s: PromptSetup, turns: readonly ChatTurn[], user: string): ChatPrompt {
  const history: { user: string; assistant: string }[] = [];
  for (let i = 0; i < turns.length; i += 2) {
    const u = turns[i];
    const a = turns[i + 1];
    if (u?.role !== 'user' || a?.role !== 'assistant') {
      throw new Error(`chat history: turn ${u?.role === 'user' ? i + 1 : i} should be ${u?.role === 'user' ? 'an assistant' : 'a user'} turn (turns alternate, user first, and end with a reply)`);
    }
    history.push({ user: u.content, assistant: a.stored ?? a.content });
  }
  const rendered = buildInferencePrompt(s.template, { user, images: s.images, system: s.system, history }, s.tokenizer);
  const { ids } = encodeSegments(s.tokenizer, rendered);
  const images = ids.filter((id) => id === IMAGE_TOKEN_INDEX).length;
  if (images !== s.images) {
    throw new Error(s.images > 0
      ? `the prompt places ${images} image(s) but the session has ${s.images}: only the first message places them (one <image> each, or none to put them first)`
      : 'a message contains <image> but the session has no image (give one with the image option or setImage)');
  }
  return { text: rendered.prompt, ids, positions: ids.length + images * (s.featuresPerImage - 1) };
}

/**
 * One key per decoder position: text ids as they are, image k as `featuresPerImage` negative keys derived
 * from `imageKeys[k]`, a number the session gives each image it encodes (never reused for another).
 */
export function positionKeys(ids: readonly number[], imageKeys: readonly number[], featuresPerImage: number): number[] {
  const out: number[] = [];
  let k = 0;
  for (const id of ids) {
    if (id !== IMAGE_TOKEN_INDEX) {
      out.push(id);
      continue;
    }
    const key = imageKeys[k++];
    if (key === undefined) throw new Error(`position keys: the ids place more images than the ${imageKeys.length} given`);
    for (let j = 0; j < featuresPerImage; j++) out.push(-1 - (key * featuresPerImage + j));
  }
  return out;
}

/** Length of the common prefix of `a` and `b`. */
export function commonPrefix(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/**
 * How the session's messages name the caller's options: the API's names by default; a command line passes its
 * flags (`--max-new-tokens`) so that its users read the names they typed.
 */
export interface OptionNames {
  maxNewTokens: string;
}

export const API_OPTION_NAMES: Readonly<OptionNames> = { maxNewTokens: 'maxNewTokens' };

export interface FittedConversation {
  /** The conversation to keep (oldest turns after the first dropped as needed). */
  turns: ChatTurn[];
  prompt: ChatPrompt;
  /** User/assistant turn pairs dropped. */
  dropped: number;
  /** New tokens allowed (smaller than asked only when `flexible` and nothing else could be dropped). */
  maxNewTokens: number;
}

/**
 * The prompt for `user` after `turns` within `context` positions: while prompt + maxNewTokens exceeds it,
 * the oldest complete turn after the first (the one with the image) is dropped. When only the first turn is
 * left and it still does not fit: a `flexible` maxNewTokens (a default, not the caller's) shrinks to what is
 * left, otherwise a clear error names the sizes (and the option as `names` spells it).
 */
export function fitConversation(
  s: PromptSetup, turns: readonly ChatTurn[], user: string, maxNewTokens: number, context: number, flexible: boolean,
  names: Readonly<OptionNames> = API_OPTION_NAMES,
): FittedConversation {
  let kept = turns.slice();
  let dropped = 0;
  for (;;) {
    const prompt = renderPrompt(s, kept, user);
    if (prompt.positions + maxNewTokens <= context) return { turns: kept, prompt, dropped, maxNewTokens };
    if (kept.length > 2) {
      kept = [kept[0]!, kept[1]!, ...kept.slice(4)];
      dropped++;
      continue;
    }
    if (flexible && prompt.positions < context) return { turns: kept, prompt, dropped, maxNewTokens: context - prompt.positions };
    const what = kept.length === 0 ? 'the first message' : 'the first turn and the new message';
    const image = s.images > 0 ? ` (${s.images * s.featuresPerImage} of them for ${s.images === 1 ? 'the image' : `the ${s.images} images`})` : '';
    throw new Error(`the conversation does not fit the model's context of ${context} positions: ${what} alone take ${prompt.positions} positions${image}, ` +
      `plus ${maxNewTokens} new tokens; shorten the message${kept.length > 0 ? ' or start a new conversation' : ''} or lower ${names.maxNewTokens}`);
  }
}
