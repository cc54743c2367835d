/** Byte arrays the streams (websocket frames, dockerd's multiplexed streams, hijacked calls) put together. */

/** `parts` in one array (`parts[0]` itself when there is one); `size` is their total length when known. */
export function joinBytes(
  parts: readonly Uint8Array[],
  size = parts.reduce((n, p) => n + p.length, 0),
): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(size);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
