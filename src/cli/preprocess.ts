/**
 * `llava preprocess`: the uint8 image a model sees (after pad/resize/crop) written losslessly as PNG, and
 * optionally its float32 `pixel_values` [1, 3, N, N] as safetensors. The options come from `--model DIR`
 * (its processor config and config.json) or from `--size N` with OpenAI CLIP mean/std; `--pad`/`--crop`
 * override the mode (with `--size` alone the mode is plain CLIP crop).
 */
import path from 'node:path';
import { CLIP_MEAN, CLIP_STD } from '../vision/clip.js';
import { writePng } from '../vision/encode.js';
import { preprocessImage, type AspectMode, type PreprocessOptions } from '../vision/preprocess.js';
import { preprocessOptionsFromModel } from '../vision/config.js';

export interface PreprocessCliOptions {
  image?: string;
  model?: string;
  visionTower?: string;
  size?: string;
  pad?: boolean;
  crop?: boolean;
  out?: string;
  dumpPixels?: string;
  autoOrient?: boolean;
  maxPixels?: string;
  json?: boolean;
}

function positiveInt(flag: string, v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n <= 0) throw new Error(`${flag} must be a positive integer, got '${v}'`);
  return n;
}

export async function preprocess(o: PreprocessCliOptions): Promise<void> {
  if (!o.image) throw new Error('preprocess needs --image FILE');
  if (!o.out) throw new Error('preprocess needs --out OUT.png');
  if (!o.model === !o.size) throw new Error('preprocess needs exactly one of --model DIR and --size N');
  if (o.pad && o.crop) throw new Error('preprocess takes --pad or --crop, not both');
  if (o.visionTower && !o.model) throw new Error('--vision-tower applies only with --model');
  const mode: AspectMode | undefined = o.pad ? 'pad' : o.crop ? 'crop' : undefined;
  let options: PreprocessOptions;
  let sources: string[];
  if (o.model) {
    ({ options, sources } = preprocessOptionsFromModel(o.model, { visionTower: o.visionTower, mode }));
  } else {
    const size = positiveInt('--size', o.size!);
    options = { size, crop: [size, size], mode: mode ?? 'crop', mean: CLIP_MEAN, std: CLIP_STD };
    sources = [`--size ${size} with OpenAI CLIP mean/std, mode ${options.mode}`];
  }
  if (o.autoOrient) options.autoOrient = true;
  if (o.maxPixels !== undefined) options.maxPixels = positiveInt('--max-pixels', o.maxPixels);
  const r = await preprocessImage(o.image, options);
  await writePng(r.imageU8, o.out);
  if (o.dumpPixels) {
    const { writeSafetensors } = await import('../io/index.js');
    await writeSafetensors(o.dumpPixels, { pixel_values: r.pixelValues }, {
      metadata: { image: path.basename(o.image), mode: r.mode, format: 'pt' },
    });
  }
  const summary = {
    image: o.image,
    original: r.original,
    mode: r.mode,
    resized: r.resized,
    output: { width: r.imageU8.width, height: r.imageU8.height },
    pixel_values: [...r.pixelValues.shape],
    out: o.out,
    dump_pixels: o.dumpPixels ?? null,
    sources,
  };
  if (o.json) {
    process.stdout.write(JSON.stringify(summary) + '\n');
    return;
  }
  const s = (d: { width: number; height: number }) => `${d.width}×${d.height}`;
  process.stdout.write(`${o.image}: ${s(r.original)} → ${r.mode} → ${s(r.resized)} → ${s(summary.output)}; wrote ${o.out}` +
    `${o.dumpPixels ? ` and ${o.dumpPixels} (pixel_values f32 [${summary.pixel_values.join(', ')}])` : ''}\n`);
  for (const line of sources) process.stdout.write(`  ${line}\n`);
}
