/** The cluster CA as loaded from its directory: certificate, signing key, key identifier. */
import { SubjectKeyIdentifierExtension, X509Certificate } from "@peculiar/x509";
import { AgentError } from "../errors.ts";
import type { FileSystem } from "../ports.ts";
import type { CaFiles } from "./files.ts";
import { importPrivateKeyPem, type KeyType, keyTypeOfAlgorithm, signingAlgorithm } from "./key-types.ts";
import { decodePem, PEM_CERTIFICATE } from "./pem.ts";

export interface CaCertificate {
  readonly certificate: X509Certificate;
  readonly pem: string;
  readonly keyType: KeyType;
  /** Subject key identifier, lowercase hex. */
  readonly keyId: string;
}

export interface Authority extends CaCertificate {
  readonly privateKey: CryptoKey;
}

/** The error for a state directory without a CA, naming where it looked. */
export function noAuthority(files: CaFiles): AgentError {
  return new AgentError(
    "ERR_CA_MISSING",
    `no certificate authority in ${files.dir}: run \`agent ca init\` first (or pass the right --state-dir)`,
  );
}

/** Parses a CA certificate PEM; anything unusable as this agent's CA is ERR_STATE_CORRUPT. */
export function parseCaCertificate(pem: string): CaCertificate {
  const message = "the CA certificate (cluster.crt) is not a usable CA certificate";
  const der = decodePem(pem, PEM_CERTIFICATE, "ERR_STATE_CORRUPT", message);
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(der);
  } catch (err) {
    throw new AgentError("ERR_STATE_CORRUPT", message, err instanceof Error ? err.message : undefined);
  }
  const keyType = keyTypeOfAlgorithm(certificate.publicKey.algorithm);
  if (keyType === undefined) throw new AgentError("ERR_STATE_CORRUPT", message, "unsupported key algorithm");
  const ski = certificate.getExtension(SubjectKeyIdentifierExtension);
  if (!ski) throw new AgentError("ERR_STATE_CORRUPT", message, "no subject key identifier");
  return { certificate, pem, keyType, keyId: ski.keyId.toLowerCase() };
}

/** The CA certificate alone (what every host of a fleet has); undefined when there is none. */
export async function readCaCertificate(fs: FileSystem, files: CaFiles): Promise<CaCertificate | undefined> {
  if (!(await fs.stat(files.certificate))) return undefined;
  return parseCaCertificate(await fs.readText(files.certificate));
}

/** Certificate and signing key: what issuing and revoking need (only on the CA's own host). */
export async function loadAuthority(fs: FileSystem, files: CaFiles): Promise<Authority> {
  const ca = await readCaCertificate(fs, files);
  if (!ca) throw noAuthority(files);
  if (!(await fs.stat(files.privateKey))) {
    throw new AgentError(
      "ERR_CA_MISSING",
      `the CA private key is not in ${files.dir}: issue and revoke on the host where \`agent ca init\` ran`,
      files.privateKey,
    );
  }
  const privateKey = await importPrivateKeyPem(await fs.readText(files.privateKey), ca.keyType);
  await assertKeyMatches(ca, privateKey);
  return { ...ca, privateKey };
}

/** A key that does not match the certificate would sign certificates nobody can verify: refuse early. */
async function assertKeyMatches(ca: CaCertificate, privateKey: CryptoKey): Promise<void> {
  const probe = new TextEncoder().encode("agent ca key check");
  const algorithm = signingAlgorithm(ca.keyType);
  const publicKey = await ca.certificate.publicKey.export();
  const signature = await crypto.subtle.sign(algorithm, privateKey, probe);
  if (!(await crypto.subtle.verify(algorithm, publicKey, signature, probe))) {
    throw new AgentError("ERR_STATE_CORRUPT", "the CA private key (cluster.key) does not match cluster.crt");
  }
}
