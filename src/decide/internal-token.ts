/**
 * The agent's own token. The agent's calls to the daemon (name lookups, the event stream) pass through
 * dockerd's authorization chain like anyone's, so they carry a macaroon too: minted from the current root key,
 * read-only and short-lived, re-minted before it expires. The macaroon gate verifies it like any other token.
 *
 * Its nonce is tagged with the root key (taggedNonce), so a host holding the keyring can tell it from every
 * other token: a token of the same caveats minted with `agent id create`, an attenuated token or a forgery all
 * lack the tag. That is what lets the policy allow exactly the agent's own lookups without a rule for the
 * unix socket (builtin:agent-lookups in policy/evaluate.ts).
 */
import type { Clock, RandomBytes } from "../ports.ts";
import {
  currentKey,
  dockerCaveat,
  expiresAfter,
  isTaggedNonce,
  type Keyring,
  mintToken,
  taggedNonce,
  verificationKey,
} from "../macaroon/index.ts";

/** Lifetime of one internal token; a fresh one is minted once half of it has passed. */
export const INTERNAL_TOKEN_SECONDS = 120;

/** The label of the nonce tag: what the key holder minted the token for. */
const INTERNAL_NONCE_LABEL = "agent1 internal token nonce";

/** Returns the token to send as X-Macaroon on the agent's own calls (cheap: minted at most once a minute). */
export function internalTokenSource(
  keyring: Keyring,
  random: RandomBytes,
  clock: Clock,
  lifetimeSeconds: number = INTERNAL_TOKEN_SECONDS,
): () => string {
  let token: string | undefined;
  let refreshAtMs = 0;
  const readOnly = dockerCaveat("op", "read");
  return () => {
    const now = clock();
    if (token === undefined || now.getTime() >= refreshAtMs) {
      const nonce = taggedNonce(currentKey(keyring).key, INTERNAL_NONCE_LABEL, random);
      token = mintToken(keyring, random, [readOnly, expiresAfter(now, lifetimeSeconds)], { nonce }).token;
      refreshAtMs = now.getTime() + (lifetimeSeconds * 1000) / 2;
    }
    return token;
  };
}

/**
 * True when a token's identifier (key id and nonce, from a verified token) is one the agent minted for
 * itself with an active key of `keyring`. Only meaningful after the token's signature has been verified.
 */
export function isInternalToken(keyring: Keyring, keyId: string, nonce: string): boolean {
  const key = verificationKey(keyring, keyId);
  return key !== undefined && isTaggedNonce(key, INTERNAL_NONCE_LABEL, nonce);
}
