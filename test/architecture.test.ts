/**
 * Layering rules of the source tree, checked by parsing import specifiers (see the layer diagram in the
 * README): no cycles between layers, the engine never imports a concrete backend, model families import
 * each other only through llava, train and generate stay apart, nothing imports the CLI.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const src = path.join(root, 'src');

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []);
}

/** Layer of a file: its first folder under src/ (backends/ts and backends/native count separately). */
function layer(file: string): string {
  const rel = path.relative(src, file).split(path.sep);
  if (rel.length === 1) return 'entry';
  if (rel[0] === 'backends' && rel.length > 2) return `backends/${rel[1]}`;
  if (rel[0] === 'models' && rel.length > 2) return `models/${rel[1]}`;
  return rel[0]!;
}

interface Edge { from: string; to: string; file: string; spec: string }

function edges(): Edge[] {
  const out: Edge[] = [];
  for (const file of walk(src)) {
    const text = readFileSync(file, 'utf8');
    const re = /(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|^import\s+['"]([^'"]+)['"]/gm;
    for (const m of text.matchAll(re)) {
      const spec = m[1] ?? m[2] ?? m[3]!;
      if (!spec.startsWith('.')) continue;
      const target = path.resolve(path.dirname(file), spec).replace(/\.js$/, '.ts');
      out.push({ from: layer(file), to: layer(target), file: path.relative(root, file), spec });
    }
  }
  return out;
}

// Allowed imports between layers (a layer may always import itself and util).
const ALLOWED: Record<string, string[]> = {
  util: [],
  engine: [],
  'backends/ts': ['engine'],
  'backends/native': ['engine'],
  backends: ['engine', 'backends/ts', 'backends/native'],
  nn: ['engine'],
  io: ['engine'],
  tokenizer: ['engine'],
  vision: ['engine'],
  'models/clip': ['engine', 'nn', 'io'],
  'models/llama': ['engine', 'nn', 'io'],
  'models/llava': ['engine', 'nn', 'io', 'tokenizer', 'models/clip', 'models/llama'],
  models: ['engine', 'nn', 'io', 'models/clip', 'models/llama', 'models/llava'],
  data: ['engine', 'tokenizer', 'vision'],
  train: ['engine', 'nn', 'io', 'data', 'tokenizer', 'vision', 'models', 'models/clip', 'models/llama', 'models/llava'],
  generate: ['engine', 'backends', 'nn', 'tokenizer', 'vision', 'models', 'models/clip', 'models/llama', 'models/llava'],
  eval: ['engine', 'generate', 'data', 'vision', 'tokenizer', 'models', 'models/llava'],
  serve: ['engine', 'generate', 'data', 'vision', 'tokenizer', 'models', 'models/llava'],
  entry: ['*'],
  cli: ['*'],
};

test('imports respect the layer diagram', () => {
  const bad: string[] = [];
  for (const e of edges()) {
    if (e.from === e.to || e.to === 'util') continue;
    const allowed = ALLOWED[e.from];
    assert.ok(allowed, `no layer rule for '${e.from}' (${e.file}); add it to test/architecture.test.ts`);
    if (e.to === 'cli' && e.from !== 'cli') bad.push(`${e.file} imports the CLI (${e.spec})`);
    else if (!allowed.includes('*') && !allowed.includes(e.to)) bad.push(`${e.file} (${e.from}) imports ${e.to} (${e.spec})`);
  }
  assert.deepEqual(bad, []);
});

test('the engine never imports a concrete backend, and native C++ knows nothing of TypeScript', () => {
  const engineToBackend = edges().filter((e) => e.from === 'engine' && e.to.startsWith('backends'));
  assert.deepEqual(engineToBackend.map((e) => e.file), []);
  const nativeDir = path.join(root, 'native', 'src');
  if (existsSync(nativeDir)) {
    for (const f of readdirSync(nativeDir, { recursive: true }) as string[]) {
      if (!/\.(cc|h)$/.test(f)) continue;
      const text = readFileSync(path.join(nativeDir, f), 'utf8');
      assert.doesNotMatch(text, /#include\s+"[^"]*\.(ts|js)"/, f);
    }
  }
});

test('no import cycles between layers', () => {
  const graph = new Map<string, Set<string>>();
  for (const e of edges()) {
    if (e.from === e.to) continue;
    if (!graph.has(e.from)) graph.set(e.from, new Set());
    graph.get(e.from)!.add(e.to);
  }
  const state = new Map<string, number>();
  const cycle: string[] = [];
  const visit = (n: string, stack: string[]): boolean => {
    if (state.get(n) === 1) { cycle.push(...stack, n); return true; }
    if (state.get(n) === 2) return false;
    state.set(n, 1);
    for (const m of graph.get(n) ?? []) if (visit(m, [...stack, n])) return true;
    state.set(n, 2);
    return false;
  };
  for (const n of graph.keys()) if (visit(n, [])) break;
  assert.deepEqual(cycle, [], `layer cycle: ${cycle.join(' → ')}`);
});
