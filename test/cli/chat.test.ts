/**
 * `llava chat` run as a user runs it, in real processes on the embedded tiny model: with stdin as a pipe
 * (replies on stdout equal ChatSession's, the cache reuse it reports equals the common prefix of what fresh
 * sessions compute, /save writes the LLaVA record, /image switches and survives bad paths, --pad reaches the
 * worker's session, flags are checked, a failed line makes the exit status 1 and the context error names
 * --max-new-tokens, SIGINT stops a reply and not the program) and on a real pseudo-terminal through tmux
 * (prompt, a reply interrupted by Ctrl-C while it streams, the next question answered in the same
 * conversation, an error that does not end the chat, an image switch, /save, /exit; a Ctrl-C during a long
 * prefill that stops it before its last layer; skipped with a message where tmux is not installed).
 *
 * The interrupted cases use copies of the tiny model: one with a longer context and the single-threaded
 * reference backend, so that a reply of 120 tokens lasts a second or more and is still streaming when the
 * interrupt arrives; one with 128 decoder layers (its two layers repeated), so that a long question's prefill
 * lasts seconds and its progress display shows up well before its end. Every wait polls with a generous
 * timeout instead of sleeping a fixed time; nothing asserts a duration.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import '../../src/index.js';
import { ChatSession, loadChatModel, type TurnStats } from '../../src/generate/chat.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { openSafetensors } from '../../src/io/safetensors.js';
import { writeSafetensors } from '../../src/io/safetensors-writer.js';
import { ROOT } from '../helpers/tiny-llava.js';

const MAIN = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
const ASSET = path.join(ROOT, 'assets', 'tiny-llava-1.5-hf');
const IMAGE = path.join(ASSET, 'image.png');
const Q = ['What is in this image?', 'And what colour is it?', 'Why?', 'Describe it in one word.'];
const STATS = /^\[(interrupted after )?(\d+) tokens?\b/;

const tmp = mkdtempSync(path.join(os.tmpdir(), 'llava-chat-'));
/** A second image, different from image.png. */
const OTHER = path.join(tmp, 'other.png');
/** The tiny model with 2048 positions instead of 256 (the folder name keeps its template choice). */
const LONG = path.join(tmp, 'long', 'tiny-llava-1.5-hf');
/** LONG with 128 decoder layers: layers 0 and 1 of the tiny model, repeated. */
const DEEP = path.join(tmp, 'deep', 'tiny-llava-1.5-hf');
const DEEP_LAYERS = 128;

/** A copy of the tiny model folder at `dir` (files linked) with its config edited and, if given, other weights. */
async function variant(dir: string, edit: (text: { max_position_embeddings: number; num_hidden_layers: number }) => void, weights?: Map<string, Tensor>) {
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(ASSET)) {
    if (f !== 'config.json' && !(weights && f === 'model.safetensors')) symlinkSync(path.join(ASSET, f), path.join(dir, f));
  }
  const config = JSON.parse(readFileSync(path.join(ASSET, 'config.json'), 'utf8')) as { text_config: { max_position_embeddings: number; num_hidden_layers: number } };
  edit(config.text_config);
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  if (weights) await writeSafetensors(path.join(dir, 'model.safetensors'), weights);
}

