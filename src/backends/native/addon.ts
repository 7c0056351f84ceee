/**
 * Loads the compiled addon (build/Release/llava_native.node) and wraps its calling convention: kernels are
 * resolved by name to the best variant this CPU runs (or a forced ISA level for tests), then called with
 * typed arrays (zero-copy) and a vector of numeric parameters.
 *
 * ISA level: LLAVA_NATIVE_ISA=avx512|avx2|scalar|naive (default: the best available); `setNativeIsa`
 * switches at run time so one test process can check the AVX2 and scalar paths and the naive twins too.
 * A level caps the variants: on a CPU without AVX-512 the 'avx512' level runs the AVX2 ones.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TypedArray } from '../../engine/dtype.js';

export interface NativeAddon {
  kernels(): string[];
  resolve(name: string, maxIsa: number): number;
  call(id: number, arrays: TypedArray[], params: Float64Array, count: number): void;
  setThreads(n: number): number;
  threads(): number;
  /** avx512: AVX-512 F/BW/DQ/VL and VNNI all present (what the 'avx512' kernel variants need). */
  cpu(): { avx2: boolean; fma: boolean; f16c: boolean; avx512: boolean; arch: string };
  /** True when the addon set glibc to keep freed tensor memory for reuse (see addon.cc). */
  mallocTuned(): boolean;
  /** A copy-on-write mapping of the whole file (see native/src/mmap.h); absent where files cannot be mapped. */
  mapFile?(path: string, willneed?: boolean): { handle: unknown; bytes: number; maxView: number };
  /** An ArrayBuffer over a byte range of a mapping (bounds-checked; holds the mapping alive). */
  mapView?(handle: unknown, byteOffset: number, byteLength: number): ArrayBuffer;
  /** Releases the resident pages of a view from mapView (it stays valid); returns the bytes released. */
  mapRelease?(view: ArrayBuffer): number;
}

export type IsaLevel = 'naive' | 'scalar' | 'avx2' | 'avx512';
const ISA_NUM: Record<IsaLevel, number> = { naive: 0, scalar: 1, avx2: 2, avx512: 3 };
/** Level names by number (the addon's kernel table reports numbers). */
export const ISA_NAMES: readonly IsaLevel[] = ['naive', 'scalar', 'avx2', 'avx512'];

function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = path.join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        if (JSON.parse(readFileSync(pj, 'utf8')).name === 'llava-ts') return dir;
      } catch {}
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find the llava-ts package root');
    dir = up;
  }
}

let addon: NativeAddon | null = null;
let loadError: Error | null = null;

/** The addon, or null with `nativeLoadError()` telling why. Loaded once. */
export function loadAddon(): NativeAddon | null {
  if (addon || loadError) return addon;
  if (process.env.LLAVA_BACKEND === 'ts' && process.env.CI !== 'true') {
    loadError = new Error('LLAVA_BACKEND=ts');
    return null;
  }
  try {
    const file = path.join(packageRoot(), 'build', 'Release', 'llava_native.node');
    if (!existsSync(file)) throw new Error(`${file} is missing (run: npm run build:native)`);
    addon = createRequire(import.meta.url)(file) as NativeAddon;
    const want = Number(process.env.LLAVA_THREADS ?? '') || os.availableParallelism();
    addon.setThreads(Math.max(1, Math.floor(want)));
  } catch (e) {
    loadError = e as Error;
    addon = null;
  }
  return addon;
}

export function nativeLoadError(): Error | null {
  return loadError;
}

const DEFAULT_ISA = ISA_NUM.avx512;
let isaLimit: number = ISA_NUM[process.env.LLAVA_NATIVE_ISA as IsaLevel] ?? DEFAULT_ISA;
let ids = new Map<string, number>();

/**
 * Cap the ISA level of native kernels (tests run the table at 'avx2' and 'scalar' and compare naive twins);
 * no argument restores the default (LLAVA_NATIVE_ISA, else the best available).
 */
export function setNativeIsa(level?: IsaLevel): void {
  isaLimit = level === undefined ? ISA_NUM[process.env.LLAVA_NATIVE_ISA as IsaLevel] ?? DEFAULT_ISA : ISA_NUM[level];
  ids = new Map();
}

/** The level whose variants actually run: the cap, lowered to what this CPU has. */
export function effectiveNativeIsa(): IsaLevel {
  const cpu = loadAddon()?.cpu();
  let n = isaLimit;
  if (n >= ISA_NUM.avx512 && !cpu?.avx512) n = ISA_NUM.avx2;
  if (n >= ISA_NUM.avx2 && !(cpu && cpu.avx2 && cpu.fma && cpu.f16c)) n = ISA_NUM.scalar;
  return ISA_NAMES[n]!;
}

/** The fast levels this CPU runs, best first ('avx512' only where the CPU has it): for tests. */
export function fastNativeIsas(): IsaLevel[] {
  const cpu = loadAddon()?.cpu();
  const out: IsaLevel[] = [];
  if (cpu?.avx512) out.push('avx512');
  if (cpu && cpu.avx2 && cpu.fma && cpu.f16c) out.push('avx2');
  return out;
}
export function nativeIsa(): IsaLevel {
  return (Object.keys(ISA_NUM) as IsaLevel[]).find((k) => ISA_NUM[k] === isaLimit)!;
}

/** True when `name` has a variant at the current ISA level (or below). */
export function hasKernel(name: string): boolean {
  return kernelId(name) >= 0;
}

function kernelId(name: string): number {
  let id = ids.get(name);
  if (id === undefined) {
    const a = loadAddon();
    id = a ? a.resolve(name, isaLimit) : -1;
    ids.set(name, id);
  }
  return id;
}

const params = new Float64Array(1024);

/** Run native kernel `name` on `arrays` with numeric `prm` (order documented by each kernel). */
export function runKernel(name: string, arrays: TypedArray[], prm: ArrayLike<number>): void {
  const id = kernelId(name);
  if (id < 0) throw new Error(`native kernel '${name}' is not built for ISA level ${nativeIsa()}`);
  if (prm.length > params.length) throw new Error(`native kernel '${name}': ${prm.length} parameters is too many`);
  for (let i = 0; i < prm.length; i++) params[i] = prm[i]!;
  addon!.call(id, arrays, params, prm.length);
}

/** Run a specific ISA variant (naive twins in tests), restoring the level afterwards. */
export function runKernelAt(level: IsaLevel, name: string, arrays: TypedArray[], prm: ArrayLike<number>): void {
  const prev = nativeIsa();
  setNativeIsa(level);
  try {
    runKernel(name, arrays, prm);
  } finally {
    setNativeIsa(prev);
  }
}
