/** A gate judges one aspect of a request (policy, macaroon, certificate, namespace). Gates are ANDed. */
import type { RequestFacts } from "./facts.ts";

export interface GateVerdict {
  readonly allow: boolean;
  /** The rule or caveat that decided, for the audit log (e.g. a policy rule id, `caveat:op`). */
  readonly ruleId: string | undefined;
  /** Short safe text: shown to the docker user on deny and written to the audit log. */
  readonly reason: string;
}

export interface Gate {
  readonly name: "policy" | "macaroon" | "certificate" | "namespace" | "fleet";
  check(facts: RequestFacts): GateVerdict | Promise<GateVerdict>;
}
