/**
 * The few DER encodings the library does not build for us (the CRL number) and the hex helpers the CA
 * shares. Kept tiny and strict: definite lengths only, non-negative integers only.
 */

function encodeLength(length: number): Uint8Array<ArrayBuffer> {
  if (length < 0x80) return Uint8Array.of(length);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

/** DER INTEGER for a non-negative whole number (minimal two's complement, leading 0x00 when needed). */
export function derInteger(value: bigint): Uint8Array<ArrayBuffer> {
  if (value < 0n) throw new RangeError("derInteger: negative value");
  const content: number[] = [];
  for (let n = value; n > 0n; n >>= 8n) content.unshift(Number(n & 0xffn));
  if (content.length === 0 || (content[0] ?? 0) >= 0x80) content.unshift(0);
  return Uint8Array.of(0x02, ...encodeLength(content.length), ...content);
}

const HEX = /^[0-9a-f]*$/;

export function hexToBytes(hex: string): Uint8Array<ArrayBuffer> {
  if (hex.length % 2 !== 0 || !HEX.test(hex)) throw new RangeError("hexToBytes: not lowercase hex");
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}
