/**
 * `llava chat`: a conversation with a model in the terminal, built on ChatSession (multi-turn history, the
 * KV cache reused across turns, the image encoded once).
 *
 * Input is read line by line from stdin: on a terminal with a `> ` prompt, line editing and history
 * (node:readline); from a pipe one question per line, no prompt, ending at EOF. Commands: `/image PATH` (a
 * new conversation about that image), `/reset` (a new conversation, same image), `/save FILE` (the
 * conversation as a LLaVA data record, chat-record.ts), `/exit`; anything else starting with `/` gets a
 * one-line hint.
 *
 * Output: stdout carries the replies only, streamed as they come, stripped as LLaVA stores them, one line
 * break after each — so `llava chat < questions.txt > answers.txt` gives clean answers. Everything else
 * (tokens/s after each reply, notices, errors, the banner) goes to stderr, dimmed when stderr is a terminal
 * (NO_COLOR turns that off). On a terminal, control characters in a reply are shown as U+FFFD.
 *
 * Ctrl-C (SIGINT, or the key on a terminal in raw mode) stops the reply in progress — the part already
 * shown stays in the conversation — and the prompt returns; at the idle prompt the first Ctrl-C prints a
 * hint and a second one in a row exits. An unreadable image given to `/image` leaves the conversation as
 * it was.
 *
 * The model and the conversation live in the model's worker thread (the public, worker-backed ChatSession),
 * so this thread only reads keys and prints: a Ctrl-C during a long prefill (a minute on a 7B model) stops
 * it after the decoder layer in progress, and the reply ends before its first token. A prefill that lasts
 * more than a second shows its progress (decoder layers) on a terminal's stderr until the reply starts.
 *
 * Exit status: 0, or 1 when stdin is not a terminal and any input line failed (a reply or a command ended in
 * an error); the remaining lines are still answered. On a terminal the chat goes on after an error.
 *
 * Replies are sampled as `llava run` samples (the reference CLI's temperature 0.2 by default; the same
 * sampling flags, and --seed, which makes every reply reproducible; --temperature 0 is greedy).
 *
 * Not here: the sampling and the conversation logic themselves (generate/sampling.ts, ChatSession).
 */
import path from 'node:path';
import readline from 'node:readline';
import type { SendOptions, TurnStats } from '../generate/chat.js';
import { ChatSession } from '../generate/chat-client.js';
import { loadModel } from '../generate/client.js';
import { DEFAULTS, type PrefillProgress } from '../generate/options.js';
import { validateSampling } from '../generate/sampling.js';
import { infoOnce } from '../util/log.js';
import { decodeImage, type RgbImage } from '../vision/decode.js';
import { pyStrip } from '../generate/chat-text.js';
import { LineQueue, MutableOutput } from './chat-input.js';
import { chatRecord, writeFileAtomic } from './chat-record.js';
import { DEFAULT_MODEL, quantFlag, samplingFlags, type GenerationFlags } from './run.js';

export interface ChatOptions extends GenerationFlags {
  /** Absent: the embedded tiny demo model and its image (unless --image is given). */
  model?: string;
  visionTower?: string;
  /** The mmproj GGUF of a text `.gguf` --model. */
  mmproj?: string;
  image?: string;
  template?: string;
  system?: string;
  /** Absent: 512 as the reference CLI, or a quarter of the model's context when that is less. */
  maxNewTokens?: string;
  kvCache: string;
  pad?: boolean;
  crop?: boolean;
}

const COMMANDS = '/image PATH (new conversation about that image), /reset, /save FILE, /exit';

function positiveInt(flag: string, v: string): number {
  if (!/^\s*\d+\s*$/.test(v) || Number(v) < 1) throw new Error(`${flag} must be a positive integer, got ${JSON.stringify(v)}`);
  return Number(v);
}

/** The argument of a command line: the rest, trimmed, one pair of surrounding quotes removed (as terminals paste paths). */
function argument(rest: string): string {
  const s = rest.trim();
  return s.length >= 2 && (s[0] === '"' || s[0] === "'") && s.at(-1) === s[0] ? s.slice(1, -1) : s;
}

