/**
 * The LLaMA tokenizer as GGUF stores it (the `tokenizer.ggml.*` keys llama.cpp's converter writes for a
 * SentencePiece model), in both directions, as plain data: the GGUF keys themselves are written and read
 * by models/llava/gguf-text.ts (this layer does not know files).
 *
 * Written the way the converter does it: one entry per embedding row; ids below the SentencePiece size get
 * their piece, score and type (user-defined pieces count as normal, as the converter reads them); ids past
 * it are `[PAD{id}]`, score −10000, type unused; added tokens (tokenizer_config's `added_tokens_decoder`,
 * llava-hf's `<image>`/`<pad>`, and the special tokens) replace their entry with score −1000 and type
 * control when special (or shaped like `<|…|>`/`<pad>`), else user-defined (`▁` written as a space).
 *
 * Read back: the SentencePiece model is the entries up to the last one that is neither such an added token
 * nor a `[PAD{id}]` filler, with the unknown id's entry typed unknown again (the converter marks `<unk>`
 * control when the config lists it); control and user-defined entries past the model, or marked −1000,
 * become added tokens. Encoding then equals the tokenizer.model's. What GGUF does not carry — the Hugging
 * Face `legacy` flag, lstrip/rstrip of added tokens — comes from the caller.
 *
 * Not here: the GGUF file format (io/), choosing legacy from a model folder (models/llava/gguf-load.ts).
 */
import type { AddedTokenSpec } from './hf-json.js';
import { LlamaTokenizer } from './llama.js';
import { DEFAULT_UNK_SURFACE, PieceType, type SentencePieceEntry } from './protobuf.js';
import { SentencePieceModel, SPACE } from './sentencepiece.js';

/** llama.cpp token types (the same numbering as SentencePiece piece types). */
export const GgufTokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

const ADDED_SCORE = -1000;
const PAD_SCORE = -10000;

export interface GgufTokenizerData {
  tokens: string[];
  scores: number[];
  tokenTypes: number[];
  bosId: number | null;
  eosId: number | null;
  unkId: number | null;
  padId: number | null;
  addBos: boolean | null;
  addEos: boolean | null;
  /** SentencePiece add_dummy_prefix (`tokenizer.ggml.add_space_prefix`). */
  addSpacePrefix: boolean | null;
  removeExtraWhitespaces: boolean | null;
}

function looksSpecial(t: string): boolean {
  return ['<pad>', '<mask>', '<2mass>', '[@BOS@]'].includes(t) || (t.startsWith('<|') && t.endsWith('|>'));
}

/** The GGUF vocabulary of `tok` for an embedding of `vocabSize` rows. */
export function tokenizerToGguf(tok: LlamaTokenizer, vocabSize: number): GgufTokenizerData {
  const sp = tok.sp;
  if (vocabSize < sp.size) throw new Error(`GGUF vocabulary: the embedding has ${vocabSize} rows but the SentencePiece model has ${sp.size} pieces`);
  const tokens: string[] = [];
  const scores: number[] = [];
  const tokenTypes: number[] = [];
  for (let i = 0; i < vocabSize; i++) {
    if (i < sp.size) {
      const type = sp.type(i);
      tokens.push(sp.idToPiece(i));
      scores.push(sp.score(i));
      tokenTypes.push(type === PieceType.USER_DEFINED ? GgufTokenType.NORMAL : type);
    } else {
      tokens.push(`[PAD${i}]`);
      scores.push(PAD_SCORE);
      tokenTypes.push(GgufTokenType.UNUSED);
    }
  }
  for (const t of tok.addedTokens) {
    if (t.id >= vocabSize) throw new Error(`GGUF vocabulary: added token ${JSON.stringify(t.content)} has id ${t.id}, outside the ${vocabSize}-row embedding`);
    const control = t.special || looksSpecial(t.content);
    tokens[t.id] = control ? t.content : t.content.split(SPACE).join(' ');
    scores[t.id] = ADDED_SCORE;
    tokenTypes[t.id] = control ? GgufTokenType.CONTROL : GgufTokenType.USER_DEFINED;
  }
  return {
    tokens, scores, tokenTypes,
    bosId: tok.bosId, eosId: tok.eosId, unkId: tok.unkId, padId: tok.padId,
    addBos: tok.addBosToken, addEos: tok.addEosToken,
    addSpacePrefix: sp.spec.addDummyPrefix, removeExtraWhitespaces: sp.spec.removeExtraWhitespaces,
  };
}

