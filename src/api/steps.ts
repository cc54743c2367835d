/**
 * The request steps every resource shares (app.ts runs them in order: authenticate -> JSON -> route ->
 * decide -> act), and the helpers a resource handler uses for the last two: `decideCalls` asks the decision
 * core about the Engine API calls a REST call makes (a deny is 403 before anything is done), `dockerCall`
 * makes one of them with a one-time proof of this decision (decide/decision-proof.ts).
 */
import type { FleetNodeView } from "./node.ts";
import type { Context } from "hono";
import { type AuditEvent, decisionOutcome, type DoorOutcome } from "../audit/event.ts";
import type { Decision } from "../decide/decide.ts";
import { decide } from "../decide/decide.ts";
import type { DecisionProofs } from "../decide/decision-proof.ts";
import { dockerMessage, type EngineAnswer, type EngineClient } from "../docker/engine-client.ts";
import { type ErrorCode, isAgentError, toAgentError } from "../errors.ts";
import type { Policy } from "../policy/index.ts";
import type { Clock, HttpsConnection } from "../ports.ts";
import type { PluginState } from "../server/plugin-app.ts";
import { type Authenticator, type Principal, READ_ROLE_ONLY, readRoleRefusal } from "./authenticate.ts";
import { apiFacts, type EngineCall, macaroonOf } from "./facts.ts";
import type { ActionLog, ActionRecord } from "./action.ts";
import { API_LIMITS } from "./limits.ts";
import { type Page, pageOf } from "./list.ts";
import type { DockerStreams } from "./container-streams.ts";
import type { StreamDeps } from "./events.ts";
import type { RoleCredentials } from "./role-credential.ts";
import type { ServiceStore } from "./service-store.ts";

export interface ApiAppDeps {
  /** The gates and policy in force (the same state the plugin decides with); the policy names groups. */
  readonly state: () => PluginState & { readonly policy?: Policy };
  /** Tried in order for every request (authenticate.ts). */
  readonly authenticators: readonly Authenticator[];
  readonly audit: (event: AuditEvent) => void;
  readonly clock: Clock;
  readonly monotonicMs: () => number;
  readonly newDecisionId: () => string;
  /** A new random UUID (services). */
  readonly newUuid: () => string;
  /** dockerd's Engine API over its unix socket. */
  readonly docker: Pick<EngineClient, "getJson" | "send">;
  /** The services' specs and desired states (STATE_DIR/services.json). */
  readonly services: ServiceStore;
  /**
   * Proofs for the API's own calls to dockerd. Without them the calls go out bare and the plugin decides
   * them as it would any anonymous unix-socket call.
   */
  readonly proofs?: DecisionProofs;
  readonly maxBodyBytes?: number;
  /** API roles' credentials (role-credential.ts); without them a service with roles is refused (400). */
  readonly roles?: RoleCredentials;
  /** dockerd's socket for the logs and exec websockets (container-streams.ts); without it they are 400. */
  readonly dockerStreams?: DockerStreams;
  /** The Stream API's event log and timers (events.ts); without it the events endpoint is 404. */
  readonly stream?: StreamDeps;
  /** The action records (default: a ring of its own per app). */
  readonly actions?: ActionLog;
  /** On a fleet member: this node's name and the registry, so the node list is the fleet's. */
  readonly fleet?: { readonly name: string; nodes(): readonly FleetNodeView[] };
}

/** What the runtime passes with each request: the connection it arrived on. */
export interface ApiBindings {
  readonly connection: HttpsConnection;
}

/** What one request did, for its audit event. */
export type Outcome = DoorOutcome;

export interface ApiCall {
  readonly decisionId: string;
  readonly started: number;
  principal?: Principal;
  outcome?: Outcome;
  /** The action record of a call that changes something (action.ts), ended when the response is ready. */
  action?: ActionRecord;
  /**
   * Long work (scale, redeploy) still running after the 202: the action stays "In progress" until it
   * settles, then ends "Success", or "Failed" with the reason in its logs.
   */
  continues?: Promise<void>;
}

