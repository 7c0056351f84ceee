/**
 * ChatSession: a multi-turn conversation about an image (or several, or none), with the KV cache kept across
 * turns.
 *
 * Every turn is handled as LLaVA's CLI does it: the whole conversation is re-rendered with the chat
 * template — earlier replies as the reference stores them (decoded with special tokens, stripped; see
 * ChatTurn.stored) — and tokenized whole. The session then compares the new sequence with the one its
 * cache holds, position by position, keeps the longest common prefix and runs the decoder over the rest
 * only, so a turn costs its new text, not the whole history. The cache holds the reply's ids as generated:
 * it serves the next turn through the reply exactly as far as they are what the re-rendered text tokenizes
 * to (a model may produce other ids for the same text: those positions are recomputed). The images belong to the first user turn, in
 * order (as LLaVA's CLI puts its image there); they are preprocessed and encoded (tower + projector) once;
 * `setImage` on a non-empty conversation starts a new one, and what precedes the first image in the prompt
 * is still reused from the cache.
 *
 * Context: when prompt + maxNewTokens exceed the decoder's positions, the oldest complete turns after the
 * first (image) turn are dropped from the conversation, with a notice; if the first turn alone does not fit,
 * `send` throws an error naming the sizes (and maxNewTokens as `optionNames` spells it: a CLI gives its flag).
 * `imageMode` forces pad-to-square or plain cropping of the images over what the model folder says.
 *
 * Decoding is greedy unless sampling options (as generate() takes them) or a `nextToken` step are given;
 * replies stream as `{ text, tokenId }` pieces, stopping at EOS and at the template's stop string (held back,
 * never shown). An AbortSignal — or leaving the `for await` loop, or a new send — ends a reply between two
 * tokens (during the prefill: after the decoder layer in progress); the part already produced stays in the
 * conversation (a reply without any token leaves no trace), and the cache stays consistent with it.
 *
 * Not here: sampling processors; running off the main thread (chat-serve.ts in the model's worker, the
 * public handle chat-client.ts).
 */
import { noGrad, tensor } from '../engine/index.js';
import { narrow } from '../engine/ops/index.js';
import type { Tensor } from '../engine/tensor.js';
import { LlamaForCausalLM } from '../models/llama/model.js';
import type { KVCache } from '../nn/kv-cache.js';
import { selectTemplate, type ChatTemplate } from '../tokenizer/index.js';
import type { AspectMode } from '../vision/preprocess.js';
import { encodeImages, type ChatModel, type ImageInput } from './chat-model.js';
import {
  API_OPTION_NAMES, commonPrefix, fitConversation, positionKeys, renderPrompt, type ChatPrompt, type ChatTurn, type OptionNames, type PromptSetup,
} from './chat-prompt.js';
import { pyStrip, ReplyText } from './chat-text.js';
import { templateStops } from './prompt.js';
import { lastRow } from './core.js';
import { modelEmbeddedTemplate, modelTemplateName } from './model-assets.js';
import { DEFAULTS, type PrefillProgress } from './options.js';
import { Rng, sampleToken, validateSampling, type SamplingOptions } from './sampling.js';

export { loadChatModel, type ChatModel, type ImageInput, type LoadChatModelOptions } from './chat-model.js';
export type { ChatTurn, OptionNames } from './chat-prompt.js';

/** Chooses the next token from the last position's logits [1, 1, V]; `generated` holds this reply's ids so far. */
export type NextToken = (logits: Tensor, generated: readonly number[]) => number;

/** torch.argmax's choice (lowest id on ties). */
export const greedyNextToken: NextToken = (logits) => LlamaForCausalLM.argmaxLast(logits)[0]!;

/** The reference CLI's default reply length. */
export const DEFAULT_MAX_NEW_TOKENS = 512;

export interface ChatNotice {
  kind: 'context-overflow';
  /** One sentence for the user. */
  message: string;
  /** User/assistant turn pairs removed from the conversation. */
  droppedTurns: number;
}

