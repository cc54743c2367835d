/**
 * Client certificates on the HTTPS listener. The listener asks for one and never requires it; a certificate
 * names its user when all of these hold, checked on every request (so a revocation reaches connections that
 * are already open within the reload interval):
 *
 * - this agent's CA is in force (the certificate gate of the state in force) and the certificate names it
 *   as its issuer;
 * - the certificate gate lets it through: not revoked (crl.pem and index.json), not expired, with a CN;
 * - the TLS handshake verified its signature against the CA (peerVerified): a certificate that merely
 *   copies the CA's name and key identifier is refused.
 *
 * The CN is the user and the OUs are its groups, exactly as dockerd reports a TLS user to the plugin.
 */
import { parsePeerCertificatePems, type PeerCertificate } from "../ca/index.ts";
import { isCertificateGate } from "../decide/certificate-gate.ts";
import type { Gate } from "../decide/gate.ts";
import type { Authentication, Authenticator } from "./authenticate.ts";

export interface CertificateAuthenticatorDeps {
  /** The gates in force (the certificate gate carries the CA's revocations). */
  readonly gates: () => readonly Gate[];
}

const failure = (reason: string): Authentication => ({ kind: "failure", status: 401, reason });

function who(leaf: PeerCertificate): string {
  return `certificate ${leaf.serial} for ${leaf.commonName ?? "(no CN)"}`;
}

export function certificateAuthenticator(deps: CertificateAuthenticatorDeps): Authenticator {
  return {
    name: "certificate",
    authenticate(_request, connection): Authentication {
      if (connection.peerCertificatesPem.length === 0) return { kind: "none" };
      const gate = deps.gates().find(isCertificateGate);
      if (gate === undefined) {
        return failure("a client certificate was presented but this agent has no CA to check it against");
      }
      let leaf: PeerCertificate;
      try {
        leaf = parsePeerCertificatePems(connection.peerCertificatesPem.slice(0, 1))[0]!;
      } catch {
        return failure("malformed client certificate");
      }
      if (!gate.certificates.issuedHere(leaf)) return failure(`${who(leaf)} is from another CA`);
      const verdict = gate.certificates.check(leaf, leaf.commonName);
      if (!verdict.allow) return failure(verdict.reason);
      if (!connection.peerVerified) {
        return failure(`${who(leaf)} does not verify against this agent's CA (forged, or not yet valid)`);
      }
      return {
        kind: "principal",
        principal: {
          user: leaf.commonName!,
          groups: leaf.organizationalUnits,
          authMethod: "TLS",
          certificate: leaf,
        },
      };
    },
  };
}