function isAddedEntry(d: GgufTokenizerData, i: number): boolean {
  const type = d.tokenTypes[i];
  return d.scores[i] === ADDED_SCORE && (type === GgufTokenType.CONTROL || type === GgufTokenType.USER_DEFINED);
}

function isPadEntry(d: GgufTokenizerData, i: number): boolean {
  return d.tokenTypes[i] === GgufTokenType.UNUSED && d.tokens[i] === `[PAD${i}]`;
}

/** A LlamaTokenizer from GGUF vocabulary data; `where` names the file in errors. */
export function tokenizerFromGguf(d: GgufTokenizerData, opts: { legacy?: boolean }, where: string): LlamaTokenizer {
  const n = d.tokens.length;
  if (d.scores.length !== n || d.tokenTypes.length !== n) {
    throw new Error(`${where}: tokenizer.ggml.tokens has ${n} entries but scores ${d.scores.length} and token_type ${d.tokenTypes.length}`);
  }
  const id = (v: number | null, key: string): number | null => {
    if (v !== null && !(Number.isInteger(v) && v >= 0 && v < n)) throw new Error(`${where}: ${key} ${v} is outside the ${n}-token vocabulary`);
    return v;
  };
  let unkId = id(d.unkId, 'tokenizer.ggml.unknown_token_id');
  if (unkId === null) {
    const found = d.tokenTypes.indexOf(GgufTokenType.UNKNOWN);
    if (found < 0) throw new Error(`${where}: the vocabulary has no unknown token (no tokenizer.ggml.unknown_token_id and no token of type unknown)`);
    unkId = found;
  }
  let spSize = 0;
  for (let i = n - 1; i >= 0; i--) {
    if (!isAddedEntry(d, i) && !isPadEntry(d, i)) {
      spSize = i + 1;
      break;
    }
  }
  if (unkId >= spSize) spSize = unkId + 1;
  const pieces: SentencePieceEntry[] = [];
  for (let i = 0; i < spSize; i++) {
    const t = d.tokenTypes[i]!;
    if (!(t >= 1 && t <= 6)) throw new Error(`${where}: tokenizer.ggml.token_type[${i}] is ${t}, not a token type (1..6)`);
    pieces.push({ piece: d.tokens[i]!, score: d.scores[i]!, type: (i === unkId ? PieceType.UNKNOWN : t) as PieceType });
  }
  const byteFallback = pieces.some((p) => p.type === PieceType.BYTE);
  const sp = new SentencePieceModel({
    pieces, modelType: 2, byteFallback, unkSurface: DEFAULT_UNK_SURFACE, treatWhitespaceAsSuffix: false,
    addDummyPrefix: d.addSpacePrefix ?? true, removeExtraWhitespaces: d.removeExtraWhitespaces ?? false, escapeWhitespaces: true,
    normalizerName: 'identity', charsmapBytes: 0,
  });
  const added: AddedTokenSpec[] = [];
  for (let i = 0; i < n; i++) {
    const t = d.tokenTypes[i];
    if ((t === GgufTokenType.CONTROL || t === GgufTokenType.USER_DEFINED) && (i >= spSize || d.scores[i] === ADDED_SCORE)) {
      added.push({ id: i, content: d.tokens[i]!, special: t === GgufTokenType.CONTROL, lstrip: false, rstrip: false, singleWord: false });
    }
  }
  const text = (v: number | null, key: string) => {
    const i = id(v, key);
    return i === null ? undefined : d.tokens[i];
  };
  const padId = id(d.padId, 'tokenizer.ggml.padding_token_id');
  return new LlamaTokenizer(sp, {
    legacy: opts.legacy,
    addBosToken: d.addBos ?? undefined,
    addEosToken: d.addEos ?? undefined,
    bosToken: text(d.bosId, 'tokenizer.ggml.bos_token_id'),
    eosToken: text(d.eosId, 'tokenizer.ggml.eos_token_id'),
    unkToken: d.tokens[unkId],
    padToken: padId === null ? null : d.tokens[padId],
    addedTokens: added,
  });
}
