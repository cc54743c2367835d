/** The certificate gate as a plugin gate: revoked, expired or userless client certificates are refused. */
import type { CertificateGate } from "../ca/index.ts";
import type { Gate } from "./gate.ts";

/** The gate, with the CA's rules it applies (the HTTPS listener's certificate authenticator reads them too). */
export interface CertificatePluginGate extends Gate {
  readonly name: "certificate";
  readonly certificates: CertificateGate;
}

export function isCertificateGate(gate: Gate): gate is CertificatePluginGate {
  return gate.name === "certificate" && (gate as Partial<CertificatePluginGate>).certificates !== undefined;
}

export function certificateGateOf(gate: CertificateGate): CertificatePluginGate {
  return {
    name: "certificate",
    certificates: gate,
    check(facts) {
      const verdict = gate.check(facts.leafCertificate, facts.request.user);
      return {
        allow: verdict.allow,
        ruleId: verdict.allow ? undefined : "certificate",
        reason: verdict.reason,
      };
    },
  };
}
