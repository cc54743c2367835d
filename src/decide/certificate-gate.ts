/** The certificate gate as a plugin gate: revoked, expired or userless client certificates are refused. */
import type { CertificateGate } from "../ca/index.ts";
import type { Gate } from "./gate.ts";

export function certificateGateOf(gate: CertificateGate): Gate {
  return {
    name: "certificate",
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
