/**
 * Strict base64 for tokens. Peers write both alphabets, with and without padding, so decoding accepts all four;
 * but every other liberty is refused (mixed alphabets, whitespace, wrong padding, non-zero trailing bits) so that
 * one byte string has exactly one accepted spelling per alphabet and a flipped character never decodes to the
 * same bytes.
 */

const URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const STD_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// 0..63 for shared characters, 64 + value for URL-only, 128 + value for standard-only, 255 invalid.
const DECODE = new Uint8Array(128).fill(255);
for (let i = 0; i < 62; i++) DECODE[URL_ALPHABET.charCodeAt(i)] = i;
DECODE["-".charCodeAt(0)] = 64 + 62;
DECODE["_".charCodeAt(0)] = 64 + 63;
DECODE["+".charCodeAt(0)] = 128 + 62;
DECODE["/".charCodeAt(0)] = 128 + 63;

function encodeWith(bytes: Uint8Array, alphabet: string, pad: boolean): string {
  let out = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += alphabet[n >> 18]! + alphabet[(n >> 12) & 63]! + alphabet[(n >> 6) & 63]! + alphabet[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out += alphabet[n >> 18]! + alphabet[(n >> 12) & 63]! + (pad ? "==" : "");
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += alphabet[n >> 18]! + alphabet[(n >> 12) & 63]! + alphabet[(n >> 6) & 63]! + (pad ? "=" : "");
  }
  return out;
}

/** base64url without padding: the form the agent writes. */
export function base64UrlEncode(bytes: Uint8Array): string {
  return encodeWith(bytes, URL_ALPHABET, false);
}

/** Standard base64 with padding (the 2015 Docker proposal's outer encoding). */
export function base64StdEncode(bytes: Uint8Array): string {
  return encodeWith(bytes, STD_ALPHABET, true);
}

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
