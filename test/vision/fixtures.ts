/**
 * Test-side access to the preprocessing fixtures: paths, and reading an expected PNG with sharp directly
 * (not through the decoder under test).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const fixtures = path.join(root, 'test', 'fixtures', 'preprocess');
export const extra = path.join(fixtures, 'extra');

export interface Rgb { width: number; height: number; data: Uint8Array }

/** An 8-bit RGB PNG as written by Pillow, read straight through libvips. */
export async function readExpectedRgb(file: string): Promise<Rgb> {
  const { data, info } = await sharp(file, { ignoreIcc: true }).raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`${file}: expected an RGB PNG, got ${info.channels} channels`);
  return { width: info.width, height: info.height, data: new Uint8Array(data) };
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function readJson<T>(file: string): T {
  return JSON.parse(readFileSync(file, 'utf8')) as T;
}

/** Largest absolute difference and the number of differing samples. */
export function diffStats(a: Uint8Array, b: Uint8Array): { max: number; count: number } {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let max = 0;
  let count = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (d) count++;
    if (d > max) max = d;
  }
  return { max, count };
}

/** The shared-layout pipeline case description (case.json). */
export interface PipelineCase {
  input: string;
  input_size_wh: [number, number];
  size: number;
  pad: boolean;
  pad_background: [number, number, number] | null;
  resized_hw: [number, number];
  crop_hw: [number, number];
  expected_crop_hwc_u8_sha256: string;
  pixel_values_shape: [number, number, number];
  pixel_values_sum_f64: number;
  pixel_values_samples_c_y_x_value: [number, number, number, number][];
  mean: number[];
  std: number[];
}
