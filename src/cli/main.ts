#!/usr/bin/env node
/**
 * The `llava` command. One flat options object per command, defaults in one place, unknown flags are
 * errors (commander). Commands arrive with the features they drive.
 */
import { Command } from 'commander';
import { createRequire } from 'node:module';

const pkg = createRequire(import.meta.url)('../../../package.json') as { version: string };

const program = new Command();
program
  .name('llava')
  .description('LLaVA vision-language assistant in TypeScript')
  .version(pkg.version)
  .showHelpAfterError();

program
  .command('info')
  .description('show the compute backend, CPU features, threads and native kernels')
  .option('--json', 'print one JSON object')
  .action(async (opts: { json?: boolean }) => {
    const { info } = await import('./info.js');
    await info(opts);
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`llava: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
