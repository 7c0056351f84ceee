/**
 * Strict JSON for checkpoint headers and index files: a JSON object without duplicate keys.
 *
 * JSON.parse silently keeps the last of two equal keys, which would let a corrupt header or index hide a
 * tensor; the keys are therefore scanned separately. Not a general JSON library.
 */

/**
 * Parses `text` as a JSON object. `what` prefixes every error (file and byte range); `topKeyName` says what
 * a top-level key is ("tensor name", "key") in the duplicate error.
 */
export function parseJsonObject(text: string, what: string, topKeyName: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new Error(`${what} is malformed JSON: ${(e as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`${what} is not a JSON object`);
  rejectDuplicateKeys(text, what, topKeyName);
  return parsed as Record<string, unknown>;
}

/**
 * Throws when an object in the (already valid) JSON text repeats a key. A small scanner over the text:
 * it tracks strings and a stack of containers, holding the keys seen in each object.
 */
function rejectDuplicateKeys(text: string, what: string, topKeyName: string): void {
  interface Frame { keys: Set<string> | null; expectKey: boolean; owner: string | null }
  const stack: Frame[] = [];
  let lastTopKey: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '{' || c === '[') {
      // The owner is the top-level key whose value holds this container (for error messages).
      const owner = stack.length === 1 ? lastTopKey : stack.length > 1 ? stack[stack.length - 1]!.owner : null;
      stack.push({ keys: c === '{' ? new Set() : null, expectKey: c === '{', owner });
    } else if (c === '}' || c === ']') {
      stack.pop();
    } else if (c === ',') {
      const top = stack[stack.length - 1]!;
      if (top.keys) top.expectKey = true;
    } else if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const top = stack[stack.length - 1];
      if (top?.keys && top.expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.keys.has(key)) {
          const inside = stack.length === 1 ? topKeyName : `key inside "${top.owner}":`;
          throw new Error(`${what} has duplicate ${inside} "${key}" (JSON would silently keep the last one)`);
        }
        top.keys.add(key);
        top.expectKey = false;
        if (stack.length === 1) lastTopKey = key;
      }
      i = j;
    }
  }
}
