/**
 * The native addon on an x86-64 CPU without AVX: the kernel suites run in-process under qemu-user emulating
 * a Nehalem (SSE4.2, no AVX/AVX2/FMA/F16C), where any AVX instruction reaching a scalar path would be an
 * illegal instruction. This guards the rule that AVX2 code lives only in run-time-selected units.
 * CI installs qemu-user (.ci/run); elsewhere the test is skipped when qemu-x86_64 is not installed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const qemu = spawnSync('qemu-x86_64', ['-version'], { encoding: 'utf8' });
const usable = process.arch === 'x64' && qemu.status === 0;
/** The child runs its tests standalone (TAP text), not as a child of this runner (binary protocol). */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LLAVA_QUIET: '1' };
  delete env.NODE_TEST_CONTEXT;
  return env;
}
const skip = !usable && (process.env.CI === 'true' ? false : 'qemu-x86_64 not installed (x64 only)');

for (const suite of ['native/kernels.test.js', 'engine/consistency.test.js']) {
  test(`${suite} passes on a CPU without AVX (qemu -cpu Nehalem)`, { skip, timeout: 300_000 }, () => {
    assert.ok(usable, 'CI=true requires qemu-x86_64 (apt-get install qemu-user)');
    const r = spawnSync('qemu-x86_64', ['-cpu', 'Nehalem', process.execPath, path.join(root, 'dist', 'test', suite)], {
      cwd: root,
      encoding: 'utf8',
      env: childEnv(),
      maxBuffer: 64 * 1024 * 1024,
    });
    const summary = r.stdout.split('\n').filter((l) => /^# (pass|fail)/.test(l)).join(', ');
    assert.equal(r.status, 0, `exit ${r.status ?? r.signal}; ${summary}\n${r.stderr.slice(-2000)}\n${r.stdout.split('\n').filter((l) => l.startsWith('not ok')).slice(0, 10).join('\n')}`);
    assert.match(r.stdout, /# fail 0/);
  });
}

test('under emulation the addon reports no AVX2 and runs the scalar path', { skip, timeout: 120_000 }, () => {
  const script = `const { loadAddon } = await import(${JSON.stringify(path.join(root, 'dist', 'src', 'backends', 'native', 'addon.js'))});
    await import(${JSON.stringify(path.join(root, 'dist', 'src', 'index.js'))});
    const a = loadAddon(); process.stdout.write(JSON.stringify({ cpu: a.cpu(), backend: (await import(${JSON.stringify(path.join(root, 'dist', 'src', 'engine', 'backend.js'))})).activeBackend().describe() }));`;
  const r = spawnSync('qemu-x86_64', ['-cpu', 'Nehalem', process.execPath, '--input-type=module', '-e', script], {
    encoding: 'utf8', env: childEnv(),
  });
  assert.equal(r.status, 0, r.stderr);
  const info = JSON.parse(r.stdout);
  assert.equal(info.cpu.avx2, false);
  assert.match(info.backend, /native \(scalar/);
});