export interface ChatSessionOptions {
  /** The image (or images, in order) of the first message. */
  image?: ImageInput | readonly ImageInput[] | null;
  /** Template name (LLaVA's conversation names, or "hf" for the folder's Jinja template); default: chosen for the model. */
  template?: string;
  /** Replaces the template's system prompt. */
  system?: string;
  /** Earlier turns to continue from (alternating, user first, ending with a reply). */
  history?: readonly ChatTurn[];
  /** KV cache storage (default f32). */
  kvCache?: 'f32' | 'f16';
  /** Called when the conversation had to be shortened to fit the context. */
  onNotice?: (notice: ChatNotice) => void;
  /** Force LLaVA's pad-to-square or plain CLIP cropping of the images instead of what the model folder says. */
  imageMode?: AspectMode;
  /** How error messages name the options (default the API's: `maxNewTokens`); a CLI gives its flags. */
  optionNames?: Partial<OptionNames>;
}

/**
 * A NextToken that samples as generate() does (HF processor order, top-k 50 unless given), seeded; the
 * repetition penalty sees this reply's ids.
 */
export function samplingNextToken(o: SamplingOptions & { seed?: number }): NextToken {
  validateSampling(o);
  if (o.seed !== undefined && !Number.isInteger(o.seed)) throw new Error(`seed must be an integer, got ${JSON.stringify(o.seed)}`);
  const rng = new Rng(o.seed ?? crypto.getRandomValues(new Uint32Array(1))[0]!);
  const opts = { ...o, temperature: o.temperature ?? DEFAULTS.temperature, topK: o.topK ?? DEFAULTS.topK };
  return (logits, generated) => sampleToken(lastRow(logits), opts, rng, generated);
}

/** The token choice `opts` ask for: sampling when any sampling option (or a seed) is given, else greedy. */
export function tokenChooser(opts: SamplingOptions & { seed?: number }): NextToken {
  const sampled = [opts.temperature, opts.topK, opts.topP, opts.minP, opts.repetitionPenalty, opts.seed].some((v) => v !== undefined);
  return sampled ? samplingNextToken(opts) : greedyNextToken;
}

/** Sampling options as generate() takes them; without any of them a reply is greedy. */
export interface SendOptions extends SamplingOptions {
  /** Seed of the sampling draws (default: random). */
  seed?: number;
  /** Default 512 (shrunk to what the context leaves when only the first turn remains). */
  maxNewTokens?: number;
  /** Stop strings besides the template's. */
  stop?: readonly string[];
  signal?: AbortSignal;
  /** Replaces the token choice (greedy, or sampling when sampling options are given). */
  nextToken?: NextToken;
  /** Called after every decoder layer of the prefill (the image was encoded by setImage). */
  onPrefillProgress?: (p: PrefillProgress) => void;
}

export interface ChatPiece {
  text: string;
  tokenId: number;
}

export type StopReason = 'eos' | 'stop' | 'length' | 'abort';

/** What the last turn did (for display and for checking the cache reuse). */
export interface TurnStats {
  prompt: string;
  promptIds: number[];
  /** Decoder positions of the prompt (images expanded). */
  promptPositions: number;
  /** Of these, taken from the cache … */
  reusedPositions: number;
  /** … and computed in this turn's prefill. */
  prefilledPositions: number;
  droppedTurns: number;
  maxNewTokens: number;
  /** Generated ids, the EOS included when one ended the reply. */
  tokenIds: number[];
  stopReason: StopReason;
  prefillMs: number;
  decodeMs: number;
}

/** A reply in progress; the session finishes it when it ends, is interrupted or superseded. */
interface Turn {
  user: string;
  reply: ReplyText;
  generated: number[];
  eos: boolean;
  stats: Omit<TurnStats, 'tokenIds' | 'stopReason' | 'decodeMs'>;
  stopReason: StopReason;
  decodeStart: number;
  done: boolean;
}

/** Thrown from the prefill's layer callback when the signal was aborted; caught by send. */
const PREFILL_ABORTED = new Error('chat prefill aborted');