class ChatCli {
  private readonly interactive = process.stdin.isTTY === true;
  private readonly dim = process.stderr.isTTY === true && !process.env.NO_COLOR;
  private readonly terminalOut = process.stdout.isTTY === true;
  private readonly queue = new LineQueue();
  private rl: readline.Interface | null = null;
  /** The image of the conversation as given (for /save) and decoded (to restore it if a switch fails). */
  private image: { path: string; rgb: RgbImage } | null = null;
  private reply: AbortController | null = null;
  private idleInterrupts = 0;
  /** Input lines that ended in an error (the exit status of a piped chat). */
  private failures = 0;

  constructor(private readonly session: ChatSession, private readonly sendOptions: Omit<SendOptions, 'nextToken'>) {}

  /** A line on stderr that is not an error (dimmed on a terminal). */
  private note(msg: string): void {
    process.stderr.write(this.dim ? `\x1b[2m${msg}\x1b[0m\n` : `${msg}\n`);
  }

  /** An input line failed: its error on stderr. */
  private error(msg: string): void {
    this.failures++;
    process.stderr.write(`llava: ${msg}\n`);
  }

  private readonly interrupt = (): void => {
    if (this.reply) {
      this.reply.abort();
      return;
    }
    if (this.interactive) process.stderr.write('\n');
    if (++this.idleInterrupts >= 2) {
      this.queue.abandon();
      return;
    }
    this.note('(Ctrl-C again or /exit to quit)');
    if (this.interactive && this.rl) {
      // Drop what was typed (Ctrl-E, Ctrl-U) and show a fresh prompt.
      this.rl.write(null, { ctrl: true, name: 'e' });
      this.rl.write(null, { ctrl: true, name: 'u' });
      this.rl.prompt(true);
    }
  };

  async setImage(file: string): Promise<void> {
    // Decoded here (the errors name the file): a file that is no image leaves the session untouched, and
    // the session gets pixels that cannot fail later.
    const rgb = await decodeImage(file);
    const previous = this.image;
    try {
      await this.session.setImage(rgb);
    } catch (e) {
      // The conversation is gone either way; the image it was about stays.
      await this.session.setImage(previous ? previous.rgb : null).catch(() => {});
      throw e;
    }
    this.image = { path: file, rgb };
  }

  async run(): Promise<void> {
    // The prompt and the echo of what is typed are not replies: they stay off a redirected stdout, and are
    // silenced while a reply streams (a line typed meanwhile is shown when its turn comes).
    const echo = this.interactive ? new MutableOutput(process.stdout.isTTY ? process.stdout : process.stderr) : null;
    const rl = readline.createInterface({ input: process.stdin, output: echo ?? undefined, terminal: this.interactive, prompt: '> ' });
    if (echo) echo.muted = true; // until the first prompt
    this.rl = rl;
    rl.on('line', (line) => this.queue.push(line));
    let closing = false;
    rl.on('close', () => {
      // Ctrl-D at the prompt: end the prompt's line before the shell's prompt comes back.
      if (this.interactive && !closing) process.stderr.write('\n');
      this.queue.end();
    });
    // On a terminal readline reads Ctrl-C as a key ('SIGINT' on the interface); otherwise it is a signal.
    rl.on('SIGINT', this.interrupt);
    process.on('SIGINT', this.interrupt);
    if (this.interactive) {
      const about = this.image ? `about ${path.basename(this.image.path)}` : 'without an image';
      this.note(`llava chat ${about}. Commands: ${COMMANDS}. Ctrl-C stops a reply.`);
    }
    try {
      for (;;) {
        let line: string | null | undefined = this.queue.take();
        if (line !== undefined) {
          echo?.target.write(`> ${line}\n`); // typed ahead, not shown yet
        } else {
          if (echo) {
            echo.muted = false;
            rl.prompt(true); // keeps the cursor at the end of what was typed ahead
          }
          line = await this.queue.next();
        }
        if (line === null) break;
        if (echo) echo.muted = true;
        this.idleInterrupts = 0;
        if (!(await this.handle(line))) break;
      }
    } finally {
      process.off('SIGINT', this.interrupt);
      closing = true;
      rl.close();
    }
    if (!this.interactive && this.failures > 0) {
      throw new Error(`${this.failures} input line${this.failures === 1 ? '' : 's'} failed (errors above)`);
    }
  }

