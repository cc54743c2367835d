/** Minting and attenuation: creating a macaroon, adding caveats, binding discharges for a request. */
import { AgentError } from "../errors.ts";
import type { RandomBytes } from "../ports.ts";
import { utf8, wipe } from "./bytes.ts";
import {
  bindSignature,
  deriveChainKey,
  firstPartySignature,
  initialSignature,
  thirdPartySignature,
} from "./chain.ts";
import { limitError } from "./failures.ts";
import { DEFAULT_MACAROON_LIMITS } from "./limits.ts";
import { sealBox, SECRETBOX_NONCE_BYTES } from "./secretbox.ts";
import type { Caveat, Macaroon } from "./types.ts";

function asBytes(value: Uint8Array | string): Uint8Array {
  return typeof value === "string" ? utf8(value) : value;
}

// Never mint what our own decoder would refuse.
function checkField(what: string, bytes: Uint8Array): void {
  if (bytes.length > DEFAULT_MACAROON_LIMITS.maxFieldBytes) throw limitError(`${what} is too long`);
}

function checkLocation(location: string | undefined): void {
  if (location !== undefined) checkField("location", utf8(location));
}

function withCaveat<M extends Macaroon>(m: M, caveat: Caveat, signature: Uint8Array): M {
  if (m.caveats.length >= DEFAULT_MACAROON_LIMITS.maxCaveats) throw limitError("too many caveats");
  return { ...m, caveats: [...m.caveats, caveat], signature };
}

/** Creates a root macaroon: signature = HMAC(HMAC("macaroons-key-generator", rootKey), identifier). */
export function mint(rootKey: Uint8Array, identifier: Uint8Array | string, location?: string): Macaroon {
  if (rootKey.length === 0) throw new AgentError("ERR_MACAROON_KEY", "macaroon root key is empty");
  const id = asBytes(identifier);
  checkField("identifier", id);
  checkLocation(location);
  const key = deriveChainKey(rootKey);
  const signature = initialSignature(key, id);
  wipe(key);
  const macaroon: Macaroon = { identifier: id, caveats: [], signature };
  return location === undefined || location === "" ? macaroon : { ...macaroon, location };
}

/** Adds a first-party caveat (a predicate the target service checks itself). */
export function addFirstPartyCaveat<M extends Macaroon>(m: M, predicate: string | Uint8Array): M {
  const id = asBytes(predicate);
  checkField("caveat", id);
  return withCaveat(m, { identifier: id }, firstPartySignature(m.signature, id));
}

/**
 * Adds a third-party caveat: the caveat key is sealed under the current signature (random 24-byte nonce) so
 * that only a holder of the root key can recover it while verifying the discharge.
 */
export function addThirdPartyCaveat<M extends Macaroon>(
  m: M,
  caveatKey: Uint8Array,
  caveatId: Uint8Array | string,
  location: string | undefined,
  random: RandomBytes,
): M {
  if (caveatKey.length === 0) throw new AgentError("ERR_MACAROON_KEY", "third-party caveat key is empty");
  const id = asBytes(caveatId);
  checkField("caveat", id);
  checkLocation(location);
  const nonce = random(SECRETBOX_NONCE_BYTES);
  if (nonce.length !== SECRETBOX_NONCE_BYTES) {
    throw new AgentError("ERR_INTERNAL", "internal error", "random source returned the wrong length");
  }
  const dischargeKey = deriveChainKey(caveatKey);
  const verificationId = sealBox(m.signature, nonce, dischargeKey);
  wipe(dischargeKey);
  const caveat: Caveat = location === undefined || location === ""
    ? { identifier: id, verificationId }
    : { identifier: id, location, verificationId };
  return withCaveat(m, caveat, thirdPartySignature(m.signature, verificationId, id));
}

/** Binds a discharge to the root macaroon it will be sent with; do this before sending any discharge. */
export function bindForRequest<M extends Macaroon>(root: Macaroon, discharge: M): M {
  return { ...discharge, signature: bindSignature(root.signature, discharge.signature) };
}
