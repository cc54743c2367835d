/**
 * What the state directory keeps of a key: SHA-256 of its full text, lowercase hex. A fast digest is right
 * here, unlike for passwords: a key is 256 random bits, so there is no dictionary to try and no slow hash
 * (bcrypt, scrypt, argon2) would make guessing any harder than 2^256 already is. A slow hash would only cost
 * every request milliseconds of CPU and hand an attacker a cheap way to load the host. Being deterministic,
 * the digest is also the lookup key: one hash and one map lookup, however many keys exist.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js";

/** SHA-256 of the key's UTF-8 bytes. */
export function apiKeyDigestBytes(key: string): Uint8Array {
  return sha256(utf8ToBytes(key));
}

/** SHA-256 of the key, 64 lowercase hex digits (the form stored in apikeys.json). */
export function apiKeyDigest(key: string): string {
  return bytesToHex(apiKeyDigestBytes(key));
}
