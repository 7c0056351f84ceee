/**
 * `npm run bench -- overhead` (being written).
 */
export async function run(_args: string[]): Promise<void> {
  process.stdout.write(JSON.stringify({ bench: 'overhead', pending: true }) + '\n');
}
