/**
 * Finds an object that repeats a key. `JSON.parse` keeps only the last value, but dockerd's Go decoder
 * applies every occurrence in order: a repeated object is decoded into the same struct (fields merge) and a
 * repeated `null` leaves the earlier value in place. So `{"HostConfig":{"Privileged":true},"HostConfig":{}}`
 * is privileged to dockerd and unprivileged to `JSON.parse`. Such bodies are refused rather than emulated.
 */

/** True when some object in `text` (already valid JSON) has the same key twice. */
export function hasDuplicateKeys(text: string): boolean {
  // One entry per open container: the keys seen so far for an object, null for an array.
  const stack: (Set<string> | null)[] = [];
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x7b /* { */) stack.push(new Set());
    else if (c === 0x5b /* [ */) stack.push(null);
    else if (c === 0x7d /* } */ || c === 0x5d /* ] */) stack.pop();
    else if (c === 0x22 /* " */) {
      const start = i;
      let escaped = false;
      for (i++; i < n; i++) {
        const s = text.charCodeAt(i);
        if (s === 0x5c /* \ */) {
          escaped = true;
          i++;
        } else if (s === 0x22) break;
      }
      let j = i + 1;
      while (j < n && isSpace(text.charCodeAt(j))) j++;
      if (text.charCodeAt(j) !== 0x3a /* : */) continue;
      const keys = stack.at(-1);
      if (!keys) continue;
      // `"Privil\u0065ged"` and `"Privileged"` are the same key to both decoders.
      const key = escaped ? (JSON.parse(text.slice(start, i + 1)) as string) : text.slice(start + 1, i);
      if (keys.has(key)) return true;
      keys.add(key);
    }
  }
  return false;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}
