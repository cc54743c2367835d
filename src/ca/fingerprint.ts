/** SHA-256 fingerprint of a DER certificate, lowercase hex (synchronous: the gate runs it per request). */
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";

export function fingerprintOf(der: Uint8Array | ArrayBuffer): string {
  return bytesToHex(sha256(der instanceof Uint8Array ? der : new Uint8Array(der)));
}
