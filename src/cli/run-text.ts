/**
 * The text side of `llava run`: prompt → ids with the folder's tokenizer and a chat template, and new
 * ids → reply text (special tokens skipped, trimmed). A folder without tokenizer files has no text side:
 * prompts are refused (use --input-ids) and the reply text is null.
 *
 * Not here: tokenization itself (src/tokenizer), templates (src/tokenizer/templates).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';

const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer.model'];

interface Folder {
  dir: string;
}

/** The tokenizer file of a model folder, or null. */
export function tokenizerFile(dir: string): string | null {
  for (const f of TOKENIZER_FILES) if (existsSync(path.join(dir, f))) return path.join(dir, f);
  return null;
}

export async function promptIds(m: Folder, _prompt: string, _template: string | undefined, _images: number): Promise<number[]> {
  const file = tokenizerFile(m.dir);
  if (!file) throw new Error(`${m.dir} has no tokenizer (${TOKENIZER_FILES.join(' or ')}); give the prompt as --input-ids`);
  throw new Error(`--prompt is not available yet in this build; give the prompt as --input-ids`);
}

export async function replyText(m: Folder, _ids: readonly number[]): Promise<string | null> {
  if (!tokenizerFile(m.dir)) return null;
  return null;
}
