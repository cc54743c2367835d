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
  // Four characters to three bytes at a time. `seen` collects every digit's table entry: an invalid digit
  // (255) sets both alphabet bits, as does mixing the two alphabets, and either refuses the whole text at the
  // end (the bytes written meanwhile are never returned). Characters past the table are refused at once.
  let seen = 0;
  let o = 0;
  const full = end - tail;
  let i = 0;
  for (; i < full; i += 4) {
    const c0 = text.charCodeAt(i);
    const c1 = text.charCodeAt(i + 1);
    const c2 = text.charCodeAt(i + 2);
    const c3 = text.charCodeAt(i + 3);
    if ((c0 | c1 | c2 | c3) >= 128) return undefined;
    const d0 = DECODE[c0]!;
    const d1 = DECODE[c1]!;
    const d2 = DECODE[c2]!;
    const d3 = DECODE[c3]!;
    seen |= d0 | d1 | d2 | d3;
    const n = ((d0 & 63) << 18) | ((d1 & 63) << 12) | ((d2 & 63) << 6) | (d3 & 63);
    out[o++] = n >> 16;
    out[o++] = (n >> 8) & 255;
    out[o++] = n & 255;
  }
  if (tail !== 0) {
    let n = 0;
    for (let k = 0; k < tail; k++) {
      const c = text.charCodeAt(i + k);
      if (c >= 128) return undefined;
      const d = DECODE[c]!;
      seen |= d;
      n = (n << 6) | (d & 63);
    }
    if (tail === 2) {
      // 12 bits: one byte, and the last 4 bits must be zero (else a second spelling of the same bytes).
      if ((n & 15) !== 0) return undefined;
      out[o] = n >> 4;
    } else {
      // 18 bits: two bytes, and the last 2 bits must be zero.
      if ((n & 3) !== 0) return undefined;
      out[o] = n >> 10;
      out[o + 1] = (n >> 2) & 255;
    }
  }
  if ((seen & 192) === 192) return undefined; // an invalid digit, or both alphabets
  return out;
}