export type ApiEnv = { Bindings: ApiBindings; Variables: { call: ApiCall } };
export type ApiContext = Context<ApiEnv>;

const JSON_HEADERS = { "content-type": "application/json" } as const;

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { ...JSON_HEADERS, ...headers } });
}

/** Docker Cloud's error body; the decision id lets the operator find the audit event. */
export function apiError(
  status: number,
  message: string,
  decisionId: string,
  headers?: Record<string, string>,
) {
  return json({ error: `${message} (decision ${decisionId})` }, status, headers);
}

/** Refused by the request step itself (bad input, not found, ...), with the reason for the audit log. */
export function refused(
  c: ApiContext,
  status: number,
  code: ErrorCode,
  message: string,
  reason: string = message,
  headers?: Record<string, string>,
): Response {
  const call = c.get("call");
  call.outcome = {
    allow: false,
    decidedBy: call.outcome?.allow === true ? call.outcome.decidedBy : "request",
    ruleId: call.outcome?.ruleId,
    reason,
    code,
    ...(call.outcome?.action === undefined ? {} : { action: call.outcome.action }),
    ...(call.outcome?.resources === undefined ? {} : { resources: call.outcome.resources }),
  };
  return apiError(status, message, call.decisionId, headers);
}

export function notFound(c: ApiContext, reason = "not found"): Response {
  return refused(c, 404, "ERR_API_NOT_FOUND", "not found", reason);
}

export function badRequest(c: ApiContext, message: string): Response {
  return refused(c, 400, "ERR_API_BAD_REQUEST", message);
}

/** The page a list request asks for (`?limit=&offset=`), or the 400 to answer when either is bad. */
export function pageOrBadRequest(c: ApiContext): Page | Response {
  try {
    return pageOf(new URL(c.req.url).searchParams);
  } catch (err) {
    return badRequest(c, isAgentError(err) ? err.message : "bad query");
  }
}

/**
 * Docker Cloud's list filters: exact (`?name=web&state=Running`) and prefix (`?uuid__startswith=3f2a`, as its
 * CLI resolves a short id or a name); an absent filter matches all.
 */
export function matchesFilters(
  query: URLSearchParams,
  object: Readonly<Record<string, unknown>>,
  names: readonly string[],
): boolean {
  return names.every((name) => {
    const wanted = query.get(name);
    const prefix = query.get(`${name}__startswith`);
    const value = object[name];
    return (wanted === null || value === wanted) &&
      (prefix === null || (typeof value === "string" && value.startsWith(prefix)));
  });
}

/** 500 with a fixed text; the cause is kept for the audit event (never for the client). */
export function internalError(c: ApiContext, err: unknown): Response {
  const call = c.get("call");
  if (call === undefined) return json({ error: "internal error" }, 500);
  const cause = toAgentError(err);
  call.outcome = {
    allow: call.outcome?.allow ?? false,
    decidedBy: call.outcome?.decidedBy ?? "request",
    ruleId: call.outcome?.ruleId,
    reason: `internal error: ${cause.detail ?? cause.message}`.slice(0, 500),
    code: cause.code,
    ...(call.outcome?.action === undefined ? {} : { action: call.outcome.action }),
  };
  return apiError(500, "internal error", call.decisionId);
}

/**
 * Asks the gates about each Engine API call (with the body dockerd would get, so `when` conditions apply
 * as on the socket); the first refusal is the answer (403), before anything is done. The audit event names
 * the first call's action, or the refused one's.
 */
