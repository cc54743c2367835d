/**
 * The root macaroon of a key: no caveats, and a nonce derived from the key itself, so `agent id show` prints
 * the same token every time (and on every host that derived the key from the same passphrase and salt).
 * It allows everything the policy allows; `agent id destroy` demands it.
 */
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { AgentError } from "../../errors.ts";
import {
  base64UrlEncode,
  formatIdentifier,
  type Keyring,
  type Macaroon,
  mint,
  type Revocations,
  type RootKey,
  verifyToken,
} from "../../macaroon/index.ts";

const ROOT_NONCE_LABEL = new TextEncoder().encode("agent1 root macaroon nonce");

export function rootNonce(key: RootKey): string {
  return base64UrlEncode(hmac(sha256, key.key, ROOT_NONCE_LABEL).subarray(0, 16));
}

export function rootMacaroon(key: RootKey): Macaroon {
  return mint(key.key, formatIdentifier(key.id, rootNonce(key)));
}

function notRoot(detail: string): AgentError {
  return new AgentError(
    "ERR_MACAROON_NOT_ROOT",
    "this is not the root macaroon (`agent id show` prints it): minted and attenuated tokens cannot do this",
    detail,
  );
}

/** Verifies that `token` is the root macaroon of an active key; throws AgentError otherwise. */
export function verifyRootMacaroon(token: string, keyring: Keyring, revocations: Revocations): RootKey {
  let verified;
  try {
    verified = verifyToken(token, { keyring, revocations, check: () => "the root macaroon has no caveats" });
  } catch (err) {
    if (err instanceof AgentError && err.code === "ERR_MACAROON_CAVEAT") throw notRoot("token has caveats");
    throw err;
  }
  const key = keyring.keys.find((k) => k.id === verified.keyId);
  if (key === undefined || verified.root.caveats.length > 0 || verified.discharges.length > 0) {
    throw notRoot("token has caveats");
  }
  if (verified.nonce !== rootNonce(key)) throw notRoot("minted token, not the root macaroon");
  return key;
}
