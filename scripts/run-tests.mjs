#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js) with Node's built-in test runner.
// Extra arguments filter the files by substring: `npm test -- engine/consistency`.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const walk = (d) => readdirSync(d, { withFileTypes: true }).flatMap((e) =>
  e.isDirectory() ? walk(path.join(d, e.name)) : e.name.endsWith('.test.js') ? [path.join(d, e.name)] : []);
const filters = process.argv.slice(2);
// Filters match the path below dist/test (not the checkout's own folder names).
const testRoot = path.join(root, 'dist', 'test');
const files = walk(testRoot).sort()
  .filter((f) => filters.length === 0 || filters.some((s) => path.relative(testRoot, f).includes(s)));
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--test', ...files], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
