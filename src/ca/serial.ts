/** Certificate serial numbers: 16 random bytes, positive, one canonical text form everywhere. */
import type { RandomBytes } from "../ports.ts";
import { bytesToHex } from "@noble/hashes/utils.js";

const SERIAL_BYTES = 16;

/**
 * A new serial as lowercase hex. The top bit is cleared (DER integers are signed) and the next one set, so
 * every serial is exactly 16 bytes with no leading zero: the same text in the index, the CRL and openssl.
 */
export function newSerialNumber(random: RandomBytes): string {
  const bytes = random(SERIAL_BYTES);
  if (bytes.length !== SERIAL_BYTES) throw new RangeError("newSerialNumber: short random read");
  bytes[0] = ((bytes[0] ?? 0) & 0x3f) | 0x40;
  return bytesToHex(bytes);
}

/**
 * The canonical form of a serial typed by a person or read from a certificate: lowercase hex without
 * colons or leading zeros. Returns undefined when the text is not a serial.
 */
export function canonicalSerial(text: string): string | undefined {
  const compact = text.trim().toLowerCase().replace(/^0x/, "").replaceAll(":", "");
  if (compact.length === 0 || compact.length > 64 || !/^[0-9a-f]+$/.test(compact)) return undefined;
  const stripped = compact.replace(/^0+/, "");
  return stripped.length === 0 ? "0" : stripped;
}
