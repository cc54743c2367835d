/**
 * NaCl secretbox (XSalsa20-Poly1305) as macaroon third-party caveats use it: the verification id is
 * `nonce(24) || poly1305 tag(16) || ciphertext`, which is PyNaCl's and libsodium's combined layout.
 * Backed by @noble/ciphers (audited); this file is the only place that knows it, so the cipher can be swapped.
 */
import { xsalsa20poly1305 } from "@noble/ciphers/salsa.js";
import { AgentError } from "../errors.ts";

export const SECRETBOX_KEY_BYTES = 32;
export const SECRETBOX_NONCE_BYTES = 24;
export const SECRETBOX_TAG_BYTES = 16;

/** Encrypts and authenticates `plaintext`; returns nonce || tag || ciphertext. */
export function sealBox(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array): Uint8Array {
  if (key.length !== SECRETBOX_KEY_BYTES || nonce.length !== SECRETBOX_NONCE_BYTES) {
    throw new AgentError(
      "ERR_INTERNAL",
      "internal error",
      "secretbox key must be 32 bytes and nonce 24 bytes",
    );
  }
  const sealed = xsalsa20poly1305(key, nonce).encrypt(plaintext);
  const out = new Uint8Array(SECRETBOX_NONCE_BYTES + sealed.length);
  out.set(nonce, 0);
  out.set(sealed, SECRETBOX_NONCE_BYTES);
  return out;
}

/** Opens nonce || tag || ciphertext; undefined when it is too short or the tag does not match. */
export function openBox(key: Uint8Array, box: Uint8Array): Uint8Array | undefined {
  if (key.length !== SECRETBOX_KEY_BYTES || box.length < SECRETBOX_NONCE_BYTES + SECRETBOX_TAG_BYTES) {
    return undefined;
  }
  const nonce = box.subarray(0, SECRETBOX_NONCE_BYTES);
  try {
    return xsalsa20poly1305(key, nonce).decrypt(box.subarray(SECRETBOX_NONCE_BYTES));
  } catch {
    return undefined;
  }
}
