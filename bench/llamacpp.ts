/**
 * Builds the llama.cpp peers of the decode and qgemm benchmarks: fetches node-llama-cpp@3.21.1 with
 * `npm pack` (its package carries the llama.cpp source as a git bundle), clones that bundle, builds ggml's
 * CPU backend with cmake and compiles a harness from bench/llamacpp/ (decode_matvec.cpp, prefill_mulmat.cpp)
 * against it — all inside .bench-cache/ (git ignored). Nothing of llama.cpp is part of this repository;
 * every step is cached, so only the first run pays for it (a few minutes on 2 cores per ggml build).
 *
 * Not here: timing or reporting (bench/decode.ts, bench/qgemm.ts).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const NODE_LLAMA_CPP = 'node-llama-cpp@3.21.1';

/** How ggml is compiled: its default (-march=native: whatever this CPU has) or AVX2/FMA/F16C only. */
export type LlamaIsa = 'native' | 'avx2';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const cache = path.join(root, '.bench-cache');

function sh(cmd: string, args: string[], cwd: string, timeoutS: number): string | null {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: timeoutS * 1000, maxBuffer: 64 << 20 });
  if (r.error) return `${cmd} ${args.join(' ')}: ${r.error.message}`;
  if (r.status !== 0) return `${cmd} ${args.join(' ')} exited ${r.status}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`;
  return null;
}

function has(cmd: string): boolean {
  return spawnSync(cmd, ['--version'], { encoding: 'utf8' }).status === 0;
}

/** The llama.cpp source tree in the cache, fetched if missing; a reason string when that fails. */
function source(log: (s: string) => void): { dir: string } | { reason: string } {
  const dir = path.join(cache, 'llama.cpp');
  if (existsSync(path.join(dir, 'ggml', 'CMakeLists.txt'))) return { dir };
  mkdirSync(cache, { recursive: true });
  let tgz = readdirSync(cache).find((f) => f.startsWith('node-llama-cpp-') && f.endsWith('.tgz'));
  if (!tgz) {
    log(`fetching ${NODE_LLAMA_CPP} (npm pack) for its llama.cpp source …`);
    const e = sh('npm', ['pack', NODE_LLAMA_CPP, '--pack-destination', cache], cache, 600);
    if (e) return { reason: e };
    tgz = readdirSync(cache).find((f) => f.startsWith('node-llama-cpp-') && f.endsWith('.tgz'));
    if (!tgz) return { reason: 'npm pack produced no tarball' };
  }
  const pkg = path.join(cache, 'package');
  if (!existsSync(path.join(pkg, 'llama'))) {
    const e = sh('tar', ['xzf', tgz], cache, 300);
    if (e) return { reason: e };
  }
  const bundle = path.join(pkg, 'llama', 'gitRelease.bundle');
  if (!existsSync(bundle)) return { reason: `${NODE_LLAMA_CPP} has no llama/gitRelease.bundle (the source layout changed)` };
  const e = sh('git', ['clone', '-q', bundle, dir], cache, 300);
  if (e) return { reason: e };
  // The bundled tree omits ggml's pkg-config template, which ggml's CMakeLists configures unconditionally.
  const pc = path.join(dir, 'ggml', 'ggml.pc.in');
  if (!existsSync(pc)) writeFileSync(pc, '');
  return { dir };
}

/** Which harness to build and how: `llamafile` adds ggml's tiled GEMMs (GGML_LLAMAFILE), which
 * llama.cpp's own build and node-llama-cpp's binaries enable and a bare ggml build leaves off. */
export interface HarnessOptions {
  harness?: 'decode_matvec' | 'prefill_mulmat';
  llamafile?: boolean;
}

/** Path of the compiled harness for `isa`, building what is missing; or the reason it cannot be built. */
export function llamaHarness(isa: LlamaIsa, log: (s: string) => void, opts: HarnessOptions = {}): { exe: string } | { reason: string } {
  for (const tool of ['cmake', 'g++', 'git', 'tar']) if (!has(tool)) return { reason: `${tool} is not installed` };
  const src = source(log);
  if ('reason' in src) return src;
  const variant = `${isa}${opts.llamafile ? '-llamafile' : ''}`;
  const build = path.join(cache, `ggml-${variant}`);
  const libs = [path.join(build, 'src', 'libggml-cpu.a'), path.join(build, 'src', 'libggml-base.a')];
  if (!libs.every(existsSync)) {
    log(`building ggml (${variant}) with cmake — a few minutes the first time …`);
    const flags = isa === 'native' ? [] : ['-DGGML_NATIVE=OFF', '-DGGML_AVX=ON', '-DGGML_AVX2=ON', '-DGGML_FMA=ON', '-DGGML_F16C=ON'];
    if (opts.llamafile) flags.push('-DGGML_LLAMAFILE=ON');
    const e = sh('cmake', ['-S', path.join(src.dir, 'ggml'), '-B', build, '-DCMAKE_BUILD_TYPE=Release', '-DBUILD_SHARED_LIBS=OFF',
      '-DGGML_BUILD_TESTS=OFF', '-DGGML_BUILD_EXAMPLES=OFF', ...flags], cache, 600)
      ?? sh('cmake', ['--build', build, '-j', '2', '--target', 'ggml-cpu'], cache, 1800);
    if (e) return { reason: e };
  }
  const name = opts.harness ?? 'decode_matvec';
  const harness = path.join(root, 'bench', 'llamacpp', `${name}.cpp`);
  const exe = path.join(cache, `${name}-${variant}`);
  if (!existsSync(exe) || statSync(exe).mtimeMs < Math.max(statSync(harness).mtimeMs, statSync(path.join(root, 'bench', 'llamacpp', 'harness.h')).mtimeMs, ...libs.map((l) => statSync(l).mtimeMs))) {
    const e = sh('g++', ['-O2', '-std=c++17', '-I', path.join(src.dir, 'ggml', 'include'), harness, ...libs,
      '-fopenmp', '-lpthread', '-lm', '-o', exe], cache, 600);
    if (e) return { reason: e };
  }
  return { exe };
}

/** Runs the harness: microseconds per matrix for each spec "dtype:n:k:threads" (median of reps passes). */
export function runLlama(exe: string, countMb: number, reps: number, specs: string[]): Map<string, number> | string {
  const r = spawnSync(exe, [String(countMb), String(reps), ...specs], { encoding: 'utf8', timeout: 1800_000, maxBuffer: 16 << 20 });
  if (r.error || r.status !== 0) return `llama.cpp harness failed: ${r.error?.message ?? r.stderr.trim()}`;
  const out = new Map<string, number>();
  for (const line of r.stdout.trim().split('\n')) {
    const [dt, n, k, t, us] = line.trim().split(/\s+/);
    out.set(`${dt}:${n}:${k}:${t}`, Number(us));
  }
  return out;
}
