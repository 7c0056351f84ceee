/**
 * `loadTokenizer(path)`: a LLaMA tokenizer from a model folder, a SentencePiece `tokenizer.model`, or a Hugging
 * Face `tokenizer.json`, with the settings transformers would read next to it: `tokenizer_config.json`
 * (`legacy`, add_bos/eos, special tokens, `added_tokens_decoder`), `special_tokens_map.json` (overrides the
 * special tokens) and the older `added_tokens.json`. A folder holding both files is loaded from
 * `tokenizer.model`, the file the slow tokenizer reads. Reading chat templates is templates/'s business.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseAddedToken, parseTokenizerJson, type AddedTokenSpec } from './hf-json.js';
import { LlamaTokenizer, type LlamaTokenizerOptions } from './llama.js';
import { parseSentencePieceModel } from './protobuf.js';
import { SentencePieceModel } from './sentencepiece.js';

export interface LoadTokenizerOptions {
  /** Overrides `legacy` from tokenizer_config.json. */
  legacy?: boolean;
}

type Json = Record<string, unknown>;

function readJson(file: string): Json | undefined {
  if (!existsSync(file)) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${file}: expected a JSON object`);
  return v as Json;
}

/** A special token written as a string or as an AddedToken object (`{"content": ...}`). */
function tokenText(v: unknown): string | null | undefined {
  if (v === null) return null;
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as Json).content === 'string') return (v as Json).content as string;
  return undefined;
}

/** tokenizer_config.json of a folder (undefined when absent); exported for the chat-template reader. */
export function readTokenizerConfig(dir: string): Json | undefined {
  return readJson(path.join(dir, 'tokenizer_config.json'));
}

/** Settings transformers reads from the files next to the tokenizer. */
function folderOptions(dir: string, jsonAdded: AddedTokenSpec[]): LlamaTokenizerOptions {
  const cfg = readTokenizerConfig(dir) ?? {};
  const map = readJson(path.join(dir, 'special_tokens_map.json')) ?? {};
  const opts: LlamaTokenizerOptions = {};
  if (typeof cfg.legacy === 'boolean') opts.legacy = cfg.legacy;
  if (typeof cfg.add_bos_token === 'boolean') opts.addBosToken = cfg.add_bos_token;
  if (typeof cfg.add_eos_token === 'boolean') opts.addEosToken = cfg.add_eos_token;
  for (const src of [cfg, map]) {
    const bos = tokenText(src.bos_token);
    const eos = tokenText(src.eos_token);
    const unk = tokenText(src.unk_token);
    const pad = tokenText(src.pad_token);
    if (typeof bos === 'string') opts.bosToken = bos;
    if (typeof eos === 'string') opts.eosToken = eos;
    if (typeof unk === 'string') opts.unkToken = unk;
    if (pad !== undefined) opts.padToken = pad;
    if (Array.isArray(src.additional_special_tokens)) {
      opts.additionalSpecialTokens = src.additional_special_tokens.map(tokenText).filter((t): t is string => typeof t === 'string');
    }
  }
  const added = new Map<string, AddedTokenSpec>();
  for (const t of jsonAdded) added.set(t.content, t);
  const decoder = cfg.added_tokens_decoder;
  if (decoder && typeof decoder === 'object') {
    for (const [id, v] of Object.entries(decoder as Json)) {
      const t = parseAddedToken(Number(id), v);
      if (!Number.isInteger(t.id)) throw new Error(`${path.join(dir, 'tokenizer_config.json')}: added token id '${id}' is not an integer`);
      added.set(t.content, t);
    }
  }
  const legacyAdded = readJson(path.join(dir, 'added_tokens.json'));
  for (const [content, id] of Object.entries(legacyAdded ?? {})) {
    if (added.has(content)) continue;
    if (!Number.isInteger(id)) throw new Error(`${path.join(dir, 'added_tokens.json')}: id of '${content}' is not an integer`);
    added.set(content, { id: id as number, content, special: false, lstrip: false, rstrip: false, singleWord: false });
  }
  opts.addedTokens = [...added.values()];
  return opts;
}

/** Loads a tokenizer from a model folder, a `tokenizer.model` or a `tokenizer.json`. */
export function loadTokenizer(pathOrDir: string, overrides: LoadTokenizerOptions = {}): LlamaTokenizer {
  if (!existsSync(pathOrDir)) throw new Error(`tokenizer path '${pathOrDir}' does not exist`);
  let dir: string;
  let file: string;
  if (statSync(pathOrDir).isDirectory()) {
    dir = pathOrDir;
    const model = path.join(dir, 'tokenizer.model');
    const json = path.join(dir, 'tokenizer.json');
    if (existsSync(model)) file = model;
    else if (existsSync(json)) file = json;
    else throw new Error(`'${dir}' has neither tokenizer.model nor tokenizer.json`);
  } else {
    file = pathOrDir;
    dir = path.dirname(file);
  }
  const bytes = readFileSync(file);
  let sp: SentencePieceModel;
  let jsonAdded: AddedTokenSpec[] = [];
  let unkFromJson: string | undefined;
  if (file.endsWith('.json') || bytes[0] === 0x7b /* '{' */) {
    const parsed = parseTokenizerJson(bytes.toString('utf8'), file);
    sp = new SentencePieceModel(parsed.spec);
    jsonAdded = parsed.addedTokens;
    unkFromJson = parsed.unkToken;
  } else {
    try {
      sp = new SentencePieceModel(parseSentencePieceModel(bytes));
    } catch (e) {
      throw new Error(`${file}: ${(e as Error).message.replace(/^tokenizer\.model: /, '')}`);
    }
  }
  const opts = folderOptions(dir, jsonAdded);
  if (opts.unkToken === undefined && unkFromJson !== undefined) opts.unkToken = unkFromJson;
  if (overrides.legacy !== undefined) opts.legacy = overrides.legacy;
  return new LlamaTokenizer(sp, opts);
}
