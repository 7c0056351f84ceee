/**
 * Builds a SentencePiece BPE description from a Hugging Face `tokenizer.json` (the fast-tokenizer file that
 * llava-hf and most LLaMA-family repositories ship), so that it is encoded with the same SentencePiece
 * semantics as a `tokenizer.model`.
 *
 * What the file does not carry is reconstructed from what it does: piece scores come from the merge list
 * (transformers' converter writes merges sorted by the merged piece's score, so a piece's first merge rank
 * orders it as its score did); piece types come from the added-token list (`special` → control, the unk
 * token → unknown, non-special added tokens inside the vocabulary → user-defined) and from the `<0xXX>`
 * spelling (bytes, when byte_fallback is set); the dummy prefix from the normalizer/pre-tokenizer.
 * Known limit: pieces whose scores were tied in the original model (LLaMA's whitespace runs) get distinct
 * ranks here, so a tie that SentencePiece broke leftmost is broken by rank instead; prefer tokenizer.model
 * when a folder has both (the loader does).
 *
 * Not a fast-tokenizer implementation: pre-tokenizers other than Metaspace, and non-BPE models, are rejected.
 */
import { DEFAULT_UNK_SURFACE, PieceType, type SentencePieceEntry, type SentencePieceSpec } from './protobuf.js';
import { SPACE } from './sentencepiece.js';

/** An added token as tokenizer.json / tokenizer_config.json describe it. */
export interface AddedTokenSpec {
  id: number;
  content: string;
  special: boolean;
  lstrip: boolean;
  rstrip: boolean;
  singleWord: boolean;
}

export interface HfTokenizerJson {
  spec: SentencePieceSpec;
  addedTokens: AddedTokenSpec[];
  unkToken: string;
}

type Json = Record<string, unknown>;

function obj(v: unknown): Json | undefined {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined;
}

/** Flattens Sequence normalizers/pre-tokenizers into a list of steps. */
function steps(v: unknown): Json[] {
  const o = obj(v);
  if (!o) return [];
  const inner = o.normalizers ?? o.pretokenizers;
  if (o.type === 'Sequence' && Array.isArray(inner)) return inner.flatMap(steps);
  return [o];
}

/** Reads added tokens in the tokenizer.json / added_tokens_decoder shape. */
export function parseAddedToken(id: number, v: unknown): AddedTokenSpec {
  const o = obj(v);
  if (typeof v === 'string') return { id, content: v, special: true, lstrip: false, rstrip: false, singleWord: false };
  if (!o || typeof o.content !== 'string') throw new Error(`added token ${id} has no content`);
  return {
    id, content: o.content, special: o.special === true, lstrip: o.lstrip === true, rstrip: o.rstrip === true,
    singleWord: o.single_word === true,
  };
}

export function parseTokenizerJson(text: string, file = 'tokenizer.json'): HfTokenizerJson {
  let root: Json | undefined;
  try {
    root = obj(JSON.parse(text));
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
  }
  const model = obj(root?.model);
  if (!root || !model) throw new Error(`${file}: no "model" object (not a Hugging Face tokenizer.json?)`);
  if (model.type !== 'BPE') throw new Error(`${file}: model type '${String(model.type)}' is not supported (only BPE)`);
  const vocab = obj(model.vocab);
  if (!vocab) throw new Error(`${file}: model.vocab is missing`);
  const merges = Array.isArray(model.merges) ? model.merges : [];
  const unkToken = typeof model.unk_token === 'string' ? model.unk_token : '<unk>';
  const byteFallback = model.byte_fallback === true;

  const size = Object.keys(vocab).length;
  const pieces: (SentencePieceEntry | undefined)[] = new Array(size);
  for (const [piece, idv] of Object.entries(vocab)) {
    const id = Number(idv);
    if (!Number.isInteger(id) || id < 0 || id >= size) throw new Error(`${file}: vocab id ${String(idv)} of '${piece}' is outside 0..${size - 1}`);
    if (pieces[id]) throw new Error(`${file}: vocab id ${id} is used by '${pieces[id]!.piece}' and '${piece}'`);
    const isByte = byteFallback && /^<0x[0-9A-F]{2}>$/.test(piece);
    pieces[id] = { piece, score: 0, type: isByte ? PieceType.BYTE : PieceType.NORMAL };
  }
  for (let i = 0; i < size; i++) if (!pieces[i]) throw new Error(`${file}: vocab has no token with id ${i}`);
  const entries = pieces as SentencePieceEntry[];

  // Scores: −(rank of the first merge producing the piece); pieces no merge produces rank after all merges,
  // in id order (they are single characters or pieces only reachable through other splits).
  const rank = new Map<string, number>();
  merges.forEach((m, r) => {
    const [a, b] = Array.isArray(m) ? (m as string[]) : String(m).split(' ');
    if (a === undefined || b === undefined) throw new Error(`${file}: merge ${r} is malformed`);
    const merged = a + b;
    if (!rank.has(merged)) rank.set(merged, r);
  });
  entries.forEach((e, id) => {
    if (e.type !== PieceType.NORMAL) return;
    const r = rank.get(e.piece);
    e.score = r !== undefined ? -r : -(merges.length + id);
  });

  const addedTokens: AddedTokenSpec[] = [];
  for (const a of Array.isArray(root.added_tokens) ? root.added_tokens : []) {
    const o = obj(a);
    const tok = parseAddedToken(Number(o?.id), a);
    addedTokens.push(tok);
    const e = entries[tok.id];
    if (e && e.piece === tok.content) {
      e.type = tok.content === unkToken ? PieceType.UNKNOWN : tok.special ? PieceType.CONTROL : PieceType.USER_DEFINED;
      e.score = 0;
    }
  }
  const unkId = vocab[unkToken];
  if (unkId !== undefined && entries[Number(unkId)]) entries[Number(unkId)]!.type = PieceType.UNKNOWN;

  // Dummy prefix and whitespace escaping: Prepend("▁") + Replace(" ", "▁") normalizers (current files) or a
  // Metaspace pre-tokenizer (older files).
  let addDummyPrefix = false;
  let escape = false;
  for (const s of steps(root.normalizer)) {
    if (s.type === 'Prepend' && s.prepend === SPACE) addDummyPrefix = true;
    else if (s.type === 'Replace' && obj(s.pattern)?.String === ' ' && s.content === SPACE) escape = true;
    else throw new Error(`${file}: normalizer '${String(s.type)}' is not supported by the SentencePiece loader`);
  }
  for (const s of steps(root.pre_tokenizer)) {
    if (s.type !== 'Metaspace') throw new Error(`${file}: pre-tokenizer '${String(s.type)}' is not supported by the SentencePiece loader`);
    escape = true;
    const scheme = s.prepend_scheme;
    if (s.add_prefix_space === true || scheme === 'always' || scheme === 'first') addDummyPrefix = true;
    if (s.split === true) throw new Error(`${file}: a Metaspace pre-tokenizer that splits on spaces is not SentencePiece BPE`);
  }
  if (!escape) throw new Error(`${file}: spaces are not escaped to '▁' (not a SentencePiece-style tokenizer)`);

  return {
    spec: {
      pieces: entries, modelType: 2, byteFallback, unkSurface: DEFAULT_UNK_SURFACE, treatWhitespaceAsSuffix: false,
      addDummyPrefix, removeExtraWhitespaces: false, escapeWhitespaces: true, normalizerName: 'identity', charsmapBytes: 0,
    },
    addedTokens,
    unkToken,
  };
}
