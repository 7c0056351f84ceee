/**
 * Logging for the library: one warning line per distinct message, and debug channels switched on with
 * `LLAVA_DEBUG=channel[,channel]` (or `LLAVA_DEBUG=1` / `all` for every channel).
 * Not a logging framework: library code writes to stderr only through these helpers so that users can
 * silence or redirect it in one place (`setLogSink`).
 */

export type LogSink = (line: string) => void;

let sink: LogSink = (line) => process.stderr.write(line + '\n');
const warned = new Set<string>();

/** Replace where log lines go (tests capture them; applications may route them to their logger). */
export function setLogSink(next: LogSink): LogSink {
  const prev = sink;
  sink = next;
  return prev;
}

function debugChannels(): Set<string> {
  const raw = process.env.LLAVA_DEBUG ?? '';
  return new Set(raw.split(',').map((s) => s.trim()).filter(Boolean));
}

/** True when debug output for `channel` was requested. */
export function debugEnabled(channel: string): boolean {
  const ch = debugChannels();
  return ch.has(channel) || ch.has('1') || ch.has('all');
}

export function debug(channel: string, message: string): void {
  if (debugEnabled(channel)) sink(`llava[${channel}]: ${message}`);
}

/** Log `message` once per process (keyed by the message text unless a key is given). */
export function warnOnce(message: string, key: string = message): void {
  if (warned.has(key)) return;
  warned.add(key);
  sink(`llava: ${message}`);
}

/** Informational line, printed once per key; `LLAVA_QUIET=1` silences it. */
export function infoOnce(message: string, key: string = message): void {
  if (process.env.LLAVA_QUIET === '1' || warned.has(key)) return;
  warned.add(key);
  sink(`llava: ${message}`);
}