const nextMacrotask = () => new Promise<void>((resolve) => setImmediate(resolve));

export class ChatSession {
  private readonly template: ChatTemplate;
  private readonly system: string | undefined;
  private readonly kvDtype: 'f32' | 'f16';
  private readonly onNotice: ((n: ChatNotice) => void) | undefined;
  private readonly names: OptionNames;
  /** The model as the images see it (the preprocessing's mode overridden by the imageMode option). */
  private readonly imageModel: ChatModel;
  private turns: ChatTurn[] = [];
  private images: ImageInput[] = [];
  /** Changes with every setImage; each image gets a key of its own for the cache comparison. */
  private imageSerial = 0;
  private imageKeys: number[] = [];
  private nextImageKey = 0;
  private features: Promise<Tensor> | null = null;
  private cache: KVCache | null = null;
  private cachedKeys: number[] = [];
  private active: Turn | null = null;
  /** Counts send() calls: a send still waiting for its image gives way to a later one. */
  private sends = 0;
  private last: TurnStats | null = null;

  constructor(readonly model: ChatModel, opts: ChatSessionOptions = {}) {
    this.template = selectTemplate({
      name: opts.template, modelDir: model.dir,
      modelName: model.dir ? modelTemplateName(model.dir) : undefined, embedded: model.dir ? modelEmbeddedTemplate(model.dir) : undefined,
    });
    this.system = opts.system;
    this.kvDtype = opts.kvCache ?? 'f32';
    if (this.kvDtype !== 'f32' && this.kvDtype !== 'f16') throw new Error(`ChatSession: kvCache must be f32 or f16, got ${String(opts.kvCache)}`);
    this.onNotice = opts.onNotice;
    this.names = { ...API_OPTION_NAMES, ...opts.optionNames };
    const mode = opts.imageMode;
    if (mode !== undefined && mode !== 'pad' && mode !== 'crop') throw new Error(`ChatSession: imageMode must be 'pad' or 'crop', got ${JSON.stringify(mode)}`);
    this.imageModel = mode === undefined || !model.preprocess ? model : { ...model, preprocess: { ...model.preprocess, mode } };
    if (opts.image != null) void this.setImage(opts.image);
    if (opts.history) {
      this.turns = opts.history.map((t) => ({ ...t }));
      if (this.turns.length % 2 !== 0) throw new Error('ChatSession: history must end with an assistant turn (user/assistant pairs)');
      renderPrompt(this.setup(), this.turns, ''); // a malformed history fails here, not at the first send
    }
  }

  /** The conversation so far (copies). */
  get history(): ChatTurn[] {
    return this.turns.map((t) => ({ ...t }));
  }

  /** Statistics of the last finished turn, or null. */
  get lastTurn(): TurnStats | null {
    return this.last;
  }

  /** The decoder's context: max_position_embeddings, or the original LLaVA's truncation length when smaller. */
  get contextLength(): number {
    const c = this.model.model.config;
    return Math.min(c.text.maxPositions, c.maxSequenceLength ?? Infinity);
  }

  /**
   * Use `image` (or several, in order; null: none) from now on. On a non-empty conversation this starts a
   * new one. The images are preprocessed and encoded right away; the promise reports failures (so does the
   * next `send`).
   */
  setImage(image: ImageInput | readonly ImageInput[] | null): Promise<void> {
    this.interrupt();
    this.turns = [];
    this.images = image === null ? [] : Array.isArray(image) ? [...(image as readonly ImageInput[])] : [image as ImageInput];
    this.imageSerial++;
    this.imageKeys = this.images.map(() => this.nextImageKey++);
    this.features = this.images.length === 0 ? null : encodeImages(this.imageModel, this.images);
    const done = this.features ? this.features.then(() => undefined) : Promise.resolve();
    done.catch(() => {}); // reported to whoever awaits it, or by the next send
    return done;
  }

  /** Forget the conversation (the images stay). */
  reset(): void {
    this.interrupt();
    this.turns = [];
  }

