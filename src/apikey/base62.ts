/**
 * Fixed-width base62 (0-9, A-Z, a-z) of a non-negative integer: the characters of an API key. Fixed width so
 * that every key has the same length and one number has exactly one spelling.
 */

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const BASE = 62n;

/** True when every character of `text` is in the base62 alphabet (and there is at least one). */
export function isBase62(text: string): boolean {
  return /^[0-9A-Za-z]+$/.test(text);
}

/** `value` in exactly `width` base62 digits, most significant first (zero-padded). Throws when it does not fit. */
export function base62Encode(value: bigint, width: number): string {
  if (value < 0n) throw new RangeError("base62Encode: negative value");
  let rest = value;
  let out = "";
  for (let i = 0; i < width; i++) {
    out = ALPHABET[Number(rest % BASE)]! + out;
    rest /= BASE;
  }
  if (rest !== 0n) throw new RangeError(`base62Encode: value does not fit in ${width} digits`);
  return out;
}

/** The number a base62 text spells, or undefined when it holds another character. */
export function base62Decode(text: string): bigint | undefined {
  if (!isBase62(text)) return undefined;
  let value = 0n;
  for (const c of text) value = value * BASE + BigInt(ALPHABET.indexOf(c));
  return value;
}

/** Bytes as one big-endian unsigned integer. */
export function bytesToBigInt(bytes: Uint8Array): bigint {
  let value = 0n;
  for (const b of bytes) value = (value << 8n) | BigInt(b);
  return value;
}
