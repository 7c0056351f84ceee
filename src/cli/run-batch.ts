/**
 * `llava run --batch FILE.jsonl`: several requests decoded together in one left-padded batch
 * (generate/batch.ts). FILE has one JSON object per line (blank lines are skipped):
 *
 *   {"prompt": "What is in this image?", "image": "cat.jpg", "temperature": 0, "max_new_tokens": 64}
 *
 * Fields: exactly one of `prompt` (text, rendered with the chat template) and `input_ids` (ids as given);
 * `image` (one path) or `images` (paths, in prompt order), relative to FILE's folder; `system`, `template`;
 * `temperature`, `top_p`, `top_k`, `min_p`, `repetition_penalty`, `seed`, `max_new_tokens`; `stop` (a
 * string or an array of strings); `id` (any JSON value, echoed in the output). The command line's
 * generation flags (--temperature, --seed, --max-new-tokens, --system, --template, …) are the defaults of
 * every line. A bad line is an error naming the file, the line and the field, before anything is computed.
 *
 * Output: after the batch, one JSON line per request in input order, `{"index", "line", "id"?, "input_ids",
 * "output_ids", "text", "finish"}` (text stripped, as `--json`); with --stream, every piece as it comes,
 * `{"index", "text", "token_id"}`, rows interleaved step by step.
 *
 * Not here: the batched loop (generate/batch.ts), single prompts (run.ts).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Tensor } from '../engine/tensor.js';
import { generateBatchTokens } from '../generate/batch.js';
import { requestIds } from '../generate/core.js';
import { preprocessImages } from '../generate/images.js';
import type { BatchRequest } from '../generate/options.js';
import { hasTokenizer } from '../generate/prompt.js';
import { validateSampling, type SamplingOptions } from '../generate/sampling.js';
import type { LoadedLlava } from '../models/llava/load.js';
import { preprocessOptionsFromModel } from '../vision/config.js';
import { debug } from '../util/log.js';

/** One request of the file and where it came from. */
export interface BatchLine {
  /** 1-based line number in the file. */
  line: number;
  request: BatchRequest;
  /** Image paths resolved against the file's folder. */
  images: string[];
  /** The line's `id`, when given. */
  id?: unknown;
}

const SAMPLING_FIELDS: Record<string, keyof SamplingOptions> = {
  temperature: 'temperature', top_p: 'topP', top_k: 'topK', min_p: 'minP', repetition_penalty: 'repetitionPenalty',
};
const FIELDS = ['prompt', 'input_ids', 'image', 'images', 'system', 'template', ...Object.keys(SAMPLING_FIELDS), 'seed', 'max_new_tokens', 'stop', 'id'];

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');

/**
 * The requests of a JSONL file, each line's fields over `defaults` (the command line's). Errors name the
 * file, the line and the field.
 */
export function readBatchFile(file: string, defaults: BatchRequest): BatchLine[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`--batch ${file}: cannot read it (${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message})`);
  }
  const dir = path.dirname(file);
  const out: BatchLine[] = [];
  text.split('\n').forEach((raw, k) => {
    const line = k + 1;
    if (raw.trim() === '') return;
    const where = `${file}:${line}`;
    let o: unknown;
    try {
      o = JSON.parse(raw);
    } catch (e) {
      throw new Error(`${where}: not valid JSON (${(e as Error).message})`);
    }
    if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new Error(`${where}: expected a JSON object, got ${raw.trim().slice(0, 40)}`);
    const v = o as Record<string, unknown>;
    const field = (name: string, want: string) => new Error(`${where}: field "${name}" must be ${want}, got ${JSON.stringify(v[name])}`);
    const unknown = Object.keys(v).find((f) => !FIELDS.includes(f));
    if (unknown !== undefined) throw new Error(`${where}: unknown field "${unknown}" (fields: ${FIELDS.join(', ')})`);
    if ((v.prompt === undefined) === (v.input_ids === undefined)) throw new Error(`${where}: give exactly one of the fields "prompt" and "input_ids"`);
    if (v.prompt !== undefined && typeof v.prompt !== 'string') throw field('prompt', 'a string');
    if (v.input_ids !== undefined && !(Array.isArray(v.input_ids) && v.input_ids.length > 0 && v.input_ids.every(isInt))) throw field('input_ids', 'a non-empty array of integers');
    if (v.image !== undefined && v.images !== undefined) throw new Error(`${where}: give at most one of the fields "image" and "images"`);
    if (v.image !== undefined && typeof v.image !== 'string') throw field('image', 'a file path (string)');
    if (v.images !== undefined && !isStrings(v.images)) throw field('images', 'an array of file paths');
    for (const f of ['system', 'template'] as const) if (v[f] !== undefined && typeof v[f] !== 'string') throw field(f, 'a string');
    const req: BatchRequest = { ...defaults };
    for (const [f, api] of Object.entries(SAMPLING_FIELDS)) {
      if (v[f] === undefined) continue;
      if (typeof v[f] !== 'number') throw field(f, 'a number');
      try {
        validateSampling({ [api]: v[f] });
      } catch (e) {
        throw new Error(`${where}: field "${f}"${(e as Error).message.slice(api.length)}`);
      }
      req[api] = v[f] as number;
    }
    if (v.seed !== undefined) {
      if (!isInt(v.seed)) throw field('seed', 'an integer');
      req.seed = v.seed;
    }
    if (v.max_new_tokens !== undefined) {
      if (!(isInt(v.max_new_tokens) && v.max_new_tokens >= 0)) throw field('max_new_tokens', 'a non-negative integer');
      req.maxNewTokens = v.max_new_tokens;
    }
    if (v.stop !== undefined) {
      const stop = typeof v.stop === 'string' ? [v.stop] : v.stop;
      if (!isStrings(stop) || stop.some((s) => s.length === 0)) throw field('stop', 'a non-empty string or an array of them');
      req.stop = stop;
    }
    if (v.prompt !== undefined) {
      req.prompt = v.prompt as string;
      if (v.system !== undefined) req.system = v.system as string;
      if (v.template !== undefined) req.template = v.template as string;
    } else {
      if (v.system !== undefined || v.template !== undefined) throw new Error(`${where}: "system" and "template" apply to "prompt", not to "input_ids"`);
      req.inputIds = v.input_ids as number[];
      delete req.system;
      delete req.template;
    }
    const images = (v.images as string[] | undefined) ?? (v.image !== undefined ? [v.image as string] : []);
    out.push({ line, request: req, images: images.map((p) => path.resolve(dir, p)), ...(v.id !== undefined ? { id: v.id } : {}) });
  });
  if (out.length === 0) throw new Error(`--batch ${file}: no requests (one JSON object per line)`);
  return out;
}

