/** Public surface of the macaroon library (pure: no runtime imports, clock and randomness are parameters). */
export type {
  Caveat,
  FirstPartyCheck,
  Macaroon,
  MacaroonFormat,
  UnverifiedMacaroon,
  VerifiedMacaroon,
} from "./types.ts";
export { DEFAULT_MACAROON_LIMITS, type MacaroonLimits } from "./limits.ts";

// chain
export { addFirstPartyCaveat, addThirdPartyCaveat, bindForRequest, mint } from "./mint.ts";
export { verify } from "./verify.ts";

// codecs
export { decodeMacaroon } from "./codec/decode.ts";
export { encodeMacaroon } from "./codec/encode.ts";
export { decodeStack, encodeStack, type MacaroonStack } from "./codec/stack.ts";
export { type CaveatSummary, describeMacaroon, type MacaroonSummary } from "./describe.ts";

// identifiers, keys, revocation
export {
  formatIdentifier,
  isTaggedNonce,
  isValidNonce,
  newNonce,
  type ParsedIdentifier,
  parseIdentifier,
  taggedNonce,
} from "./identifier.ts";
export { DEFAULT_SCRYPT, deriveRootKey, MIN_PASSPHRASE_LENGTH, type ScryptParams } from "./kdf.ts";
export {
  currentKey,
  initKeyring,
  type InitKeyringOptions,
  type Keyring,
  loadKeyring,
  retire,
  type RootKey,
  rotate,
  saveKeyring,
  verificationKey,
} from "./keyring.ts";
export {
  emptyRevocations,
  isRevoked,
  loadRevocations,
  type Revocations,
  revoke,
  type RevokedToken,
  saveRevocations,
} from "./revocations.ts";

// caveats
export { type CaveatText, formatCaveat, parseCaveat } from "./caveats/grammar.ts";
export { type CaveatKind, CaveatRegistry } from "./caveats/registry.ts";
export {
  type DockerCaveat,
  dockerCaveat,
  dockerCaveatChecker,
  dockerCaveats,
  formatDockerCaveat,
  type IpCaveat,
  parseDockerCaveat,
} from "./caveats/docker.ts";
export type { OpCaveat } from "./caveats/op.ts";
export type { ContainerIdCaveat, ImageIdCaveat } from "./caveats/ids.ts";
export { expiresAfter, type ExpiresCaveat } from "./caveats/expires.ts";
export { formatIpRange, ipMatches, type IpRange, parseIpAddress, parseIpRange } from "./caveats/ip.ts";

// agent tokens (what the `id` CLI and the macaroon gate call)
export {
  attenuateToken,
  type MintedToken,
  mintToken,
  type MintTokenOptions,
  type VerifiedToken,
  verifyToken,
  type VerifyTokenOptions,
} from "./token.ts";
/** base64url without padding: the encoding the agent writes (also for salts and nonces on the command line). */
export { base64Decode, base64UrlEncode } from "./base64.ts";

// helpers other state and credentials reuse (src/apikey/)
export { constantTimeEqual } from "./bytes.ts";
export { corrupt, isRecord, isTimestamp, readStateJson, writeStateJson } from "./state-file.ts";