before(async () => {
  const width = 20;
  const height = 12;
  const data = Buffer.alloc(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set([(i * 7) % 256, (i * 13) % 256, 255 - (i % 256)], i * 3);
  await sharp(data, { raw: { width, height, channels: 3 } }).png().toFile(OTHER);
  await variant(LONG, (t) => { t.max_position_embeddings = 2048; });
  const src = openSafetensors(path.join(ASSET, 'model.safetensors'));
  const weights = new Map<string, Tensor>();
  for (const key of src.keys()) {
    const m = /^language_model\.model\.layers\.(\d+)\.(.*)$/.exec(key);
    if (!m) weights.set(key, src.get(key));
    else for (let i = Number(m[1]); i < DEEP_LAYERS; i += 2) weights.set(`language_model.model.layers.${i}.${m[2]}`, src.get(key));
  }
  await variant(DEEP, (t) => { t.max_position_embeddings = 2048; t.num_hidden_layers = DEEP_LAYERS; }, weights);
});
after(() => rmSync(tmp, { recursive: true, force: true }));

const model = loadChatModel(ASSET);

/** The replies a ChatSession gives to `questions` in one conversation (greedy, as the CLI). */
async function sessionReplies(image: string | null, questions: string[], maxNewTokens: number, m = model): Promise<string[]> {
  const s = new ChatSession(m, { image });
  const out: string[] = [];
  for (const q of questions) {
    for await (const piece of s.send(q, { maxNewTokens })) void piece;
    out.push(s.history.at(-1)!.content);
  }
  return out;
}

/** Each turn of a greedy conversation as a fresh session computes it, given the turns before as history. */
async function freshTurns(image: string, questions: string[], maxNewTokens: number): Promise<TurnStats[]> {
  const out: TurnStats[] = [];
  let history: ChatSession['history'] = [];
  for (const q of questions) {
    const s = new ChatSession(model, { image, history });
    for await (const piece of s.send(q, { maxNewTokens })) void piece;
    out.push(s.lastTurn!);
    history = s.history;
  }
  return out;
}

/**
 * The positions a session that just answered `prev` can take from its cache for `next`: the common prefix of
 * what its cache holds (the previous prompt, then the reply's ids fed back: all but the last) and the new
 * prompt; the image (id −200) stands for its feature positions, the same image for the same ones; at least
 * the last position is recomputed.
 */
function expectedReuse(prev: TurnStats, next: TurnStats): number {
  const features = model.model.config.featuresPerImage;
  const positions = (ids: readonly number[]): (number | string)[] => ids.flatMap((id): (number | string)[] => id === -200 ? Array.from({ length: features }, (_, j) => `image ${j}`) : [id]);
  const cached = [...positions(prev.promptIds), ...prev.tokenIds.slice(0, -1)];
  const wanted = positions(next.promptIds);
  assert.equal(wanted.length, next.promptPositions);
  let n = 0;
  while (n < cached.length && n < wanted.length && cached[n] === wanted[n]) n++;
  return Math.min(n, wanted.length - 1);
}

/** "prompt P positions, R from the cache" of each statistics line on stderr. */
function reuseReported(stderr: string): [number, number][] {
  return [...stderr.matchAll(/; prompt (\d+) positions, (\d+) from the cache,/g)].map((m) => [Number(m[1]), Number(m[2])]);
}

function chatPiped(args: string[], input: string) {
  const r = spawnSync(process.execPath, [MAIN, 'chat', ...args], { input, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Record {
  id: string;
  image?: string;
  conversations: { from: string; value: string }[];
}
const readRecord = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as Record;
const turns = (...pairs: [string, string][]) => pairs.map(([from, value]) => ({ from, value }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `f` every 50 ms until it returns something truthy; the error says what was awaited and shows `state()`. */
async function until<T>(what: string, f: () => T, state: () => string, timeoutMs = 40_000): Promise<NonNullable<T>> {
  const t0 = Date.now();
  for (;;) {
    const v = f();
    if (v) return v as NonNullable<T>;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}; output so far:\n${state()}`);
    await sleep(50);
  }
}

test('piped stdin: one reply per question line on stdout, as ChatSession gives them; the cache reuse of fresh sessions; /save writes the LLaVA record; EOF exits 0', async () => {
  const saved = path.join(tmp, 'piped', 'chat.json');
  mkdirSync(path.dirname(saved));
  const r = chatPiped(['--temperature', '0'], `${Q[0]}\n\n${Q[1]}\n/save ${saved}\n`);
  assert.equal(r.status, 0, r.stderr);
  // Replies of at most a quarter of the demo model's 256 positions (the reference's 512 would not leave
  // room for a second turn).
  const expected = await sessionReplies(IMAGE, Q.slice(0, 2), 64);
  assert.equal(r.stdout, expected.map((t) => `${t}\n`).join(''));
  // Nothing but replies on stdout; the statistics of both turns on stderr.
  assert.equal(r.stderr.split('\n').filter((l) => /^\[64 tokens \(the limit\), [\d.]+ tokens\/s; /.test(l)).length, 2, r.stderr);
  // The positions each turn took from the cache: none at first, then what the cache and the re-rendered
  // prompt have in common (at least the previous prompt).
  const [t1, t2] = await freshTurns(IMAGE, Q.slice(0, 2), 64);
  const reuse = expectedReuse(t1!, t2!);
  assert.ok(reuse >= t1!.promptPositions);
  assert.deepEqual(reuseReported(r.stderr), [[t1!.promptPositions, 0], [t2!.promptPositions, reuse]]);
  assert.match(r.stderr, /embedded tiny demo model/);
  assert.doesNotMatch(r.stdout + r.stderr, /^> /m, 'no prompt when stdin is not a terminal');

  const rec = readRecord(saved);
  assert.deepEqual(Object.keys(rec), ['id', 'image', 'conversations']);
  assert.match(rec.id, /^[0-9a-f-]{36}$/);
  assert.equal(rec.image, path.relative(path.dirname(saved), IMAGE));
  assert.deepEqual(rec.conversations, turns(['human', `<image>\n${Q[0]}`], ['gpt', expected[0]!], ['human', Q[1]!], ['gpt', expected[1]!]));
  // Written through a temporary file that is gone.
  assert.deepEqual(readdirSync(path.dirname(saved)), ['chat.json']);
});

test('piped stdin: bad /image paths give one-line errors and keep the conversation; /image switches to a new one; unknown commands get a hint; exit status 1', async () => {
  const notImage = path.join(tmp, 'notes.txt');
  writeFileSync(notImage, 'not an image');
  const missing = path.join(tmp, 'missing.png');
  const saved = path.join(tmp, 'switch.json');
  const input = [Q[0], `/image ${missing}`, `/image ${notImage}`, Q[1], `/image "${OTHER}"`, Q[2], '/frobnicate', `/save ${saved}`, '/exit', Q[3]].join('\n') + '\n';
  const r = chatPiped(['--model', ASSET, '--image', IMAGE, '--max-new-tokens', '6', '--temperature', '0'], input);
  assert.equal(r.status, 1, r.stderr);
  const [first, second] = await sessionReplies(IMAGE, Q.slice(0, 2), 6);
  const [third] = await sessionReplies(OTHER, [Q[2]!], 6);
  // The second reply continues the first conversation; the third is a new one about the other image; /exit
  // ends before the last question.
  assert.equal(r.stdout, `${first}\n${second}\n${third}\n`);
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('llava: ') && !/backend/.test(l));
  assert.equal(errors.length, 4, r.stderr);
  assert.match(errors[0]!, /^llava: cannot read image .*missing\.png: no such file$/);
  assert.match(errors[1]!, /^llava: image .*notes\.txt cannot be decoded/);
  assert.match(errors[2]!, /^llava: unknown command \/frobnicate: the commands are \/image PATH.*\/reset, \/save FILE, \/exit$/);
  // Piped: the failed lines make the exit status 1, after every other line was answered.
  assert.equal(errors[3], 'llava: 3 input lines failed (errors above)');
  assert.match(r.stderr, /\(new conversation about other\.png\)/);
  const rec = readRecord(saved);
  assert.equal(rec.image, 'other.png');
  assert.deepEqual(rec.conversations, turns(['human', `<image>\n${Q[2]}`], ['gpt', third!]));
});

test('sampling flags reach the session: a seeded reply equals ChatSession\'s with the same options', async () => {
  const r = chatPiped(['--temperature', '1', '--top-k', '20', '--seed', '7', '--max-new-tokens', '8'], `${Q[0]}\n`);
  assert.equal(r.status, 0, r.stderr);
  const s = new ChatSession(model, { image: IMAGE });
  for await (const piece of s.send(Q[0]!, { temperature: 1, topK: 20, seed: 7, maxNewTokens: 8 })) void piece;
  const sampled = s.history.at(-1)!.content;
  assert.equal(r.stdout, `${sampled}\n`);
  // Not the greedy reply: the flags changed the decoding.
  const [greedy] = await sessionReplies(IMAGE, [Q[0]!], 8);
  assert.notEqual(sampled, greedy);
});

test('piped stdin: a reply that fails (a message too long for the context) names --max-new-tokens, the next line is answered, exit status 1; --pad reaches the session', async () => {
  const long = Array.from({ length: 200 }, (_, i) => `word${i % 37}`).join(' ');
  const r = chatPiped(['--image', OTHER, '--pad', '--max-new-tokens', '64', '--temperature', '0'], `${long}\n${Q[0]}\n`);
  assert.equal(r.status, 1, r.stderr);
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('llava: ') && !/backend|demo model/.test(l));
  assert.equal(errors.length, 2, r.stderr);
  assert.match(errors[0]!, /^llava: the conversation does not fit the model's context of 256 positions: the first message alone take \d+ positions \(16 of them for the image\), plus 64 new tokens; shorten the message or lower --max-new-tokens$/);
  assert.equal(errors[1], 'llava: 1 input line failed (errors above)');
  assert.doesNotMatch(r.stderr, /maxNewTokens/);
  // The failed turn left no trace: the reply is the first turn of a conversation about the padded image,
  // which is not the cropped image's.
  const [padded] = await sessionReplies(OTHER, [Q[0]!], 64, loadChatModel(ASSET, { imageMode: 'pad' }));
  const [cropped] = await sessionReplies(OTHER, [Q[0]!], 64, loadChatModel(ASSET, { imageMode: 'crop' }));
  assert.notEqual(padded, cropped);
  assert.equal(r.stdout, `${padded}\n`);
  // The rule is stated in the command's help.
  const help = spawnSync(process.execPath, [MAIN, 'chat', '--help'], { encoding: 'utf8' });
  assert.match(help.stdout.replace(/\s+/g, ' '), /Exit status: 0; 1 when stdin is not a terminal \(one question per line\) and any line failed/);
});

test('bad flags and an unreadable --image end with one error line and exit code 1', () => {
  for (const [args, message] of [
    [['--temperature', '-1'], /--temperature must be ≥ 0, got "-1"/],
    [['--top-p', '2'], /topP must be a number in \(0, 1\], got 2/],
    [['--max-new-tokens', '0'], /--max-new-tokens must be a positive integer, got "0"/],
    [['--image', path.join(tmp, 'nope.png')], /cannot read image .*nope\.png: no such file/],
  ] as [string[], RegExp][]) {
    const r = chatPiped(args, 'hello\n');
    assert.equal(r.status, 1, args.join(' '));
    assert.match(r.stderr, message);
    assert.equal(r.stdout, '');
  }
});

test('piped stdin: SIGINT stops the reply, not the program; two in a row at the idle prompt exit', async () => {
  const child = spawn(process.execPath, [MAIN, 'chat', '--model', LONG, '--image', IMAGE, '--max-new-tokens', '120', '--temperature', '0'], {
    env: { ...process.env, LLAVA_BACKEND: 'ts' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const state = () => `stdout: ${stdout}\nstderr: ${stderr}`;
  try {
    child.stdin.write(`${Q[0]}\n`);
    await until('the reply to start', () => stdout.length > 0, state);
    child.kill('SIGINT');
    const m = await until('the interrupted reply', () => /\[interrupted after (\d+) tokens?/.exec(stderr), state);
    const n = Number(m[1]);
    assert.ok(n >= 1 && n < 120, `interrupted after ${n} tokens`);
    const saved = path.join(tmp, 'interrupted.json');
    child.stdin.write(`/save ${saved}\n`);
    await until('the save', () => stderr.includes('(saved 1 turn(s)'), state);
    // The part shown stays in the conversation.
    assert.deepEqual(readRecord(saved).conversations, turns(['human', `<image>\n${Q[0]}`], ['gpt', stdout.trim()]));
    child.kill('SIGINT');
    await until('the hint', () => stderr.includes('(Ctrl-C again or /exit to quit)'), state);
    child.kill('SIGINT');
    assert.equal(await exited, 0, state());
  } finally {
    child.kill('SIGKILL');
  }
});

const tmuxOk = spawnSync('tmux', ['-V'], { encoding: 'utf8' }).status === 0;
const needsTmux = { skip: tmuxOk ? false : 'tmux is not installed: the pseudo-terminal tests need it (apt-get install tmux)' };
const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * `llava chat ARGS` in a tmux pane of its own server (200×50), with `env` set; the shell keeps the pane open
 * after the chat ends and shows its exit status.
 */
function tmuxChat(name: string, env: string, args: string[]) {
  const socket = `llava-chat-test-${process.pid}-${name}`;
  const tmux = (...a: string[]) => {
    const r = spawnSync('tmux', ['-L', socket, '-f', '/dev/null', ...a], { encoding: 'utf8', env: { ...process.env, TMUX: '' } });
    if (r.status !== 0) throw new Error(`tmux ${a[0]}: ${r.stderr}`);
    return r.stdout;
  };
  const command = [process.execPath, MAIN, 'chat', ...args].map(quote).join(' ');
  tmux('new-session', '-d', '-s', 'chat', '-x', '200', '-y', '50', `cd ${quote(ROOT)} && ${env} ${command}; echo "[exit status $?]"; sleep 600`);
  // The whole scroll-back, wrapped lines joined.
  const pane = () => tmux('capture-pane', '-p', '-J', '-S', '-', '-t', 'chat');
  const lines = (p = pane()) => p.split('\n').map((l) => l.trimEnd()).filter((l) => l !== '');
  const atPrompt = (ls = lines()) => ls.at(-1) === '>';
  return {
    pane, lines, atPrompt,
    keys: (...keys: string[]) => { tmux('send-keys', '-t', 'chat', ...keys); },
    type: (text: string) => {
      tmux('send-keys', '-t', 'chat', '-l', text);
      tmux('send-keys', '-t', 'chat', 'Enter');
    },
    /** Waits until the pane shows `text` and then the prompt again. */
    shownThenPrompt: (what: string, text: string) => until(what, () => {
      const p = pane();
      return p.includes(text) && atPrompt(lines(p));
    }, pane),
    close: () => { spawnSync('tmux', ['-L', socket, 'kill-server']); },
  };
}

test('a real terminal (tmux): prompt, streamed replies, Ctrl-C during a reply, the next question answered, an error, /image, /save, /exit', needsTmux, async () => {
  const savedA = path.join(tmp, 'tty-a.json');
  const savedB = path.join(tmp, 'tty-b.json');
  const t = tmuxChat('reply', 'LLAVA_BACKEND=ts', ['--model', LONG, '--image', IMAGE, '--max-new-tokens', '120', '--temperature', '0']);
  try {
    const stats = (ls = t.lines()) => ls.filter((l) => STATS.test(l));
    const waitTurn = async (k: number) => {
      const ls = await until(`reply ${k} and the prompt`, () => {
        const now = t.lines();
        return stats(now).length === k && t.atPrompt(now) ? now : null;
      }, t.pane);
      return stats(ls)[k - 1]!;
    };

    await t.shownThenPrompt('the banner and the prompt', 'llava chat about image.png');
    t.type(Q[0]!);
    // Ctrl-C as soon as the reply streams (the line after the question has text).
    await until('the first reply to start', () => {
      const ls = t.lines();
      const at = ls.lastIndexOf(`> ${Q[0]}`);
      return at >= 0 && at + 1 < ls.length && stats(ls).length === 0;
    }, t.pane);
    t.keys('C-c');
    const interrupted = STATS.exec(await waitTurn(1))!;
    assert.ok(interrupted[1], `the first reply was not interrupted: ${interrupted[0]}`);
    assert.ok(Number(interrupted[2]) < 120);

    // The prompt came back: the next question gets a whole reply, in the same conversation.
    t.type(Q[1]!);
    assert.match(await waitTurn(2), /^\[120 tokens \(the limit\)/);
    // On a terminal an error does not end the chat (nor its exit status).
    const nowhere = path.join(tmp, 'no-such-folder', 'x.json');
    t.type(`/save ${nowhere}`);
    await t.shownThenPrompt('the failed save', `llava: cannot write ${nowhere}: no such folder`);
    t.type(`/save ${savedA}`);
    await t.shownThenPrompt('the first save', `(saved 2 turn(s) to ${savedA})`);
    t.type(`/image ${OTHER}`);
    await t.shownThenPrompt('the image switch', '(new conversation about other.png)');
    t.type(Q[2]!);
    assert.match(await waitTurn(3), /^\[120 tokens \(the limit\)/);
    t.type(`/save ${savedB}`);
    await t.shownThenPrompt('the second save', `(saved 1 turn(s) to ${savedB})`);
    t.type('/exit');
    await until('the end of the chat', () => t.pane().includes('[exit status 0]'), t.pane);

    const a = readRecord(savedA);
    const b = readRecord(savedB);
    assert.equal(a.image, path.relative(tmp, IMAGE));
    assert.deepEqual(a.conversations.map((c) => c.from === 'human' ? c.value : 'reply'), [`<image>\n${Q[0]}`, 'reply', Q[1], 'reply']);
    assert.equal(b.image, 'other.png');
    assert.deepEqual(b.conversations.map((c) => c.from === 'human' ? c.value : 'reply'), [`<image>\n${Q[2]}`, 'reply']);
    // Each reply kept in the conversation (the interrupted one as far as it went) is what the terminal
    // showed (white space and control characters, which a terminal shows differently, left out).
    const squash = (x: string) => x.replace(/[\s\x00-\x1f\x7f-\x9f\ufffd]/g, '');
    const screen = squash(t.pane());
    const replies = [...a.conversations, ...b.conversations].filter((c) => c.from === 'gpt').map((c) => c.value);
    for (const [i, reply] of replies.entries()) {
      assert.ok(squash(reply).length > 0, `reply ${i + 1} is empty`);
      assert.ok(screen.includes(squash(reply)), `reply ${i + 1} is not on the screen: ${reply}`);
    }
  } finally {
    t.close();
  }
});

test('a real terminal (tmux): Ctrl-C during a long prefill stops it before its last layer; the next question is answered as a fresh session answers it', needsTmux, async () => {
  const saved = path.join(tmp, 'tty-prefill.json');
  // One compute thread: the prefill of the long question over 128 layers lasts seconds (it shows its
  // progress after one), while the next, short turn stays quick.
  const t = tmuxChat('prefill', 'LLAVA_THREADS=1', ['--model', DEEP, '--image', IMAGE, '--max-new-tokens', '8', '--temperature', '0']);
  try {
    await t.shownThenPrompt('the banner and the prompt', 'llava chat about image.png');
    t.type(Array.from({ length: 600 }, (_, i) => `word${i % 50}`).join(' '));
    await until('the prefill progress', () => /\(prefill: layer \d+ of 128\)/.test(t.pane()), t.pane);
    t.keys('C-c');
    const stopped = /\[interrupted before the first token, in the prefill after layer (\d+) of 128\]/;
    const m = await until('the interrupted prefill and the prompt', () => {
      const ls = t.lines();
      return t.atPrompt(ls) ? stopped.exec(ls.join('\n')) : null;
    }, t.pane);
    assert.ok(Number(m[1]) < DEEP_LAYERS, `the prefill ran to its end: ${m[0]}`);
    // The progress line was erased: it is not left on the screen.
    assert.doesNotMatch(t.pane(), /\(prefill: layer/);

    t.type(Q[1]!);
    await t.shownThenPrompt('the next reply', '[8 tokens (the limit)');
    t.type(`/save ${saved}`);
    await t.shownThenPrompt('the save', `(saved 1 turn(s) to ${saved})`);
    t.type('/exit');
    await until('the end of the chat', () => t.pane().includes('[exit status 0]'), t.pane);
    // The stopped turn left no trace: the conversation is the next question alone, answered as a fresh
    // session answers it.
    const [expected] = await sessionReplies(IMAGE, [Q[1]!], 8, loadChatModel(DEEP));
    assert.deepEqual(readRecord(saved).conversations, turns(['human', `<image>\n${Q[1]}`], ['gpt', expected!]));
  } finally {
    t.close();
  }
});
