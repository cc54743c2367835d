/**
 * The certificate gate: refuses client certificates this CA has revoked (dockerd has no revocation of its
 * own), certificates dockerd reported no user for, and expired ones. Certificates from other CAs that
 * dockerd accepted are not this gate's business. Loading reads `cluster.crt` and `crl.pem` (plus `index.json`
 * on the CA host), so a host with copies of those two files enforces revocation; the checks per request
 * are a few comparisons.
 */
import type { Clock, FileSystem } from "../ports.ts";
import { readCaCertificate } from "./authority.ts";
import { readCrlSerials } from "./crl-serials.ts";
import { caFiles } from "./files.ts";
import { isRevoked, readIndex } from "./issued-index.ts";
import type { PeerCertificate } from "./peer-certificate.ts";

export interface CertificateVerdict {
  readonly allow: boolean;
  readonly reason: string;
}

export interface CertificateGate {
  /** How many serials the loaded CRL revokes (for the server's state summary). */
  readonly revokedCount: number;
  /** `leaf` is the client's certificate (undefined without TLS client auth), `user` what dockerd reported. */
  check(leaf: PeerCertificate | undefined, user: string | undefined): CertificateVerdict;
  /** Whether `leaf` names this CA as its issuer (key identifier, else issuer name). Not a signature check. */
  issuedHere(leaf: PeerCertificate): boolean;
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
  const issuedHere = (leaf: PeerCertificate) =>
    leaf.authorityKeyId !== undefined ? leaf.authorityKeyId === state.keyId : leaf.issuer === state.issuer;
  return {
    revokedCount: state.revoked.size,
    issuedHere,
    check(leaf, user) {
      if (leaf === undefined) return NO_CERTIFICATE;
      if (user === undefined || user === "") return NO_USER;
      const who = `certificate ${leaf.serial} for ${leaf.commonName ?? "(no CN)"}`;
      if (leaf.notAfter.getTime() <= clock().getTime()) {
        return { allow: false, reason: `${who} expired at ${leaf.notAfter.toISOString()}` };
      }
      if (!issuedHere(leaf)) return OTHER_CA;
      if (state.revoked.has(leaf.serial)) return { allow: false, reason: `${who} was revoked` };
      return { allow: true, reason: `${who} is valid` };
    },
  };
}

/**
 * What the gate needs from the CA in `caDir`, or undefined when no CA certificate is there. A CA certificate
 * without a CRL means nothing is revoked; a CRL that is corrupt or signed by someone else is
 * ERR_STATE_CORRUPT, and so is a corrupt `index.json` when there is one.
 */
export async function loadCertificateGateState(
  fs: FileSystem,
  caDir: string,
): Promise<CertificateGateState | undefined> {
  const files = caFiles(caDir);
  const ca = await readCaCertificate(fs, files);
  if (!ca) return undefined;
  const revoked = (await readCrlSerials(fs, files.crl, ca)) ?? new Set<string>();
  // On the CA host the index is where a revocation lands first (then crl.pem). A crash between the two
  // writes must not lose it, so the gate also refuses what the index marks revoked. A corrupt index
  // fails the load (fail closed); hosts with only cluster.crt and crl.pem have no index.
  for (const entry of (await readIndex(fs, files.index)).certificates) {
    if (isRevoked(entry)) revoked.add(entry.serial);
  }
  return { issuer: ca.certificate.subject, keyId: ca.keyId, revoked };
}

/** The gate for the CA in `caDir`, or undefined when there is none (see loadCertificateGateState). */
export async function loadCertificateGate(
  fs: FileSystem,
  caDir: string,
  clock: Clock,
): Promise<CertificateGate | undefined> {
  const state = await loadCertificateGateState(fs, caDir);
  return state === undefined ? undefined : certificateGate(state, clock);
}
