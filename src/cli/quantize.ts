/**
 * `llava quantize --model DIR --type f16|q8_0|q4_0 --out DIR [--mmproj-type f16|q8_0] [--vision-tower DIR]`:
 * writes a model as the text GGUF and the mmproj GGUF llama.cpp reads, plus `llava-gguf.json` (what GGUF
 * cannot say), so that `llava run/chat/inspect --model OUT` needs no other file. Also written next to them:
 * `preprocessor_config.json` (the image preprocessing the source asks for, spelled out), and the source's
 * `tokenizer_config.json` / `generation_config.json` / `chat_template.json|jinja` when it has them (chat
 * template, generation defaults); a Jinja chat template also goes into the text GGUF. Per-tensor types follow models/llava/weight-types.ts. Progress goes to stderr; every file is
 * written atomically, the folder config last.
 *
 * Not here: the GGUF conventions and conversion (models/llava/gguf-*.ts).
 */
import { copyFileSync, existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import '../backends/index.js';
import { folderTokenizer } from '../generate/prompt.js';
import { modelPreprocessing } from '../generate/model-assets.js';
import { writeLlavaGguf, writeTextAtomic } from '../models/llava/gguf-write.js';
import { describeLlava } from '../models/llava/load.js';
import { parseMmprojScheme, parseQuantScheme } from '../models/llava/weight-types.js';
import { readChatTemplate, tokenizerToGguf } from '../tokenizer/index.js';
import type { PreprocessOptions } from '../vision/preprocess.js';

export interface QuantizeOptions {
  model: string;
  type: string;
  out: string;
  mmprojType: string;
  visionTower?: string;
}

/** The preprocessing options as a Hugging Face processor config (vision/config.ts reads it back). */
function processorConfig(p: PreprocessOptions): Record<string, unknown> {
  return {
    image_processor_type: 'CLIPImageProcessor',
    do_resize: p.size !== null,
    ...(p.size !== null ? { size: { shortest_edge: p.size } } : {}),
    resample: 3,
    do_center_crop: p.crop !== null,
    ...(p.crop ? { crop_size: { height: p.crop[0], width: p.crop[1] } } : {}),
    do_rescale: p.rescaleFactor !== null,
    ...(p.rescaleFactor !== null ? { rescale_factor: p.rescaleFactor ?? 1 / 255 } : {}),
    do_normalize: p.normalize !== false,
    image_mean: p.mean,
    image_std: p.std,
    image_aspect_ratio: p.mode === 'pad' ? 'pad' : 'square',
  };
}

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

export async function quantize(o: QuantizeOptions): Promise<void> {
  const scheme = parseQuantScheme(o.type, '--type');
  const mmScheme = parseMmprojScheme(o.mmprojType, '--mmproj-type');
  if (existsSync(o.out) && !statSync(o.out).isDirectory()) throw new Error(`--out ${o.out} exists and is not a folder`);
  if (path.resolve(o.out) === path.resolve(o.model)) throw new Error('--out must be a different folder from --model');
  const t0 = performance.now();
  // Tensors are read into fresh memory rather than mapped: each is dropped once written, so resident memory
  // stays near one tensor instead of growing with the mapped checkpoint.
  const model = describeLlava(o.model, { visionTower: o.visionTower, mmap: false });
  const prep = modelPreprocessing(model).options;
  const tok = folderTokenizer(o.model);
  if (!tok) process.stderr.write(`quantize: ${o.model} has no tokenizer; the GGUF file will carry none (llama.cpp needs one)\n`);
  mkdirSync(o.out, { recursive: true });

  let last = 0;
  const result = await writeLlavaGguf({
    model, outDir: o.out, scheme, mmprojScheme: mmScheme, name: path.basename(path.resolve(o.model)),
    tokenizer: tok ? tokenizerToGguf(tok, model.config.text.vocabSize) : null,
    chatTemplate: readChatTemplate(o.model),
    legacy: tok?.legacy,
    mean: prep.mean ?? [0.48145466, 0.4578275, 0.40821073],
    std: prep.std ?? [0.26862954, 0.26130258, 0.27577711],
    onProgress: (file, done, total, name) => {
      const now = performance.now();
      if (done === total || now - last > 1000) {
        last = now;
        process.stderr.write(`quantize: ${file} ${done}/${total} tensors (${name}), ${((now - t0) / 1000).toFixed(1)} s\n`);
      }
    },
  });
  writeTextAtomic(path.join(o.out, 'preprocessor_config.json'), JSON.stringify(processorConfig(prep), null, 2) + '\n');
  for (const f of ['tokenizer_config.json', 'generation_config.json', 'chat_template.json', 'chat_template.jinja']) {
    const src = path.join(o.model, f);
    if (existsSync(src) && path.resolve(src) !== path.resolve(o.out, f)) copyFileSync(src, path.join(o.out, f));
  }
  const size = (f: string) => statSync(f).size;
  process.stdout.write(`${result.text} (${scheme}, ${mb(size(result.text))})\n${result.mmproj} (${mmScheme}, ${mb(size(result.mmproj))})\n${result.config}\n`);
  process.stderr.write(`quantize: done in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
}