export async function decideCalls(
  c: ApiContext,
  deps: ApiAppDeps,
  calls: readonly EngineCall[],
): Promise<Response | undefined> {
  const call = c.get("call");
  const principal = call.principal!;
  for (const [i, engine] of calls.entries()) {
    const facts = apiFacts(
      principal,
      c.env.connection,
      engine,
      macaroonOf(c.req.raw) ?? principal.macaroon,
    );
    // The read API role allows reads only, whatever its creator's rules allow.
    if (principal.role?.name === "read" && facts.effect !== "read") {
      call.outcome = readRoleRefusal(facts.route);
      return apiError(403, READ_ROLE_ONLY, call.decisionId);
    }
    let decision: Decision;
    try {
      decision = await decide(facts, deps.state().gates);
    } catch (err) {
      const cause = toAgentError(err);
      call.outcome = {
        allow: false,
        decidedBy: "request",
        ruleId: undefined,
        reason: "internal error in a gate",
        code: cause.code,
        ...(facts.route === undefined ? {} : { action: facts.route.action }),
      };
      return apiError(500, "internal error", call.decisionId);
    }
    if ((i === 0 && call.outcome === undefined) || !decision.allow) {
      call.outcome = decisionOutcome(decision);
    }
    if (!decision.allow) return apiError(403, decision.reason, call.decisionId);
  }
  return undefined;
}

/** dockerd failed a call the API decided: 502 (or 503 when no proof can be issued), thrown to the handler. */
export class DockerFailure extends Error {
  constructor(readonly response: Response) {
    super("docker call failed");
  }
}

/**
 * One call to dockerd with a proof of this request's decision (the plugin accepts exactly that call).
 * Answers dockerd's status and body; an unreachable daemon or no proof left throws DockerFailure.
 */
export async function dockerCall(
  c: ApiContext,
  deps: ApiAppDeps,
  engine: EngineCall & { readonly body?: unknown },
  timeoutMs?: number,
): Promise<EngineAnswer> {
  const call = c.get("call");
  let headers: Readonly<Record<string, string>> = {};
  if (deps.proofs !== undefined) {
    const proof = deps.proofs.issue(call.decisionId, engine.method, engine.uri);
    if (proof === undefined) {
      call.outcome = { ...call.outcome!, code: "ERR_API_BUSY" };
      throw new DockerFailure(apiError(503, "too many API calls in progress: try again", call.decisionId, {
        "retry-after": "1",
      }));
    }
    headers = proof;
  }
  try {
    return await deps.docker.send(engine.method, engine.uri, {
      headers,
      ...(engine.body === undefined ? {} : { body: engine.body }),
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
    });
  } catch (err) {
    const cause = toAgentError(err);
    call.outcome = { ...call.outcome!, code: cause.code };
    throw new DockerFailure(apiError(502, "the Docker daemon did not answer", call.decisionId));
  } finally {
    deps.proofs?.withdraw(call.decisionId);
  }
}

/** A dockerd answer that is not what the API needed: 502 with dockerd's own message (short). */
export function dockerRefused(c: ApiContext, answer: EngineAnswer): DockerFailure {
  const call = c.get("call");
  const message = dockerMessage(answer.body) ?? `status ${answer.status}`;
  call.outcome = { ...call.outcome!, code: "ERR_DOCKER_RESPONSE" };
  // The agent never pulls: say where the image has to come from.
  const hint = /^No such image/i.test(message)
    ? " (the agent does not pull images: docker pull it on the host)"
    : "";
  // A name in use (another container of the host) is the client's conflict; anything else is dockerd's.
  const status = answer.status === 409 ? 409 : 502;
  return new DockerFailure(
    apiError(status, `the Docker daemon refused the agent's call: ${message}${hint}`, call.decisionId),
  );
}

/** The JSON body as an object; a Response (400) when it is missing, malformed or not an object. */
export async function jsonObject(
  c: ApiContext,
  optional = false,
): Promise<Record<string, unknown> | Response> {
  let text: string;
  try {
    text = await c.req.text();
  } catch {
    return badRequest(c, "the request body could not be read");
  }
  if (text.length > API_LIMITS.maxBodyBytes) {
    return refused(c, 413, "ERR_API_TOO_LARGE", `request body larger than ${API_LIMITS.maxBodyBytes} bytes`);
  }
  if (text.trim() === "") return optional ? {} : badRequest(c, "a JSON object is required");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return badRequest(c, "the request body is not valid JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return badRequest(c, "the request body must be a JSON object");
  }
  return value as Record<string, unknown>;
}
