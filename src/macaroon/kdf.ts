/**
 * Root keys from a passphrase: scrypt (RFC 7914) with a random 16-byte salt stored next to the key, so the same
 * passphrase and salt re-derive the same key on another host. Defaults: N = 2^17, r = 8, p = 1 (128 MiB,
 * about 0.6 s on one core), 32-byte output.
 */
import { scryptAsync } from "@noble/hashes/scrypt.js";
import { AgentError } from "../errors.ts";
import type { RandomBytes } from "../ports.ts";

export interface ScryptParams {
  readonly name: "scrypt";
  /** log2 of the CPU/memory cost N. */
  readonly logN: number;
  readonly r: number;
  readonly p: number;
}

export const DEFAULT_SCRYPT: ScryptParams = Object.freeze({ name: "scrypt", logN: 17, r: 8, p: 1 });
export const SALT_BYTES = 16;
export const ROOT_KEY_BYTES = 32;
/** Refuse passphrases too short to be worth a KDF. */
export const MIN_PASSPHRASE_LENGTH = 8;

export function validScryptParams(params: ScryptParams): boolean {
  return params.name === "scrypt" &&
    Number.isInteger(params.logN) && params.logN >= 10 && params.logN <= 22 &&
    Number.isInteger(params.r) && params.r >= 1 && params.r <= 32 &&
    Number.isInteger(params.p) && params.p >= 1 && params.p <= 16 &&
    128 * params.r * 2 ** params.logN <= 2 ** 30; // at most 1 GiB of memory
}

export function newSalt(random: RandomBytes): Uint8Array {
  const salt = random(SALT_BYTES);
  if (salt.length !== SALT_BYTES) {
    throw new AgentError("ERR_INTERNAL", "internal error", "random source returned the wrong length");
  }
  return salt;
}

/** Derives a 32-byte root key. The passphrase never appears in errors. */
export async function deriveRootKey(
  passphrase: string,
  salt: Uint8Array,
  params: ScryptParams = DEFAULT_SCRYPT,
): Promise<Uint8Array> {
  if (passphrase.length < MIN_PASSPHRASE_LENGTH) {
    throw new AgentError(
      "ERR_MACAROON_KEY",
      `passphrase must be at least ${MIN_PASSPHRASE_LENGTH} characters`,
    );
  }
  if (salt.length !== SALT_BYTES) throw new AgentError("ERR_MACAROON_KEY", "salt must be 16 bytes");
  if (!validScryptParams(params)) {
    throw new AgentError("ERR_MACAROON_KEY", "unsupported key derivation parameters");
  }
  return await scryptAsync(passphrase.normalize("NFKC"), salt, {
    N: 2 ** params.logN,
    r: params.r,
    p: params.p,
    dkLen: ROOT_KEY_BYTES,
    maxmem: 2 ** 30,
  });
}
