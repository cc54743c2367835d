/**
 * The certificate gate: refuses client certificates this CA has revoked (dockerd has no revocation of its
 * own), certificates dockerd reported no user for, and expired ones. Certificates from other CAs that
 * dockerd accepted are not this gate's business. Loading reads `cluster.crt` and `crl.pem` (plus `index.json`
 * on the CA host), so a host with copies of those two files enforces revocation; the checks per request
 * are a few comparisons. Loading is gate-state.ts (it needs the X.509 library); this file does not.
 */
import type { Clock } from "../ports.ts";
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
