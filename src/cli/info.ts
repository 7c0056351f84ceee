/**
 * `llava info`: what the engine runs on (backend, ISA, threads, native kernels and their variants).
 */
import { activeBackend, availableBackends } from '../engine/backend.js';
import '../backends/index.js';
import { ISA_NAMES, loadAddon, nativeLoadError } from '../backends/native/addon.js';

export async function info(opts: { json?: boolean }): Promise<void> {
  const addon = loadAddon();
  const kernels: Record<string, string[]> = {};
  for (const k of addon?.kernels() ?? []) {
    const [name, isa] = k.split(':') as [string, string];
    (kernels[name] ??= []).push(ISA_NAMES[Number(isa)] ?? isa);
  }
  const report = {
    backend: activeBackend().describe(),
    backends: availableBackends(),
    node: process.version,
    cpu: addon?.cpu() ?? null,
    threads: addon?.threads() ?? 1,
    mallocTuned: addon?.mallocTuned() ?? false,
    nativeError: addon ? null : nativeLoadError()?.message ?? null,
    nativeKernels: kernels,
  };
  if (opts.json) {
    process.stdout.write(JSON.stringify(report) + '\n');
    return;
  }
  process.stdout.write(`backend   ${report.backend}\n`);
  process.stdout.write(`available ${report.backends.join(', ')}\n`);
  if (report.cpu) process.stdout.write(`cpu       ${report.cpu.arch} avx2=${report.cpu.avx2} fma=${report.cpu.fma} f16c=${report.cpu.f16c} avx512=${report.cpu.avx512}\n`);
  process.stdout.write(`memory    ${report.mallocTuned ? 'freed tensor memory kept for reuse (LLAVA_MALLOC_TUNE=0 to disable)' : 'system malloc defaults'}\n`);
  if (report.nativeError) process.stdout.write(`native    unavailable: ${report.nativeError}\n`);
  for (const [name, isas] of Object.entries(kernels).sort()) process.stdout.write(`  ${name.padEnd(24)} ${isas.join(' ')}\n`);
}
