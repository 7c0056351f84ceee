/**
 * The text side of `llava run`: prompt → ids with the folder's tokenizer and chat template (`--template`,
 * else the folder's chat template, else LLaVA's rule by model name; `<image>\n` put before a prompt that
 * does not place its images), and new ids → reply text (special tokens skipped, trimmed). A folder without
 * tokenizer files has no text side: prompts are refused (use --input-ids) and the reply text is null.
 *
 * Not here: prompt building itself (src/generate/prompt.ts, shared with generate()), tokenization and the
 * templates (src/tokenizer).
 */
import { buildPrompt, folderTokenizer } from '../generate/prompt.js';

/** Ids of the inference prompt for `prompt` with `images` images (−200 marks each image). */
export function promptIds(dir: string, prompt: string, template: string | undefined, images: number): number[] {
  return buildPrompt(dir, { prompt, template, images }, 'give the prompt as --input-ids').ids;
}

/** The decoded reply (special tokens skipped, trimmed), or null without a tokenizer. */
export function replyText(dir: string, ids: readonly number[]): string | null {
  const tok = folderTokenizer(dir);
  return tok ? tok.decode(ids, { skipSpecialTokens: true }).trim() : null;
}
