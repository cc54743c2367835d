/**
 * Test reference: base64Decode of src/macaroon/base64.ts as written before the speed rewrite
 * (from the git history), for the differential tests in fast-path.test.ts.
 */
const URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// 0..63 for shared characters, 64 + value for URL-only, 128 + value for standard-only, 255 invalid.
const DECODE = new Uint8Array(128).fill(255);
for (let i = 0; i < 62; i++) DECODE[URL_ALPHABET.charCodeAt(i)] = i;
DECODE["-".charCodeAt(0)] = 64 + 62;
DECODE["_".charCodeAt(0)] = 64 + 63;
DECODE["+".charCodeAt(0)] = 128 + 62;
DECODE["/".charCodeAt(0)] = 128 + 63;

/** Decodes either alphabet, padded or not; undefined for anything else. */
export function base64Decode(text: string): Uint8Array | undefined {
  let end = text.length;
  if (end > 0 && text.charCodeAt(end - 1) === 61 /* = */) {
    end--;
    if (end > 0 && text.charCodeAt(end - 1) === 61) end--;
    // Padding, when present, must complete a 4-character group.
    if (text.length % 4 !== 0) return undefined;
  }
  const tail = end % 4;
  if (tail === 1) return undefined;
  if (end < text.length && tail === 0) return undefined; // "=" after a full group
  const out = new Uint8Array(((end >> 2) * 3) + (tail === 0 ? 0 : tail - 1));
  let alphabets = 0; // bit 64: URL-only characters seen, bit 128: standard-only characters seen
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    const d = c < 128 ? DECODE[c]! : 255;
    if (d === 255) return undefined;
    alphabets |= d & 192;
    acc = (acc << 6) | (d & 63);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 255;
      acc &= (1 << bits) - 1;
    }
  }
  if (alphabets === 192) return undefined;
  if (acc !== 0) return undefined; // non-zero trailing bits: a second spelling of the same bytes
  return out;
}
