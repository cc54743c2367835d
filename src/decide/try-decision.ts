/**
 * "What would the plugin decide for this request?" - `agent policy test` and the console's policy form: the
 * plugin's own pipeline (parse, route, the policy gate) fed with what dockerd would send for `user`.
 */
import { buildFacts, decide, isDecision } from "./decide.ts";
import { policyGate } from "./policy-gate.ts";
import type { Policy } from "../policy/index.ts";

export interface TryRequest {
  readonly user?: string;
  readonly method: string;
  readonly uri: string;
  readonly body?: Uint8Array;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface TryAnswer {
  readonly allow: boolean;
  readonly action: string | null;
  readonly effect: string | null;
  readonly ruleId: string | null;
  readonly reason: string;
  /** Set when no route matched or the request was refused before routing. */
  readonly code: string | null;
}

export async function tryDecision(policy: Policy, request: TryRequest): Promise<TryAnswer> {
  const headers: Record<string, string[]> = {};
  let body: string | undefined;
  if (request.body !== undefined) {
    body = btoa(Array.from(request.body, (b) => String.fromCharCode(b)).join(""));
    headers["Content-Type"] = ["application/json"];
    headers["Content-Length"] = [String(request.body.length)];
  }
  for (const [name, value] of Object.entries(request.headers ?? {})) headers[name] = [value];
  const wire = JSON.stringify({
    User: request.user ?? "",
    UserAuthNMethod: request.user ? "TLS" : "",
    RequestMethod: request.method.toUpperCase(),
    RequestUri: request.uri,
    RequestBody: body,
    RequestHeaders: headers,
  });
  const facts = buildFacts(wire, "request");
  const decision = isDecision(facts) ? facts : await decide(facts, [policyGate(policy)]);
  const action = decision.facts?.route?.action ?? null;
  return {
    allow: decision.allow,
    action,
    effect: action === null ? null : decision.facts?.effect ?? null,
    ruleId: decision.ruleId ?? null,
    reason: decision.reason,
    code: decision.code ?? null,
  };
}