  /** One input line; false ends the chat. */
  private async handle(line: string): Promise<boolean> {
    const text = line.trim();
    if (text === '') return true;
    if (!text.startsWith('/')) {
      await this.send(text);
      return true;
    }
    const [, cmd, rest] = /^(\/\S*)\s*(.*)$/s.exec(text)!;
    try {
      switch (cmd) {
        case '/exit':
          return false;
        case '/reset':
          await this.session.reset();
          this.note('(new conversation)');
          return true;
        case '/image': {
          const file = argument(rest!);
          if (!file) throw new Error('usage: /image PATH');
          await this.setImage(file);
          this.note(`(new conversation about ${path.basename(file)})`);
          return true;
        }
        case '/save': {
          const file = argument(rest!);
          if (!file) throw new Error('usage: /save FILE');
          const turns = this.session.history;
          if (turns.length === 0) throw new Error('nothing to save yet: the conversation is empty');
          await writeFileAtomic(file, JSON.stringify(chatRecord(turns, this.image?.path ?? null, file), null, 2) + '\n');
          this.note(`(saved ${turns.length / 2} turn(s) to ${file})`);
          return true;
        }
        default:
          this.error(`unknown command ${cmd}: the commands are ${COMMANDS}`);
          return true;
      }
    } catch (e) {
      this.error(e instanceof Error ? e.message : String(e));
      return true;
    }
  }

  /** Stream the reply to `text`, then its statistics. */
  private async send(text: string): Promise<void> {
    const before = this.session.lastTurn;
    const ctrl = new AbortController();
    this.reply = ctrl;
    const prefill = new PrefillDisplay(process.stderr.isTTY === true, this.dim);
    // What is printed is the reply stripped as the session stores it: leading white space is skipped and
    // trailing white space held until more text follows it.
    let raw = '';
    let shown = '';
    const show = (visible: string) => {
      if (visible.length > shown.length && visible.startsWith(shown)) {
        prefill.clear();
        const more = visible.slice(shown.length);
        process.stdout.write(this.terminalOut ? forTerminal(more) : more);
        shown = visible;
      }
    };
    try {
      const options = { ...this.sendOptions, signal: ctrl.signal, onPrefillProgress: (p: PrefillProgress) => prefill.update(p) };
      for await (const piece of this.session.send(text, options)) {
        raw += piece.text;
        show(pyStrip(raw));
      }
    } catch (e) {
      prefill.clear();
      if (shown) process.stdout.write('\n');
      // An interrupt that came before the worker took the request ends it as an abort: not a failure.
      if (ctrl.signal.aborted && e instanceof Error && e.name === 'AbortError') this.note('[interrupted before the first token]');
      else this.error(e instanceof Error ? e.message : String(e));
      return;
    } finally {
      this.reply = null;
    }
    prefill.clear();
    const stats = this.session.lastTurn;
    const recorded = stats !== before && stats !== null;
    // An interrupted reply may end with text the stream still held (part of a character, or what could have
    // been the start of a stop string); the conversation keeps it, so it is shown too.
    if (recorded) show(this.session.history.at(-1)!.content);
    process.stdout.write('\n');
    if (recorded) this.note(statsLine(stats));
    else if (!ctrl.signal.aborted) this.note('[no reply]');
    else {
      const p = prefill.last;
      this.note(`[interrupted before the first token${p ? `, in the prefill after layer ${p.layer} of ${p.layers}` : ''}]`);
    }
  }
}

