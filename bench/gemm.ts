/**
 * `npm run bench -- gemm` (being written).
 */
export async function run(_args: string[]): Promise<void> {
  process.stdout.write(JSON.stringify({ bench: 'gemm', pending: true }) + '\n');
}
