/**
 * Identifiers of macaroons the agent mints: `agent1:<keyId>:<nonce>`.
 * - keyId names the root key in the keyring (so keys can rotate), 1-32 of [a-z0-9-];
 * - nonce is 16 random bytes in unpadded base64url (22 characters), unique per token, the handle for revocation.
 * Identifiers from other issuers are not errors: they simply carry no key id and no nonce.
 */
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { base64Decode, base64UrlEncode } from "./base64.ts";
import { concatBytes, constantTimeEqual, utf8, utf8Text } from "./bytes.ts";
import { AgentError } from "../errors.ts";
import type { RandomBytes } from "../ports.ts";

export const IDENTIFIER_PREFIX = "agent1";
export const NONCE_BYTES = 16;

const KEY_ID = /^[a-z0-9][a-z0-9-]{0,31}$/;
const NONCE = /^[A-Za-z0-9_-]{22}$/;
const AGENT_ID = /^agent1:([a-z0-9][a-z0-9-]{0,31}):([A-Za-z0-9_-]{22})$/;

export interface ParsedIdentifier {
  /** Key id for identifiers the agent minted; undefined for foreign identifiers. */
  readonly keyId: string | undefined;
  /** Revocation handle; undefined for foreign identifiers. */
  readonly nonce: string | undefined;
}

const FOREIGN: ParsedIdentifier = Object.freeze({ keyId: undefined, nonce: undefined });

export function isValidKeyId(keyId: string): boolean {
  return KEY_ID.test(keyId);
}

export function isValidNonce(nonce: string): boolean {
  return NONCE.test(nonce);
}

/** A fresh nonce from the random source. */
export function newNonce(random: RandomBytes): string {
  const bytes = random(NONCE_BYTES);
  if (bytes.length !== NONCE_BYTES) {
    throw new AgentError("ERR_INTERNAL", "internal error", "random source returned the wrong length");
  }
  return base64UrlEncode(bytes);
}

const TAG_BYTES = 8;

function nonceTag(rootKey: Uint8Array, label: string, random: Uint8Array): Uint8Array {
  return hmac(sha256, rootKey, concatBytes(utf8(label), random)).subarray(0, TAG_BYTES);
}

/**
 * A nonce that shows which purpose (`label`) a holder of `rootKey` minted it for: 8 random bytes, then the
 * first 8 bytes of HMAC-SHA256(rootKey, label || those bytes). Nobody without the root key can make one
 * (a guess succeeds with probability 2^-64), and it is still a valid, unique-enough revocation handle.
 */
export function taggedNonce(rootKey: Uint8Array, label: string, random: RandomBytes): string {
  const bytes = random(NONCE_BYTES - TAG_BYTES);
  if (bytes.length !== NONCE_BYTES - TAG_BYTES) {
    throw new AgentError("ERR_INTERNAL", "internal error", "random source returned the wrong length");
  }
  return base64UrlEncode(concatBytes(bytes, nonceTag(rootKey, label, bytes)));
}

/** True when `nonce` was made by taggedNonce with this key and label (constant-time comparison). */
export function isTaggedNonce(rootKey: Uint8Array, label: string, nonce: string): boolean {
  if (!isValidNonce(nonce)) return false;
  const bytes = base64Decode(nonce);
  if (bytes === undefined || bytes.length !== NONCE_BYTES) return false;
  const random = bytes.subarray(0, NONCE_BYTES - TAG_BYTES);
  return constantTimeEqual(bytes.subarray(NONCE_BYTES - TAG_BYTES), nonceTag(rootKey, label, random));
}

export function formatIdentifier(keyId: string, nonce: string): Uint8Array {
  if (!isValidKeyId(keyId)) throw new AgentError("ERR_MACAROON_KEY", "invalid macaroon key id");
  if (!isValidNonce(nonce)) throw new AgentError("ERR_MACAROON_FORMAT", "invalid macaroon nonce");
  return utf8(`${IDENTIFIER_PREFIX}:${keyId}:${nonce}`);
}

/** Never throws: anything that is not an agent identifier is a foreign identifier. */
export function parseIdentifier(identifier: Uint8Array | string): ParsedIdentifier {
  if (identifier.length > 64) return FOREIGN;
  const text = typeof identifier === "string" ? identifier : utf8Text(identifier);
  if (text === undefined) return FOREIGN;
  const match = AGENT_ID.exec(text);
  if (match === null) return FOREIGN;
  return { keyId: match[1], nonce: match[2] };
}
