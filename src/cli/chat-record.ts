/**
 * `/save` of `llava chat`: a conversation as one record of LLaVA's training-data format
 * (`{"id", "image", "conversations": [{"from": "human" | "gpt", "value"}]}`), written atomically.
 *
 * Choices: the first human turn carries `<image>\n` in front when the conversation is about an image (the
 * position LLaVA's loader normalizes to); `image` is the image's path relative to the folder of the saved
 * file, so that folder works as LLaVA's `--image_folder`, and is absent for a conversation without an image;
 * replies are stored as shown (special tokens skipped, stripped); `id` is a random UUID. The file holds one
 * record — LLaVA's data files are arrays of them.
 *
 * Not here: reading records back or continuing a saved conversation.
 */
import { randomUUID } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ChatTurn } from '../generate/chat.js';

export interface LlavaRecord {
  id: string;
  image?: string;
  conversations: { from: 'human' | 'gpt'; value: string }[];
}

/** The record of `turns` (alternating user/assistant, user first) about `image` (a file path, or none). */
export function chatRecord(turns: readonly ChatTurn[], image: string | null, file: string): LlavaRecord {
  const conversations = turns.map((t, i) => ({
    from: t.role === 'user' ? 'human' as const : 'gpt' as const,
    value: i === 0 && image !== null ? `<image>\n${t.content}` : t.content,
  }));
  if (image === null) return { id: randomUUID(), conversations };
  // Forward slashes: the record is read by Python on any system.
  const rel = path.relative(path.dirname(path.resolve(file)), path.resolve(image)).split(path.sep).join('/');
  return { id: randomUUID(), image: rel, conversations };
}

/** Write `text` to `file` through a temporary file in the same folder and a rename: never a half-written file. */
export async function writeFileAtomic(file: string, text: string): Promise<void> {
  const abs = path.resolve(file);
  const tmp = path.join(path.dirname(abs), `.${path.basename(abs)}.${process.pid}.tmp`);
  try {
    await writeFile(tmp, text);
    await rename(tmp, abs);
  } catch (e) {
    await rm(tmp, { force: true });
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`cannot write ${file}: ${code === 'ENOENT' ? 'no such folder' : code === 'EISDIR' ? 'it is a folder' : (e as Error).message}`);
  }
}
