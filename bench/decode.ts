/**
 * `npm run bench -- decode` (being written).
 */
export async function run(_args: string[]): Promise<void> {
  process.stdout.write(JSON.stringify({ bench: 'decode', pending: true }) + '\n');
}
