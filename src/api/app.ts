/**
 * The HTTPS API (`/api/...`) as a Hono app: Request (plus the connection it came on) -> Response. Docker
 * Cloud's wire format: JSON only, errors as `{"error": "..."}`, lists as `{"meta", "objects"}`. Each request
 * goes through the same steps, in this order:
 *
 * 1. authenticate: no credential or a bad one is 401 before anything else (src/api/authenticate.ts);
 * 2. JSON only: a body that is not `application/json` is 415, one over the limit 413;
 * 3. route: an unknown path is 404, a known path with another method 405 (with Allow);
 * 4. decide with the decision core, as the Engine API call the resource stands for (the policy, the
 *    certificate gate, the macaroon gate when it is on, with the client's address): a deny is 403;
 * 5. act: the agent's own call to dockerd carries a one-time proof of this decision
 *    (decide/decision-proof.ts), so the plugin accepts exactly that call without a rule for anonymous.
 *
 * Every request, whatever its outcome, is one audit event with door "api" and the client's address.
 */
import { Hono } from "hono";
import type { Context } from "hono";
import { type AuditEvent, redactUri } from "../audit/event.ts";
import type { Decision } from "../decide/decide.ts";
import { decide } from "../decide/decide.ts";
import type { DecisionProofs } from "../decide/decision-proof.ts";
import type { EngineClient } from "../docker/engine-client.ts";
import { type ErrorCode, isAgentError, toAgentError } from "../errors.ts";
import type { Clock, HttpsConnection } from "../ports.ts";
import type { PluginState } from "../server/plugin-app.ts";
import { authenticate, type Authenticator, type Principal } from "./authenticate.ts";
import { apiFacts, type EngineCall, macaroonOf } from "./facts.ts";
import { API_LIMITS } from "./limits.ts";
import { listOf, pageOf } from "./list.ts";
import { isUuid, type NodeObject, nodeOf } from "./node.ts";

export interface ApiAppDeps {
  /** The gates and policy in force (the same state the plugin decides with). */
  readonly state: () => PluginState;
  /** Tried in order for every request (authenticate.ts). */
  readonly authenticators: readonly Authenticator[];
  readonly audit: (event: AuditEvent) => void;
  readonly clock: Clock;
  readonly monotonicMs: () => number;
  readonly newDecisionId: () => string;
  /** dockerd's Engine API over its unix socket. */
  readonly docker: Pick<EngineClient, "getJson">;
  /**
   * Proofs for the API's own calls to dockerd. Without them the calls go out bare and the plugin decides
   * them as it would any anonymous unix-socket call.
   */
  readonly proofs?: DecisionProofs;
  readonly maxBodyBytes?: number;
}

/** What the runtime passes with each request: the connection it arrived on. */
export interface ApiBindings {
  readonly connection: HttpsConnection;
}

/** What one request did, for its audit event. */
interface Outcome {
  readonly allow: boolean;
  readonly decidedBy: string;
  readonly ruleId: string | undefined;
  readonly reason: string;
  readonly code: ErrorCode | string | undefined;
  readonly action?: string;
  readonly resources?: Readonly<Record<string, string>>;
}

interface ApiCall {
  readonly decisionId: string;
  readonly started: number;
  principal?: Principal;
  outcome?: Outcome;
}

type ApiEnv = { Bindings: ApiBindings; Variables: { call: ApiCall } };
type ApiContext = Context<ApiEnv>;

const JSON_HEADERS = { "content-type": "application/json" } as const;
/** The Engine API call the node resource is decided as. */
const NODE_CALL: EngineCall = { method: "GET", uri: "/info" };
const NODE_PATHS = [
  "/api/infra/v1/node/",
  "/api/infra/v1/node/:uuid/",
  "/api/infra/v1/:namespace/node/",
  "/api/infra/v1/:namespace/node/:uuid/",
] as const;
const NAMESPACE = /^[A-Za-z0-9_@][A-Za-z0-9._@-]{0,63}$/;

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { ...JSON_HEADERS, ...headers } });
}

/** Docker Cloud's error body; the decision id lets the operator find the audit event. */
function apiError(status: number, message: string, decisionId: string, headers?: Record<string, string>) {
  return json({ error: `${message} (decision ${decisionId})` }, status, headers);
}

