/**
 * The HMAC-SHA256 signature chain shared by every macaroon peer (libmacaroons, pymacaroons, go-macaroon):
 * key derivation, first- and third-party caveat steps, and discharge binding.
 */
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { concatBytes, utf8, wipe } from "./bytes.ts";

const KEY_GENERATOR = utf8("macaroons-key-generator");
const ZERO_KEY = new Uint8Array(32);

/** K = HMAC("macaroons-key-generator", rootKey): the key the chain starts from (and a discharge's caveat key). */
export function deriveChainKey(rootKey: Uint8Array): Uint8Array {
  return hmac(sha256, KEY_GENERATOR, rootKey);
}

/** sig0 = HMAC(K, identifier). */
export function initialSignature(chainKey: Uint8Array, identifier: Uint8Array): Uint8Array {
  return hmac(sha256, chainKey, identifier);
}

/** sig' = HMAC(sig, caveatId). */
export function firstPartySignature(signature: Uint8Array, caveatId: Uint8Array): Uint8Array {
  return hmac(sha256, signature, caveatId);
}

/** sig' = HMAC(sig, HMAC(sig, vid) || HMAC(sig, cid)). */
export function thirdPartySignature(
  signature: Uint8Array,
  verificationId: Uint8Array,
  caveatId: Uint8Array,
): Uint8Array {
  const a = hmac(sha256, signature, verificationId);
  const b = hmac(sha256, signature, caveatId);
  const joined = concatBytes(a, b);
  const out = hmac(sha256, signature, joined);
  wipe(a, b, joined);
  return out;
}

/** A discharge's signature bound to the root macaroon it travels with. */
export function bindSignature(rootSignature: Uint8Array, dischargeSignature: Uint8Array): Uint8Array {
  return thirdPartySignature(ZERO_KEY, rootSignature, dischargeSignature);
}
