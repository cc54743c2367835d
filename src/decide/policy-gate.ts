/** The policy gate: the operator's rules for the user dockerd reports (default deny). */
import type { Policy, PolicyRequest } from "../policy/index.ts";
import type { RequestFacts } from "./facts.ts";
import type { Gate, GateVerdict } from "./gate.ts";

export function policyRequestOf(facts: RequestFacts): PolicyRequest {
  const leaf = facts.leafCertificate;
  return {
    user: facts.request.user,
    certificate: leaf
      ? { organizations: leaf.organizations, organizationalUnits: leaf.organizationalUnits }
      : undefined,
    method: facts.request.method,
    uri: facts.uri.decoded,
    path: facts.uri.path,
    action: facts.route?.action,
    effect: facts.effect,
    body: facts.body,
    agentToken: facts.agentToken === true,
  };
}

export function policyGate(policy: Policy): Gate {
  return {
    name: "policy",
    check(facts: RequestFacts): GateVerdict {
      const decision = policy.evaluate(policyRequestOf(facts));
      return { allow: decision.allow, ruleId: decision.ruleId, reason: decision.reason };
    },
  };
}
