/**
 * The certificate gate: refuses client certificates this CA has revoked (dockerd has no revocation of its
 * own), certificates dockerd reported no user for, and expired ones. Certificates from other CAs that
 * dockerd accepted are not this gate's business. Loading reads just `cluster.crt` and `crl.pem`, so a host
 * with copies of those two files enforces revocation; the checks per request are a few comparisons.
 */
import { X509Crl } from "@peculiar/x509";
import { AgentError } from "../errors.ts";
import type { Clock, FileSystem } from "../ports.ts";
import { type CaCertificate, readCaCertificate } from "./authority.ts";
import { caFiles } from "./files.ts";
import { decodePem, PEM_CRL } from "./pem.ts";
import type { PeerCertificate } from "./peer-certificate.ts";
import { canonicalSerial } from "./serial.ts";

export interface CertificateVerdict {
  readonly allow: boolean;
  readonly reason: string;
}

export interface CertificateGate {
  /** How many serials the loaded CRL revokes (for the server's state summary). */
  readonly revokedCount: number;
  /** `leaf` is the client's certificate (undefined without TLS client auth), `user` what dockerd reported. */
  check(leaf: PeerCertificate | undefined, user: string | undefined): CertificateVerdict;
}

export interface CertificateGateState {
  /** The CA's subject DN as text (matched against issuers that carry no key identifier). */
  readonly issuer: string;
  /** The CA's subject key identifier, lowercase hex. */
  readonly keyId: string;
  /** Revoked serials (lowercase hex, no leading zeros). */
  readonly revoked: ReadonlySet<string>;
}

const NO_USER = { allow: false, reason: "a client certificate was presented but dockerd reported no user" };
const NO_CERTIFICATE = { allow: true, reason: "no client certificate" };
const OTHER_CA = { allow: true, reason: "client certificate from another CA" };

/** The rules, as a pure function of the loaded state and the time. */
export function certificateGate(state: CertificateGateState, clock: Clock): CertificateGate {
  return {
    revokedCount: state.revoked.size,
    check(leaf, user) {
      if (leaf === undefined) return NO_CERTIFICATE;
      if (user === undefined || user === "") return NO_USER;
      const who = `certificate ${leaf.serial} for ${leaf.commonName ?? "(no CN)"}`;
      if (leaf.notAfter.getTime() <= clock().getTime()) {
        return { allow: false, reason: `${who} expired at ${leaf.notAfter.toISOString()}` };
      }
      const ours = leaf.authorityKeyId !== undefined
        ? leaf.authorityKeyId === state.keyId
        : leaf.issuer === state.issuer;
      if (!ours) return OTHER_CA;
      if (state.revoked.has(leaf.serial)) return { allow: false, reason: `${who} was revoked` };
      return { allow: true, reason: `${who} is valid` };
    },
  };
}

async function readRevokedSerials(fs: FileSystem, path: string, ca: CaCertificate): Promise<Set<string>> {
  if (!(await fs.stat(path))) return new Set();
  const message = "the CRL (crl.pem) is unreadable or not signed by this CA";
  const der = decodePem(await fs.readText(path), PEM_CRL, "ERR_STATE_CORRUPT", message);
  let crl: X509Crl;
  try {
    crl = new X509Crl(der);
  } catch (err) {
    throw new AgentError(
      "ERR_STATE_CORRUPT",
      message,
      err instanceof Error ? err.message.slice(0, 200) : undefined,
    );
  }
  // Only a CRL signed by this CA may say what is revoked; anything else fails closed (the load fails).
  let valid = false;
  try {
    valid = crl.issuer === ca.certificate.subject && (await crl.verify({ publicKey: ca.certificate }));
  } catch {
    valid = false;
  }
  if (!valid) throw new AgentError("ERR_STATE_CORRUPT", message, "signature or issuer mismatch");
  const serials = new Set<string>();
  for (const entry of crl.entries) {
    const serial = canonicalSerial(entry.serialNumber);
    if (serial !== undefined) serials.add(serial);
  }
  return serials;
}

/**
 * The gate for the CA in `caDir`, or undefined when no CA certificate is there. A CA certificate without
 * a CRL means nothing is revoked; a CRL that is corrupt or signed by someone else is ERR_STATE_CORRUPT.
 */
export async function loadCertificateGate(
  fs: FileSystem,
  caDir: string,
  clock: Clock,
): Promise<CertificateGate | undefined> {
  const files = caFiles(caDir);
  const ca = await readCaCertificate(fs, files);
  if (!ca) return undefined;
  const revoked = await readRevokedSerials(fs, files.crl, ca);
  return certificateGate({ issuer: ca.certificate.subject, keyId: ca.keyId, revoked }, clock);
}