/** `f()` with a "request i:" error turned into "FILE:LINE:" (the line the request came from). */
async function atLine<T>(file: string, lines: readonly BatchLine[], f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    const m = e instanceof Error ? /^request (\d+): /.exec(e.message) : null;
    if (m) (e as Error).message = `${file}:${lines[Number(m[1])]!.line}: ${(e as Error).message.slice(m[0].length)}`;
    throw e;
  }
}

/** Runs the file's requests as one batch and prints JSON lines (see the header). */
export async function runBatch(
  loaded: LoadedLlava, file: string, lines: readonly BatchLine[],
  opts: { cacheDtype: 'f32' | 'f16'; imageMode?: 'pad' | 'crop'; stream?: boolean },
): Promise<void> {
  if (!hasTokenizer(loaded.dir)) throw new Error(`${loaded.dir} has no tokenizer (tokenizer.model or tokenizer.json): --batch needs one to decode the replies`);
  const prep = lines.some((l) => l.images.length > 0)
    ? preprocessOptionsFromModel(loaded.dir, { visionTower: loaded.towerDir ?? undefined, mode: opts.imageMode }).options
    : null;
  const pixels: (Tensor | null)[] = [];
  for (const l of lines) {
    try {
      pixels.push(l.images.length === 0 ? null : await preprocessImages(l.images, prep!, loaded.config.vision));
    } catch (e) {
      throw new Error(`${file}:${l.line}: ${(e as Error).message}`);
    }
  }
  const requests = lines.map((l) => l.request);
  const outputs = lines.map(() => ({ ids: [] as number[], text: '' }));
  const summary = await atLine(file, lines, async () => {
    const it = generateBatchTokens(loaded, requests, pixels, { cacheDtype: opts.cacheDtype });
    for (let r = it.next(); ; r = it.next()) {
      if (r.done) return r.value;
      const { index, text, tokenId } = r.value;
      outputs[index]!.ids.push(tokenId);
      outputs[index]!.text += text;
      if (opts.stream) process.stdout.write(`${JSON.stringify({ index, text, token_id: tokenId })}\n`);
    }
  });
  debug('timing', `batch of ${lines.length}: prefill of ${summary.paddedPositions} padded positions (vision tower included) ${(summary.prefillMs / 1000).toFixed(2)} s, ` +
    `decode ${(summary.decodeMs / 1000).toFixed(2)} s`);
  if (opts.stream) return;
  lines.forEach((l, i) => {
    const inputIds = requestIds(loaded, l.request, l.images.length).ids;
    process.stdout.write(`${JSON.stringify({
      index: i, line: l.line, ...(l.id !== undefined ? { id: l.id } : {}),
      input_ids: inputIds, output_ids: outputs[i]!.ids, text: outputs[i]!.text.trim(), finish: summary.rows[i]!.finish,
    })}\n`);
  });
}
