#!/usr/bin/env node
// Builds the native addon (build/Release/llava_native.node) with node-gyp against the local Node headers.
//
// Never breaks an install: if the compiler or headers are missing, the package still works on the `ts`
// backend and this prints one warning line. With CI=true a failure is an error (otherwise the backend
// consistency suite would compare `ts` with itself).
//
// Usage: node scripts/build-native.mjs [--force]   (--force rebuilds even when the addon is up to date)
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const strict = process.env.CI === 'true';
const force = process.argv.includes('--force');
const addon = path.join(root, 'build', 'Release', 'llava_native.node');

function fail(msg) {
  if (strict) {
    console.error(`llava-ts: native build failed (CI=true makes this an error): ${msg}`);
    process.exit(1);
  }
  console.warn(`llava-ts: native addon not built (${msg}); running on the pure TypeScript backend`);
  process.exit(0);
}

if (process.env.LLAVA_SKIP_NATIVE === '1' && !strict) {
  console.warn('llava-ts: LLAVA_SKIP_NATIVE=1, native addon not built; running on the pure TypeScript backend');
  process.exit(0);
}

// Up to date? (newest source older than the addon)
function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}
if (!force && existsSync(addon)) {
  const src = Math.max(newest(path.join(root, 'native')), statSync(path.join(root, 'binding.gyp')).mtimeMs);
  if (statSync(addon).mtimeMs > src) process.exit(0);
}

// node-gyp: the one npm runs us with, else one installed beside npm, else a local dependency.
function findNodeGyp() {
  const candidates = [];
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  candidates.push(path.join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  candidates.push(path.join(path.dirname(process.execPath), 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  try {
    candidates.push(createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js'));
  } catch {}
  return candidates.find((c) => existsSync(c));
}

// Node headers: the installation's own include/node (offline machines cannot download them).
function findNodeDir() {
  const fromConfig = process.env.npm_config_nodedir;
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  for (const dir of [fromConfig, prefix].filter(Boolean)) {
    if (existsSync(path.join(dir, 'include', 'node', 'node_api.h'))) return dir;
  }
  return undefined;
}

const gyp = findNodeGyp();
if (!gyp) fail('node-gyp not found');
const nodedir = findNodeDir();
const args = [gyp, 'rebuild', '--release', `--jobs=${Math.max(1, (await import('node:os')).availableParallelism())}`];
if (nodedir) args.push(`--nodedir=${nodedir}`);
console.log(`llava-ts: building the native addon${nodedir ? ` (headers from ${nodedir})` : ''}`);
const r = spawnSync(process.execPath, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
if (r.status !== 0 || !existsSync(addon)) fail(`node-gyp exited with ${r.status ?? r.signal}`);
