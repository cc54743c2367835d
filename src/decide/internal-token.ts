/**
 * The agent's own token. The agent's calls to the daemon (name lookups, the event stream) pass through
 * dockerd's authorization chain like anyone's, so they carry a macaroon too: minted from the current root key,
 * read-only and short-lived, re-minted before it expires. Nothing is weakened: it is an ordinary token that
 * the gate verifies like any other, and the policy still judges the calls.
 */
import type { Clock, RandomBytes } from "../ports.ts";
import { dockerCaveat, expiresAfter, type Keyring, mintToken } from "../macaroon/index.ts";

/** Lifetime of one internal token; a fresh one is minted once half of it has passed. */
export const INTERNAL_TOKEN_SECONDS = 120;

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
      token = mintToken(keyring, random, [readOnly, expiresAfter(now, lifetimeSeconds)]).token;
      refreshAtMs = now.getTime() + (lifetimeSeconds * 1000) / 2;
    }
    return token;
  };
}
