/**
 * Key algorithms the CA issues and signs with. All three work end to end with dockerd, the docker CLI,
 * curl and openssl; ECDSA P-256 is the default (fast, small, universally supported).
 */
import { AgentError } from "../errors.ts";
import { decodePem, encodePem, PEM_PRIVATE_KEY } from "./pem.ts";

export type KeyType = "ecdsa" | "ed25519" | "rsa";
export const KEY_TYPES: readonly KeyType[] = ["ecdsa", "ed25519", "rsa"];
export const DEFAULT_KEY_TYPE: KeyType = "ecdsa";
export const RSA_SIZES: readonly number[] = [2048, 3072, 4096];
export const DEFAULT_RSA_BITS = 3072;

export interface KeySpec {
  readonly type: KeyType;
  /** Modulus length for RSA; ignored for the others. */
  readonly rsaBits?: number;
}

const ECDSA = { name: "ECDSA", namedCurve: "P-256" } as const;
const ED25519 = { name: "Ed25519" } as const;
const RSA_IMPORT = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } as const;

export function parseKeyType(value: unknown): KeyType {
  const found = KEY_TYPES.find((t) => t === value);
  if (found === undefined) {
    throw new AgentError("ERR_USAGE", `unknown key type: use one of ${KEY_TYPES.join(", ")}`, String(value));
  }
  return found;
}

export function parseRsaBits(value: unknown): number {
  const bits = typeof value === "string" ? Number(value) : value;
  if (typeof bits !== "number" || !RSA_SIZES.includes(bits)) {
    throw new AgentError(
      "ERR_USAGE",
      `unsupported RSA key size: use one of ${RSA_SIZES.join(", ")}`,
      String(value),
    );
  }
  return bits;
}

function importAlgorithm(type: KeyType): Algorithm | EcKeyImportParams | RsaHashedImportParams {
  switch (type) {
    case "ecdsa":
      return ECDSA;
    case "ed25519":
      return ED25519;
    case "rsa":
      return RSA_IMPORT;
  }
}

/** The `signingAlgorithm` parameter for certificates and CRLs signed with a key of this type. */
export function signingAlgorithm(type: KeyType): Algorithm | EcdsaParams {
  switch (type) {
    case "ecdsa":
      return { name: "ECDSA", hash: "SHA-256" } as EcdsaParams;
    case "ed25519":
      return ED25519;
    case "rsa":
      return RSA_IMPORT;
  }
}

/** Extractable so the private key can be written out once; it is never kept after that. */
export async function generateKeyPair(spec: KeySpec): Promise<CryptoKeyPair> {
  const usages: KeyUsage[] = ["sign", "verify"];
  switch (spec.type) {
    case "ecdsa":
      return await crypto.subtle.generateKey(ECDSA, true, usages);
    case "ed25519":
      return (await crypto.subtle.generateKey(ED25519, true, usages)) as CryptoKeyPair;
    case "rsa":
      return await crypto.subtle.generateKey(
        {
          ...RSA_IMPORT,
          modulusLength: spec.rsaBits ?? DEFAULT_RSA_BITS,
          publicExponent: Uint8Array.of(1, 0, 1),
        },
        true,
        usages,
      );
  }
}

/** The key type of a certificate's public key (as the x509 library names the algorithm). */
export function keyTypeOfAlgorithm(algorithm: Algorithm): KeyType | undefined {
  switch (algorithm.name) {
    case "ECDSA":
      return (algorithm as EcKeyAlgorithm).namedCurve === "P-256" ? "ecdsa" : undefined;
    case "Ed25519":
      return "ed25519";
    case "RSASSA-PKCS1-v1_5":
      return "rsa";
    default:
      return undefined;
  }
}

/** Unencrypted PKCS#8 (`PRIVATE KEY`): dockerd and the docker CLI cannot read encrypted keys. */
export async function exportPrivateKeyPem(key: CryptoKey): Promise<string> {
  return encodePem(await crypto.subtle.exportKey("pkcs8", key), PEM_PRIVATE_KEY);
}

export async function importPrivateKeyPem(pem: string, type: KeyType): Promise<CryptoKey> {
  const der = decodePem(
    pem,
    PEM_PRIVATE_KEY,
    "ERR_STATE_CORRUPT",
    "the CA private key file is not a PKCS#8 PEM key",
  );
  try {
    return await crypto.subtle.importKey("pkcs8", der, importAlgorithm(type), false, ["sign"]);
  } catch (err) {
    throw new AgentError(
      "ERR_STATE_CORRUPT",
      "the CA private key does not match the CA certificate's key type",
      err instanceof Error ? err.name : undefined,
    );
  }
}