/**
 * The prefill's progress (decoder layers) on a terminal's stderr, shown once the prefill has lasted a
 * second and erased when the reply starts; it also remembers the last layer reported (for the note of an
 * interrupted prefill).
 */
class PrefillDisplay {
  private readonly start = performance.now();
  private visible = false;
  last: PrefillProgress | null = null;

  constructor(private readonly terminal: boolean, private readonly dim: boolean) {}

  update(p: PrefillProgress): void {
    this.last = p;
    if (!this.terminal || performance.now() - this.start < 1000) return;
    const text = `(prefill: layer ${p.layer} of ${p.layers})`;
    process.stderr.write(`\r\x1b[2K${this.dim ? `\x1b[2m${text}\x1b[0m` : text}`);
    this.visible = true;
  }

  clear(): void {
    if (this.visible) process.stderr.write('\r\x1b[2K');
    this.visible = false;
  }
}

/**
 * Control characters other than line breaks and tabs shown as U+FFFD: a model's output must not move the
 * cursor or send escape sequences to the terminal (a redirected stdout gets the text as it is).
 */
function forTerminal(s: string): string {
  return s.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, '\ufffd');
}

function statsLine(s: TurnStats): string {
  const n = s.tokenIds.length;
  const rate = s.decodeMs > 0 ? `${(n / (s.decodeMs / 1000)).toFixed(1)} tokens/s` : '';
  const why = s.stopReason === 'abort' ? 'interrupted after ' : '';
  const limit = s.stopReason === 'length' ? ' (the limit)' : '';
  const prompt = `prompt ${s.promptPositions} positions, ${s.reusedPositions} from the cache, prefill ${(s.prefillMs / 1000).toFixed(2)} s`;
  return `[${why}${n} token${n === 1 ? '' : 's'}${limit}${rate ? `, ${rate}` : ''}; ${prompt}]`;
}

export async function chat(opts: ChatOptions): Promise<void> {
  if (opts.pad && opts.crop) throw new Error('give at most one of --pad and --crop');
  const { sampling, seed } = samplingFlags(opts);
  // Checked here so that a bad value stops the chat before it starts, not at every turn.
  validateSampling(sampling);
  const maxNewTokens = opts.maxNewTokens === undefined ? undefined : positiveInt('--max-new-tokens', opts.maxNewTokens);
  if (opts.kvCache !== 'f32' && opts.kvCache !== 'f16') throw new Error(`--kv-cache must be f32 or f16, got ${JSON.stringify(opts.kvCache)}`);
  const dir = opts.model ?? DEFAULT_MODEL;
  let image = opts.image;
  if (opts.model === undefined) {
    image ??= path.join(DEFAULT_MODEL, 'image.png');
    infoOnce('no --model given: chatting with the embedded tiny demo model (random weights: the pipeline is real, the replies are not meaningful)');
  }

  // --threads reached LLAVA_THREADS (main.ts), which the worker inherits.
  const model = await loadModel(dir, { visionTower: opts.visionTower, mmproj: opts.mmproj, quant: quantFlag(opts) });
  try {
    const session = new ChatSession(model, {
      template: opts.template,
      system: opts.system,
      kvCache: opts.kvCache,
      imageMode: opts.pad ? 'pad' : opts.crop ? 'crop' : undefined,
      optionNames: { maxNewTokens: '--max-new-tokens' },
      onNotice: (n) => process.stderr.write(`llava: ${n.message}\n`),
    });
    await session.ready(); // an unknown template or a folder without a tokenizer ends here
    // A short context (such as the demo model's 256 positions) would otherwise be filled by the first reply.
    const cli = new ChatCli(session, {
      ...sampling,
      seed,
      maxNewTokens: maxNewTokens ?? Math.max(1, Math.min(DEFAULTS.maxNewTokens, Math.floor(session.contextLength! / 4))),
    });
    if (image !== undefined) await cli.setImage(image);
    await cli.run();
  } finally {
    await model.close();
  }
}