function refused(
  c: ApiContext,
  status: number,
  code: ErrorCode,
  message: string,
  reason: string = message,
  headers?: Record<string, string>,
): Response {
  const call = c.get("call");
  call.outcome = { allow: false, decidedBy: "request", ruleId: undefined, reason, code };
  return apiError(status, message, call.decisionId, headers);
}

export function createApiApp(deps: ApiAppDeps): Hono<ApiEnv> {
  const maxBodyBytes = deps.maxBodyBytes ?? API_LIMITS.maxBodyBytes;
  const app = new Hono<ApiEnv>();

  app.use("*", async (c, next) => {
    const call: ApiCall = { decisionId: deps.newDecisionId(), started: deps.monotonicMs() };
    c.set("call", call);
    const connection = c.env.connection;
    try {
      const result = await authenticate(deps.authenticators, c.req.raw, connection);
      if (!result.ok) {
        call.outcome = {
          allow: false,
          decidedBy: "authentication",
          ruleId: result.by === "none" ? undefined : `authentication:${result.by}`,
          reason: result.reason,
          code: "ERR_API_UNAUTHENTICATED",
        };
        c.res = result.status === 429
          ? apiError(429, "too many failed attempts: try again later", call.decisionId, {
            "retry-after": String(result.retryAfterSeconds ?? 60),
          })
          : apiError(401, "authentication required (a valid client certificate or API key)", call.decisionId);
      } else {
        call.principal = result.principal;
        const problem = bodyProblem(c, maxBodyBytes);
        if (problem !== undefined) c.res = problem;
        else await next();
      }
    } catch (err) {
      c.res = internalError(c, err);
    } finally {
      deps.audit(eventOf(c, call, deps));
    }
  });

  for (const path of NODE_PATHS) {
    app.get(path, (c) => nodeResource(c, deps));
    app.all(
      path,
      (c) =>
        refused(c, 405, "ERR_API_METHOD", "method not allowed", `method ${c.req.method} not allowed`, {
          allow: "GET, HEAD",
        }),
    );
  }

  app.notFound((c) => refused(c, 404, "ERR_API_NOT_FOUND", "not found"));
  // Never a stack trace or an HTML page: the cause goes to the audit log, the client reads a fixed text.
  app.onError((err, c) => internalError(c, err));
  return app;
}

/** 500 with a fixed text; the cause is kept for the audit event (never for the client). */
function internalError(c: ApiContext, err: unknown): Response {
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

/** 415 for a body that is not JSON, 413 for one declared larger than the limit; undefined when fine. */
function bodyProblem(c: ApiContext, maxBodyBytes: number): Response | undefined {
  const length = c.req.header("content-length");
  const chunked = c.req.header("transfer-encoding") !== undefined;
  const hasBody = c.req.raw.body !== null || chunked || (length !== undefined && length !== "0");
  if (!hasBody) return undefined;
  const type = c.req.header("content-type") ?? "";
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    return refused(
      c,
      415,
      "ERR_API_MEDIA_TYPE",
      "request bodies must be JSON (Content-Type: application/json)",
    );
  }
  if (length !== undefined && !(Number(length) <= maxBodyBytes)) {
    return refused(c, 413, "ERR_API_TOO_LARGE", `request body larger than ${maxBodyBytes} bytes`);
  }
  return undefined;
}

/** Asks the gates about the Engine API call `call` stands for; a Response when it is refused. */
async function decideCall(
  c: ApiContext,
  deps: ApiAppDeps,
  engine: EngineCall,
): Promise<Response | undefined> {
  const call = c.get("call");
  const principal = call.principal!;
  const facts = apiFacts(principal, c.env.connection, engine, macaroonOf(c.req.raw));
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
  call.outcome = {
    allow: decision.allow,
    decidedBy: decision.decidedBy,
    ruleId: decision.ruleId,
    reason: decision.reason,
    code: decision.code,
    ...(facts.route === undefined ? {} : { action: facts.route.action, resources: facts.route.resources }),
  };
  return decision.allow ? undefined : apiError(403, decision.reason, call.decisionId);
}

