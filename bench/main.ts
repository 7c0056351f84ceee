/**
 * Benchmark runner: `npm run bench -- <name> [options]`. Each benchmark prints a table and, as its last
 * line, one JSON object. Benchmarks compare against a peer measured in the same run and report medians;
 * they are never run as tests.
 */
import '../src/index.js';

type Bench = (args: string[]) => Promise<void>;

const benches: Record<string, () => Promise<Bench>> = {
  gemm: async () => (await import('./gemm.js')).run,
  decode: async () => (await import('./decode.js')).run,
  overhead: async () => (await import('./overhead.js')).run,
  llava7b: async () => (await import('./llava7b.js')).run,
  tokenize: async () => (await import('./tokenize.js')).run,
  io: async () => (await import('./io.js')).run,
  qgemm: async () => (await import('./qgemm.js')).run,
  clip: async () => (await import('./clip.js')).run,
  chat: async () => (await import('./chat.js')).run,
  llm: async () => (await import('./llm.js')).run,
  prefill: async () => (await import('./prefill.js')).run,
  attention: async () => (await import('./attention.js')).run,
  profile: async () => (await import('./profile.js')).run,
};

const [name, ...rest] = process.argv.slice(2);
if (!name || !(name in benches)) {
  process.stderr.write(`usage: npm run bench -- <${Object.keys(benches).join('|')}> [options]\n`);
  process.exit(name ? 1 : 0);
}
const run = await benches[name]!();
await run(rest);