  /** Stream the reply to `text`. */
  async *send(text: string, opts: SendOptions = {}): AsyncGenerator<ChatPiece, void, undefined> {
    if (typeof text !== 'string') throw new Error(`ChatSession.send: the message must be a string, got ${typeof text}`);
    const maxNew = opts.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS;
    if (!Number.isInteger(maxNew) || maxNew < 1) throw new Error(`ChatSession.send: ${this.names.maxNewTokens} must be a positive integer, got ${opts.maxNewTokens}`);
    const nextToken = opts.nextToken ?? tokenChooser(opts);
    if (opts.stop !== undefined && (!Array.isArray(opts.stop) || opts.stop.some((x) => typeof x !== 'string'))) {
      throw new Error('ChatSession.send: stop must be an array of strings');
    }
    this.interrupt();
    const mine = ++this.sends;
    const serial = this.imageSerial;
    const features = this.features ? await this.features : null;
    if (mine !== this.sends || serial !== this.imageSerial) return; // superseded while the image was encoding
    if (opts.signal?.aborted) return;

    const setup = this.setup();
    const fit = fitConversation(setup, this.turns, text, maxNew, this.contextLength, opts.maxNewTokens === undefined, this.names);
    if (fit.dropped > 0) {
      this.turns = fit.turns;
      this.onNotice?.({
        kind: 'context-overflow', droppedTurns: fit.dropped,
        message: `the conversation reached the model's context of ${this.contextLength} positions: the ${fit.dropped} oldest turn(s) after the first were dropped`,
      });
    }
    const stops = [...templateStops(this.template), ...(opts.stop ?? [])]; // one rule with generate()
    const turn: Turn = {
      user: text, reply: new ReplyText(this.model.tokenizer, stops), generated: [], eos: false, stopReason: 'length',
      stats: { prompt: fit.prompt.text, promptIds: fit.prompt.ids, promptPositions: fit.prompt.positions, reusedPositions: 0, prefilledPositions: 0, droppedTurns: fit.dropped, maxNewTokens: fit.maxNewTokens, prefillMs: 0 },
      decodeStart: 0, done: false,
    };
    this.active = turn;
    const alive = () => this.active === turn;
    const eos = new Set(this.model.eosTokenIds);
    const vocab = this.model.model.config.text.vocabSize;
    try {
      // An abort during the prefill ends the turn before its first token (no trace; the cache keeps the
      // reused prefix: it advances only after a complete forward).
      const onLayer = (layer: number, layers: number) => {
        opts.onPrefillProgress?.({ stage: 'language', layer, layers, fraction: layer / layers });
        if (opts.signal?.aborted) throw PREFILL_ABORTED;
      };
      let logits: Tensor;
      try {
        logits = this.prefill(turn, fit.prompt, features, onLayer);
      } catch (e) {
        if (e !== PREFILL_ABORTED) throw e;
        turn.stopReason = 'abort';
        return;
      }
      turn.decodeStart = performance.now();
      for (;;) {
        if (opts.signal?.aborted) {
          turn.stopReason = 'abort';
          return;
        }
        const id = nextToken(logits, turn.generated);
        if (!Number.isInteger(id) || id < 0 || id >= vocab) {
          throw new Error(`ChatSession: the token chooser returned ${id}, not a token id of this model (0..${vocab - 1})`);
        }
        turn.generated.push(id);
        if (eos.has(id)) {
          turn.eos = true;
          turn.stopReason = 'eos';
          const rest = turn.reply.finish();
          if (rest) yield { text: rest, tokenId: id };
          return;
        }
        const { text: piece, stop } = turn.reply.push(id);
        if (stop !== null) {
          turn.stopReason = 'stop';
          if (piece) yield { text: piece, tokenId: id };
          return;
        }
        const lastOne = turn.generated.length === turn.stats.maxNewTokens;
        turn.stopReason = lastOne ? 'length' : 'abort'; // what ends the reply if the caller stops here
        yield { text: lastOne ? piece + turn.reply.finish() : piece, tokenId: id };
        if (lastOne || !alive()) return;
        await nextMacrotask(); // lets timers and abort signals fire between tokens
        if (!alive()) return;
        if (opts.signal?.aborted) continue;
        logits = this.step(id);
      }
    } finally {
      this.finish(turn);
    }
  }

