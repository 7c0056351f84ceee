/**
 * Test helpers for checkpoint I/O: temporary folders, the committed fixture folder, expected values from
 * the Python generator, and safetensors bytes assembled by hand (independently of the writer under test)
 * so that tests can corrupt any field.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Tensor } from '../../src/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** test/fixtures/io in the source tree (fixtures are not copied into dist). */
export const FIXTURES = path.join(root, 'test', 'fixtures', 'io');

/** A fresh temporary folder removed when the test file ends. */
export function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'llava-io-'));
  after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

export interface ExpectedTensor {
  dtype: string;
  shape: number[];
  /** Raw bit patterns for F32/F16/BF16. */
  bits?: number[];
  /** Values for integer, bool and F64 tensors. */
  values?: number[];
}

/** expected.json written by make_bin.py: fixture → tensor name → expectation. */
export function expected(): Record<string, Record<string, ExpectedTensor>> {
  return JSON.parse(readFileSync(path.join(FIXTURES, 'expected.json'), 'utf8'));
}

const ENGINE: Record<string, string> = { F32: 'f32', F16: 'f16', BF16: 'bf16', F64: 'f64', I64: 'i32', I32: 'i32', U8: 'u8', BOOL: 'bool' };

/** Storage words of a contiguous tensor as numbers (raw bits for f32/f16/bf16, values otherwise). */
export function words(t: Tensor): number[] {
  const d = t.data;
  const n = t.numel;
  if (t.dtype === 'f32') return Array.from(new Uint32Array(d.buffer, d.byteOffset + t.offset * 4, n));
  return Array.from(d.subarray(t.offset, t.offset + n) as ArrayLike<number>);
}

/** Compares a read tensor bit for bit with its expectation. */
export function matchesExpected(t: Tensor, e: ExpectedTensor): string | null {
  if (t.dtype !== ENGINE[e.dtype]) return `dtype ${t.dtype}, expected ${ENGINE[e.dtype]} for ${e.dtype}`;
  if (t.shape.join(',') !== e.shape.join(',')) return `shape [${t.shape}], expected [${e.shape}]`;
  if (!t.isContiguous() || t.offset !== 0) return 'not a contiguous tensor at offset 0';
  const want = e.bits ?? e.values!;
  const got = e.dtype === 'F64' ? t.toArray() : words(t);
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i])) return `element ${i} is ${got[i]}, expected ${want[i]}`;
  }
  return got.length === want.length ? null : `${got.length} elements, expected ${want.length}`;
}

/** 8-byte little-endian length + header text + data: a safetensors file with every field under test control. */
export function craftSafetensors(header: string | object, data: ArrayLike<number> = []): Uint8Array {
  const text = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const out = new Uint8Array(8 + text.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  out.set(data, 8 + text.length);
  return out;
}

/** Little-endian bytes of float32 values. */
export function f32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}
