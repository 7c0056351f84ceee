/**
 * The text side of `llava run`: prompt → ids with the folder's tokenizer and chat template (`--template`,
 * else the folder's chat template, else LLaVA's rule by model name; `<image>\n` put before a prompt that
 * does not place its images), and new ids → reply text (special tokens skipped, trimmed). A folder without
 * tokenizer files has no text side: prompts are refused (use --input-ids) and the reply text is null.
 *
 * Not here: tokenization itself and the templates (src/tokenizer).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { buildInferencePrompt, encodeSegments, loadTokenizer, selectTemplate, type LlamaTokenizer } from '../tokenizer/index.js';

const TOKENIZER_FILES = ['tokenizer.model', 'tokenizer.json'];

/** Whether model folder `dir` has a tokenizer. */
export function hasTokenizer(dir: string): boolean {
  return TOKENIZER_FILES.some((f) => existsSync(path.join(dir, f)));
}

const cache = new Map<string, LlamaTokenizer>();

function tokenizer(dir: string): LlamaTokenizer | null {
  if (!hasTokenizer(dir)) return null;
  let t = cache.get(dir);
  if (!t) cache.set(dir, (t = loadTokenizer(dir)));
  return t;
}

/** Ids of the inference prompt for `prompt` with `images` images (−200 marks each image). */
export function promptIds(dir: string, prompt: string, template: string | undefined, images: number): number[] {
  const tok = tokenizer(dir);
  if (!tok) throw new Error(`${dir} has no tokenizer (${TOKENIZER_FILES.join(' or ')}); give the prompt as --input-ids`);
  const chat = buildInferencePrompt(selectTemplate({ name: template, modelDir: dir }), { user: prompt, images }, tok);
  return encodeSegments(tok, chat).ids;
}

/** The decoded reply (special tokens skipped, trimmed), or null without a tokenizer. */
export function replyText(dir: string, ids: readonly number[]): string | null {
  const tok = tokenizer(dir);
  return tok ? tok.decode(ids, { skipSpecialTokens: true }).trim() : null;
}