  private setup(): PromptSetup {
    return {
      template: this.template, tokenizer: this.model.tokenizer, system: this.system,
      images: this.images.length, featuresPerImage: this.model.model.config.featuresPerImage,
    };
  }

  /** Truncate the cache to what `prompt` shares with it, run the decoder over the rest: last logits. */
  private prefill(turn: Turn, prompt: ChatPrompt, features: Tensor | null, onLayer?: (layer: number, layers: number) => void): Tensor {
    const t0 = performance.now();
    const m = this.model.model;
    const keys = positionKeys(prompt.ids, this.imageKeys, m.config.featuresPerImage);
    // At least the last position is recomputed: its logits start the reply.
    const reuse = Math.min(commonPrefix(this.cachedKeys, keys), keys.length - 1);
    const need = keys.length + turn.stats.maxNewTokens;
    this.cache?.truncate(reuse);
    this.cachedKeys.length = reuse;
    if (!this.cache || this.cache.maxLength < need) {
      const size = Math.min(this.contextLength, Math.max(need, 2 * (this.cache?.maxLength ?? 0)));
      this.cache = this.cache ? this.cache.resized(size) : m.languageModel.newCache(size, { dtype: this.kvDtype });
    }
    const cache = this.cache;
    const logits = noGrad(() => {
      const embeds = m.inputsEmbeds(prompt.ids, features); // (1, L, D): a lookup, cheap next to the decoder
      const rest = narrow(embeds, 1, reuse, keys.length - reuse);
      return m.languageModel.forward(rest, { cache, logits: 'last', onLayer }).logits!;
    });
    this.cachedKeys = keys;
    turn.stats.reusedPositions = reuse;
    turn.stats.prefilledPositions = keys.length - reuse;
    turn.stats.prefillMs = performance.now() - t0;
    return logits;
  }

  /** Feed one generated token: logits of the next position. */
  private step(id: number): Tensor {
    const lm = this.model.model.languageModel;
    const cache = this.cache!;
    const logits = noGrad(() => lm.forward(lm.embed(tensor([[id]], { dtype: 'i32' })), { cache, logits: 'last' }).logits!);
    this.cachedKeys.push(id);
    return logits;
  }

  /** Ends the reply in progress, if any (a new send, setImage or reset supersedes it). */
  private interrupt(): void {
    if (this.active) this.finish(this.active);
  }

  /** Records a reply in the conversation (once); a reply interrupted before its first token leaves no trace. */
  private finish(turn: Turn): void {
    if (turn.done) return;
    turn.done = true;
    if (this.active === turn) this.active = null;
    if (turn.generated.length === 0) return;
    const tok = this.model.tokenizer;
    const ids = turn.generated;
    // Ids of a padded vocabulary that the tokenizer lacks have no text (as while streaming, ReplyText).
    const known = ids.filter((id) => tok.hasId(id));
    const shown = turn.eos ? known.slice(0, -1) : known;
    const stopped = turn.reply.stop !== null; // also when the stop string completed in the final flush
    if (stopped) turn.stopReason = 'stop';
    const content = stopped ? pyStrip(turn.reply.text) : pyStrip(tok.decode(shown, { skipSpecialTokens: true }));
    const stored = stopped ? content : pyStrip(tok.decode(known, { skipSpecialTokens: false }));
    this.turns.push({ role: 'user', content: turn.user }, { role: 'assistant', content, ...(stored !== content ? { stored } : {}) });
    this.last = { ...turn.stats, tokenIds: ids.slice(), stopReason: turn.stopReason, decodeMs: performance.now() - turn.decodeStart };
  }
}
