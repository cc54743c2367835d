/**
 * Agent tokens: macaroons minted with the keyring's current key and an `agent1:<keyId>:<nonce>` identifier,
 * carrying Docker caveats. `verifyToken` is the whole check the macaroon gate needs for one X-Macaroon header.
 */
import { AgentError } from "../errors.ts";
import type { RandomBytes } from "../ports.ts";
import { type DockerCaveat, formatDockerCaveat } from "./caveats/docker.ts";
import { encodeMacaroon } from "./codec/encode.ts";
import { decodeMacaroon } from "./codec/decode.ts";
import { decodeStack } from "./codec/stack.ts";
import { formatIdentifier, newNonce, parseIdentifier } from "./identifier.ts";
import { currentKey, type Keyring, verificationKey } from "./keyring.ts";
import type { MacaroonLimits } from "./limits.ts";
import { addFirstPartyCaveat, mint } from "./mint.ts";
import { isRevoked, type Revocations } from "./revocations.ts";
import type { FirstPartyCheck, Macaroon, MacaroonFormat, VerifiedMacaroon } from "./types.ts";
import { verify } from "./verify.ts";

export interface MintedToken {
  readonly macaroon: Macaroon;
  /** The encoded token (V2 binary, base64url, unless another format was asked for). */
  readonly token: string;
  readonly keyId: string;
  /** The revocation handle. */
  readonly nonce: string;
}

export interface MintTokenOptions {
  readonly location?: string;
  readonly format?: MacaroonFormat;
  /** The identifier's nonce (default: 16 fresh random bytes); see taggedNonce for the agent's own tokens. */
  readonly nonce?: string;
}

/** Mints a token with the current key; caveats are typed, so only valid caveat text can be written. */
export function mintToken(
  keyring: Keyring,
  random: RandomBytes,
  caveats: readonly DockerCaveat[],
  options: MintTokenOptions = {},
): MintedToken {
  const key = currentKey(keyring);
  const nonce = options.nonce ?? newNonce(random);
  let macaroon = mint(key.key, formatIdentifier(key.id, nonce), options.location);
  for (const c of caveats) macaroon = addFirstPartyCaveat(macaroon, formatDockerCaveat(c));
  return { macaroon, token: encodeMacaroon(macaroon, options.format ?? "v2"), keyId: key.id, nonce };
}

/** Adds caveats to an existing token without any key (anyone holding a token can narrow it). */
export function attenuateToken(
  token: string,
  caveats: readonly DockerCaveat[],
  format: MacaroonFormat = "v2",
): string {
  let macaroon: Macaroon = decodeMacaroon(token);
  for (const c of caveats) macaroon = addFirstPartyCaveat(macaroon, formatDockerCaveat(c));
  return encodeMacaroon(macaroon, format);
}

export interface VerifyTokenOptions {
  readonly keyring: Keyring;
  readonly revocations: Revocations;
  /** Checks one first-party caveat against the request (see `dockerCaveatChecker`). */
  readonly check: FirstPartyCheck;
  readonly limits?: Partial<MacaroonLimits>;
}

export type VerifiedToken = VerifiedMacaroon & {
  readonly keyId: string;
  readonly nonce: string;
};

/**
 * Decodes an X-Macaroon header (root, then bound discharges), picks the root key by the identifier's key id,
 * refuses revoked nonces, and verifies. Throws AgentError: ERR_MACAROON_FORMAT, ERR_MACAROON_LIMIT,
 * ERR_MACAROON_KEY, ERR_MACAROON_REVOKED, ERR_MACAROON_SIGNATURE, ERR_MACAROON_DISCHARGE, ERR_MACAROON_CAVEAT.
 */
export function verifyToken(header: string, options: VerifyTokenOptions): VerifiedToken {
  const [root, ...discharges] = decodeStack(header, options.limits);
  const { keyId, nonce } = parseIdentifier(root.identifier);
  if (keyId === undefined || nonce === undefined) {
    throw new AgentError("ERR_MACAROON_KEY", "macaroon was not issued by this agent", "foreign identifier");
  }
  const key = verificationKey(options.keyring, keyId);
  if (key === undefined) {
    throw new AgentError("ERR_MACAROON_KEY", "macaroon root key is unknown or retired", `key id ${keyId}`);
  }
  if (isRevoked(options.revocations, nonce)) {
    throw new AgentError("ERR_MACAROON_REVOKED", "macaroon has been revoked", `nonce ${nonce}`);
  }
  const verified = verify(root, key, discharges, options.check, options.limits);
  return { ...verified, keyId, nonce };
}