/** `GET /api/infra/v1/(ns/)node/` and `.../node/(uuid)/`: this host, from dockerd's /info. */
async function nodeResource(c: ApiContext, deps: ApiAppDeps): Promise<Response> {
  const call = c.get("call");
  const principal = call.principal!;
  const namespace = c.req.param("namespace");
  const uuid = c.req.param("uuid");
  // A namespace is the caller's own name or one of its groups; any other is not found (not forbidden: the
  // API does not confirm that a namespace exists).
  if (
    namespace !== undefined &&
    (!NAMESPACE.test(namespace) || (namespace !== principal.user && !principal.groups.includes(namespace)))
  ) {
    return refused(
      c,
      404,
      "ERR_API_NOT_FOUND",
      "not found",
      `namespace ${namespace} is not ${principal.user}'s`,
    );
  }
  let page;
  if (uuid === undefined) {
    try {
      page = pageOf(new URL(c.req.url).searchParams);
    } catch (err) {
      const message = isAgentError(err) ? err.message : "bad query";
      return refused(c, 400, "ERR_API_BAD_REQUEST", message);
    }
  } else if (!isUuid(uuid)) {
    return refused(c, 404, "ERR_API_NOT_FOUND", "not found", "not a node uuid");
  }

  const denied = await decideCall(c, deps, NODE_CALL);
  if (denied !== undefined) return denied;

  const node = await fetchNode(c, deps, namespace);
  if (node instanceof Response) return node;
  if (uuid !== undefined) {
    return node.uuid === uuid ? json(node) : apiError(404, "not found", call.decisionId);
  }
  const query = new URL(c.req.url).searchParams;
  const matches = [node].filter((n) =>
    (query.get("uuid") ?? n.uuid) === n.uuid && (query.get("state") ?? n.state) === n.state &&
    (query.get("docker_version") ?? n.docker_version) === n.docker_version
  );
  return json(listOf(new URL(c.req.url).pathname, page!, matches));
}

/** dockerd's /info as the node, through the plugin with this decision's proof. */
async function fetchNode(
  c: ApiContext,
  deps: ApiAppDeps,
  namespace: string | undefined,
): Promise<NodeObject | Response> {
  const call = c.get("call");
  let headers: Readonly<Record<string, string>> = {};
  if (deps.proofs !== undefined) {
    const proof = deps.proofs.issue(call.decisionId, NODE_CALL.method, NODE_CALL.uri);
    if (proof === undefined) {
      call.outcome = { ...call.outcome!, code: "ERR_API_BUSY" };
      return apiError(503, "too many API calls in progress: try again", call.decisionId, {
        "retry-after": "1",
      });
    }
    headers = proof;
  }
  let info: unknown;
  try {
    info = await deps.docker.getJson(NODE_CALL.uri, headers);
  } catch (err) {
    const cause = toAgentError(err);
    call.outcome = { ...call.outcome!, code: cause.code };
    const message = cause.code === "ERR_DOCKER_RESPONSE"
      ? "the Docker daemon refused or failed the agent's call"
      : "the Docker daemon did not answer";
    return apiError(502, message, call.decisionId);
  } finally {
    deps.proofs?.withdraw(call.decisionId);
  }
  const node = nodeOf(info, namespace);
  if (node === undefined) {
    call.outcome = { ...call.outcome!, code: "ERR_DOCKER_RESPONSE" };
    return apiError(502, "the Docker daemon sent an unreadable answer", call.decisionId);
  }
  return node;
}

function eventOf(c: ApiContext, call: ApiCall, deps: ApiAppDeps): AuditEvent {
  const outcome: Outcome = call.outcome ??
    { allow: false, decidedBy: "request", ruleId: undefined, reason: "no decision", code: "ERR_INTERNAL" };
  const url = new URL(c.req.url);
  return {
    time: deps.clock().toISOString(),
    decisionId: call.decisionId,
    phase: "request",
    user: call.principal?.user ?? null,
    authMethod: call.principal?.authMethod ?? null,
    method: c.req.method,
    uri: redactUri(`${url.pathname}${url.search}`),
    action: outcome.action ?? null,
    resources: outcome.resources ?? {},
    allow: outcome.allow,
    decidedBy: outcome.decidedBy,
    ruleId: outcome.ruleId ?? null,
    reason: outcome.reason,
    code: outcome.code ?? null,
    policyHash: deps.state().policyHash ?? null,
    status: c.res.status,
    durationMs: Math.round((deps.monotonicMs() - call.started) * 1000) / 1000,
    door: "api",
    clientAddress: c.env.connection.address,
  };
}
