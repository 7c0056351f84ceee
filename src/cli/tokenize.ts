/**
 * `llava tokenize`: prints the token ids of a text as one JSON array, tokenized like the reference (slow
 * LlamaTokenizer semantics; `--image-token` applies LLaVA's tokenizer_image_token, −200 per `<image>`).
 */
import { loadTokenizer } from '../tokenizer/index.js';

export interface TokenizeOptions {
  tokenizer?: string;
  legacy?: boolean;
  /** false with --no-bos. */
  bos?: boolean;
  imageToken?: boolean;
  text: string[];
}

export async function tokenize(opts: TokenizeOptions): Promise<void> {
  if (!opts.tokenizer) throw new Error('tokenize needs --tokenizer PATH (tokenizer.json, tokenizer.model or a model folder)');
  if (opts.text.length !== 1) {
    throw new Error(opts.text.length === 0
      ? 'tokenize needs the TEXT to tokenize (put it after -- if it starts with a dash)'
      : `tokenize takes one TEXT argument, got ${opts.text.length} (quote the text)`);
  }
  const tok = loadTokenizer(opts.tokenizer, opts.legacy === undefined ? {} : { legacy: opts.legacy });
  const addBos = opts.bos === false ? false : undefined;
  const text = opts.text[0]!;
  const ids = opts.imageToken ? tok.tokenizerImageToken(text, { addBos }) : tok.encode(text, { addBos });
  process.stdout.write(JSON.stringify(ids) + '\n');
}
