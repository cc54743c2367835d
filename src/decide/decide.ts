/**
 * The decision for one plugin call: parse and normalise the request, then ask every enabled gate.
 * Any malformed input, unknown route or failing gate is a deny; the first deny ends the evaluation.
 */
import { bodyWithheld, decodeJsonBody, hasFormBody } from "../authz/body.ts";
import { matchRoute, requestEffect } from "../authz/routes.ts";
import { normalizeUri } from "../authz/uri.ts";
import { type AuthzRequest, parseAuthzRequest, type Phase } from "../authz/wire.ts";
import { peerParser } from "../ca/peer-parser.ts";
import { AgentError, isAgentError } from "../errors.ts";
import type { RequestFacts } from "./facts.ts";
import type { Gate } from "./gate.ts";
import { isMacaroonGate } from "./macaroon-gate.ts";
import type { ProofIssuer } from "./decision-proof.ts";

export interface Decision {
  readonly allow: boolean;
  /**
   * Which stage decided: a gate name, "request" when the input itself was refused, or "api" for the HTTPS
   * API's own call to dockerd, decided already by the API (decide/decision-proof.ts).
   */
  readonly decidedBy: "request" | Gate["name"] | "all-gates" | ProofIssuer;
  readonly ruleId: string | undefined;
  readonly reason: string;
  /** Stable error code when the input was refused (ERR_REQUEST_*). */
  readonly code: string | undefined;
  /** What was understood of the request (absent when it could not be parsed). */
  readonly request: AuthzRequest | undefined;
  readonly facts: RequestFacts | undefined;
  /** decidedBy "api", "gateway" or "agent": the decision this plugin call was made for. */
  readonly apiDecisionId?: string;
}

/** A deny decided before (or instead of) the gates: malformed input, an unknown route, an internal failure. */
export function refuse(
  reason: string,
  code: string | undefined,
  request?: AuthzRequest,
  facts?: RequestFacts,
): Decision {
  return { allow: false, decidedBy: "request", ruleId: undefined, reason, code, request, facts };
}

export function buildFacts(text: string, phase: Phase): RequestFacts | Decision {
  let request: AuthzRequest;
  try {
    request = parseAuthzRequest(text, phase);
  } catch (err) {
    return isAgentError(err)
      ? refuse(err.message, err.code)
      : refuse("malformed plugin request", "ERR_REQUEST_JSON");
  }
  return factsOf(request, phase);
}

/**
 * The facts of a request as dockerd would show it to a plugin (the gateway builds that request itself, so a
 * request means the same on both doors): the URI normalised, the route, the body decoded where it is judged.
 */
export function factsOf(request: AuthzRequest, phase: Phase): RequestFacts | Decision {
  try {
    const uri = normalizeUri(request.uri);
    const route = matchRoute(request.method, uri.path, () => uri.query);
    if (hasFormBody(request)) {
      return refuse(
        "form-encoded request bodies are refused: dockerd would read parameters the plugin cannot see",
        "ERR_REQUEST_FIELD",
        request,
      );
    }
    const effect = route === undefined ? undefined : requestEffect(route.effect, request.headers);
    const body = effect === "write" ? decodeJsonBody(request) : undefined;
    const leafCertificate = request.peerCertificates.length > 0
      ? certificateParser()(request.peerCertificates.slice(0, 1))[0]
      : undefined;
    // A JSON body dockerd did not forward is refused by decide(), after a proof had its say: dockerd 20.10
    // withholds bodies of 1 MiB or more, even one the gateway read and judged whole.
    const withheld = bodyWithheld(request);
    return {
      phase,
      request,
      uri,
      route,
      effect,
      body,
      leafCertificate,
      ...(withheld ? { bodyWithheld: true } : {}),
    };
  } catch (err) {
    if (isAgentError(err)) return refuse(err.message, err.code, request);
    return refuse("malformed plugin request", "ERR_REQUEST_FIELD", request);
  }
}

/** The X.509 parser: the door loads it before a request with certificates (ca/peer-parser.ts); else deny. */
function certificateParser() {
  const parse = peerParser();
  if (parse === undefined) {
    throw new AgentError(
      "ERR_INTERNAL",
      "client certificates arrived before the certificate parser was loaded",
    );
  }
  return parse;
}

export function isDecision(value: RequestFacts | Decision): value is Decision {
  return "decidedBy" in value;
}

/**
 * The facts as the gates judge them: `agentToken` is true only for a request over the unix socket (no user,
 * no client certificate) whose X-Macaroon the macaroon gate in force verifies as the agent's own internal
 * token. Whatever a caller put there is replaced: only the gate's verification counts.
 */
function judged(facts: RequestFacts, gates: readonly Gate[]): RequestFacts {
  const agentToken = facts.request.user === undefined && facts.leafCertificate === undefined &&
    gates.some((gate) => isMacaroonGate(gate) && gate.carriesInternalToken(facts));
  return agentToken === (facts.agentToken === true) ? facts : { ...facts, agentToken };
}

export async function decide(given: RequestFacts, gates: readonly Gate[]): Promise<Decision> {
  if (given.bodyWithheld === true) {
    return refuse(
      given.door === "gateway"
        ? "a JSON body on an upload route is not read by the gateway, so it cannot be checked"
        : "request body was not forwarded by dockerd (too large or chunked), so it cannot be checked",
      "ERR_REQUEST_BODY_WITHHELD",
      given.request,
      given,
    );
  }
  if (given.route === undefined) {
    return refuse(
      `unknown API route ${given.request.method} ${given.uri.path}`,
      "ERR_ROUTE_UNKNOWN",
      given.request,
      given,
    );
  }
  const facts = judged(given, gates);
  let last: { ruleId: string | undefined; reason: string } = { ruleId: undefined, reason: "allowed" };
  for (const gate of gates) {
    // Most gates answer at once: awaiting only a promise spares each call a turn of the microtask queue.
    const pending = gate.check(facts);
    const verdict = pending instanceof Promise ? await pending : pending;
    if (!verdict.allow) {
      return {
        allow: false,
        decidedBy: gate.name,
        ruleId: verdict.ruleId,
        reason: verdict.reason,
        code: undefined,
        request: facts.request,
        facts,
      };
    }
    if (gate.name === "policy") last = verdict;
  }
  if (gates.length === 0) return refuse("no gate is configured", undefined, facts.request, facts);
  return {
    allow: true,
    decidedBy: "all-gates",
    ruleId: last.ruleId,
    reason: last.reason,
    code: undefined,
    request: facts.request,
    facts,
  };
}
