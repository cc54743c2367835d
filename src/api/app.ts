/**
 * The HTTPS API (`/api/...`) as a Hono app: Request (plus the connection it came on) -> Response. Docker
 * Cloud's wire format: JSON only, errors as `{"error": "..."}`, lists as `{"meta", "objects"}`. Each request
 * goes through the same steps, in this order:
 *
 * 1. authenticate: no credential or a bad one is 401 before anything else (src/api/authenticate.ts);
 * 2. JSON only: a body that is not `application/json` is 415, one over the limit 413;
 * 3. route: an unknown path is 404, a known path with another method 405 (with Allow);
 * 4. decide with the decision core, as the Engine API calls the REST call makes, each with the body
 *    dockerd would get (the policy, the certificate gate, the macaroon gate when it is on, with the client's
 *    address), all before the first is made: a deny is 403 and changes nothing;
 * 5. act: each of the agent's own calls to dockerd carries a one-time proof of this decision
 *    (decide/decision-proof.ts), so the plugin accepts exactly that call without a rule for anonymous.
 *
 * Every request, whatever its outcome, is one audit event with door "api" and the client's address; a call
 * that changes something is also an action record (action.ts) named in X-DockerCloud-Action-URI. The shared
 * steps and helpers are in steps.ts; each resource is a file: node.ts, service.ts, container.ts, action.ts;
 * namespaces are namespace.ts.
 */
import { Hono } from "hono";
import { type AuditEvent, doorEvent } from "../audit/event.ts";
import { isAgentError, toAgentError } from "../errors.ts";
import {
  ACTION_HEADER,
  ActionLog,
  actionName,
  type ActionRecord,
  actionResource,
  AGENT_ACTION_HEADER,
} from "./action.ts";
import { authenticate, authenticationRefusal } from "./authenticate.ts";
import { containerResource, methodNotAllowed } from "./container.ts";
import { eventsResource, NDJSON } from "./events.ts";
import { actionEvent } from "../stream/index.ts";
import type { EngineCall } from "./facts.ts";
import { API_LIMITS } from "./limits.ts";
import { listOf, pageOf } from "./list.ts";
import { scopeOf } from "./namespace.ts";
import { fleetNodeOf, isUuid, type NodeObject, nodeOf } from "./node.ts";
import { serviceResource } from "./service.ts";
import {
  type ApiAppDeps,
  type ApiCall,
  type ApiContext,
  type ApiEnv,
  apiError,
  decideCalls,
  DockerFailure,
  internalError,
  json,
  notFound,
  refused,
} from "./steps.ts";

export type { ApiAppDeps, ApiBindings } from "./steps.ts";

/** The Engine API call the node resource is decided as. */
const NODE_CALL: EngineCall = { method: "GET", uri: "/info" };
const NODE_PATHS = [
  "/api/infra/v1/node/",
  "/api/infra/v1/node/:uuid/",
  "/api/infra/v1/:namespace/node/",
  "/api/infra/v1/:namespace/node/:uuid/",
] as const;
const APP_RESOURCES = new Set(["service", "container"]);
const AUDIT_RESOURCES = new Set(["action", "events"]);

export function createApiApp(deps: ApiAppDeps): Hono<ApiEnv> {
  const maxBodyBytes = deps.maxBodyBytes ?? API_LIMITS.maxBodyBytes;
  const app = new Hono<ApiEnv>();
  const actions = deps.actions ?? new ActionLog();

  app.use("*", async (c, next) => {
    const call: ApiCall = { decisionId: deps.newDecisionId(), started: deps.monotonicMs() };
    c.set("call", call);
    const connection = c.env.connection;
    try {
      const result = await authenticate(deps.authenticators, c.req.raw, connection);
      if (!result.ok) {
        call.outcome = authenticationRefusal(result);
        c.res = result.status === 429
          ? apiError(429, "too many failed attempts: try again later", call.decisionId, {
            "retry-after": String(result.retryAfterSeconds ?? 60),
          })
          : apiError(
            401,
            "authentication required (a valid client certificate or API key)",
            call.decisionId,
            {
              "www-authenticate": 'Basic realm="agent", charset="UTF-8"',
            },
          );
      } else {
        call.principal = result.principal;
        const problem = acceptProblem(c) ?? bodyProblem(c, maxBodyBytes);
        if (problem !== undefined) c.res = problem;
        else await next();
      }
    } catch (err) {
      c.res = internalError(c, err);
    } finally {
      const action = call.action;
      if (action !== undefined) {
        action.decision.allowed = call.outcome?.allow ?? false;
        action.decision.rule = call.outcome?.ruleId ?? null;
        action.decision.decided_by = call.outcome?.decidedBy ?? null;
        const created = c.res.status === 201 ? await createdUri(c.res) : undefined;
        if (created !== undefined) action.object = created;
        c.res.headers.set(ACTION_HEADER, action.resource_uri);
        c.res.headers.set(AGENT_ACTION_HEADER, action.resource_uri);
        if (call.continues !== undefined && c.res.status < 400) {
          void call.continues.then(
            () => endAction(action, "Success", "", deps, actions),
            async (err: unknown) => endAction(action, "Failed", await failureText(err), deps, actions),
          );
        } else {
          const ok = c.res.status < 400;
          endAction(action, ok ? "Success" : "Failed", ok ? "" : await errorText(c.res), deps, actions);
        }
      }
      deps.audit(eventOf(c, call, deps));
    }
  });

  for (const path of NODE_PATHS) {
    app.get(path, (c) => nodeResource(c, deps));
    app.all(
      path,
      (c) => methodNotAllowed(c, "GET, HEAD"),
    );
  }

  // `/api/app/v1/(namespace/)RESOURCE/(uuid/(verb/))`: parsed here rather than by patterns, so that a
  // namespace can never be read as a resource or a uuid.
  app.all("/api/app/v1/*", (c) => appResource(c, deps, actions));
  app.all("/api/audit/v1/*", (c) => auditResource(c, deps, actions));

  app.notFound((c) => refused(c, 404, "ERR_API_NOT_FOUND", "not found"));
  // Never a stack trace or an HTML page: the cause goes to the audit log, the client reads a fixed text.
  app.onError((err, c) => err instanceof DockerFailure ? err.response : internalError(c, err));
  return app;
}

/** 406 when the client accepts no JSON (`Accept: text/html`); absent, any-type and application/any ranges are fine. */
function acceptProblem(c: ApiContext): Response | undefined {
  const accept = c.req.header("accept");
  if (accept === undefined || accept.trim() === "") return undefined;
  const ok = accept.split(",").some((part) => {
    const [range, ...params] = part.trim().toLowerCase().split(";");
    const refused = params.some((p) => /^\s*q\s*=\s*0(\.0{0,3})?\s*$/.test(p));
    return !refused &&
      (range === "*/*" || range === "application/*" || range === "application/json" || range === NDJSON);
  });
  return ok
    ? undefined
    : refused(c, 406, "ERR_API_MEDIA_TYPE", "the API answers in JSON only (Accept: application/json)");
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

/** `GET /api/infra/v1/(ns/)node/` and `.../node/(uuid)/`: this host, from dockerd's /info. */
async function nodeResource(c: ApiContext, deps: ApiAppDeps): Promise<Response> {
  const call = c.get("call");
  const principal = call.principal!;
  const namespace = c.req.param("namespace");
  const uuid = c.req.param("uuid");
  // A namespace is the caller's own name or one of its groups; any other is not found (not forbidden: the
  // API does not confirm that a namespace exists).
  if (namespace !== undefined && scopeOf(principal, deps.state().policy, namespace) === undefined) {
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

  const denied = await decideCalls(c, deps, [NODE_CALL]);
  if (denied !== undefined) return denied;

  const here = await fetchNode(c, deps, namespace);
  if (here instanceof Response) return here;
  // On a fleet member the list is the fleet's: this host live from its dockerd, the others as registered.
  const fleet = deps.fleet;
  const self = fleet?.nodes().find((n) => n.name === fleet.name);
  const nodes: NodeObject[] = fleet === undefined ? [here] : [
    {
      ...here,
      agent_name: fleet.name,
      ...(self === undefined
        ? {}
        : { agent_version: self.agentVersion, agent_state_revision: self.stateRevision }),
    },
    ...fleet.nodes().filter((n) => n.name !== fleet.name).map((n) => fleetNodeOf(n, namespace)),
  ];
  if (uuid !== undefined) {
    const node = nodes.find((n) => n.uuid === uuid);
    return node !== undefined ? json(node) : apiError(404, "not found", call.decisionId);
  }
  const query = new URL(c.req.url).searchParams;
  const matches = nodes.filter((n) =>
    (query.get("uuid") ?? n.uuid) === n.uuid && (query.get("state") ?? n.state) === n.state &&
    (query.get("docker_version") ?? n.docker_version) === n.docker_version
  );
  return json(listOf(new URL(c.req.url).pathname, page!, matches));
}

/** Service and container calls: the path's namespace (or the caller's own), then the resource. */
async function appResource(c: ApiContext, deps: ApiAppDeps, actions: ActionLog): Promise<Response> {
  const path = new URL(c.req.url).pathname;
  if (!path.endsWith("/")) return notFound(c);
  const parts = path.slice("/api/app/v1/".length, -1).split("/");
  const namespace = APP_RESOURCES.has(parts[0] ?? "") ? undefined : parts.shift();
  const [resource, id, verb, ...more] = parts;
  if (resource === undefined || !APP_RESOURCES.has(resource) || more.length > 0 || id === "" || verb === "") {
    return notFound(c);
  }
  const principal = c.get("call").principal!;
  const scope = scopeOf(principal, deps.state().policy, namespace);
  if (scope === undefined) {
    return notFound(c, `namespace ${namespace ?? principal.user} is not ${principal.user}'s`);
  }
  const method = c.req.method;
  if (method === "POST" || method === "PATCH" || method === "DELETE") {
    const uuid = deps.newUuid();
    const call = c.get("call");
    call.action = {
      uuid,
      // Docker Cloud's action URIs name no namespace (its SDK fetches them as they are).
      resource_uri: `/api/audit/v1/action/${uuid}/`,
      namespace: scope.namespace,
      object: `/api/app/v1/${scope.namespace}/${resource}/${id === undefined ? "" : `${id}/`}`,
      action: actionName(resource, method, id, verb),
      method,
      path,
      user: principal.user,
      user_agent: (c.req.header("user-agent") ?? "").slice(0, 256),
      ip: c.env.connection.address,
      start_date: deps.clock().toISOString(),
      end_date: null,
      state: "In progress",
      logs: "",
      decision: { id: call.decisionId, allowed: null, rule: null, decided_by: null },
      is_user_action: true,
      can_be_canceled: false,
      can_be_retried: false,
    };
    actions.add(call.action);
    deps.stream?.events.append(actionEvent(call.action, "create"));
  }
  return resource === "service"
    ? await serviceResource(c, deps, scope, id, verb)
    : await containerResource(c, deps, scope, id, verb);
}

/** `/api/audit/v1/(namespace/)action/(uuid/)`: the actions of the addressed namespace. */
async function auditResource(c: ApiContext, deps: ApiAppDeps, actions: ActionLog): Promise<Response> {
  const path = new URL(c.req.url).pathname;
  if (!path.endsWith("/")) return notFound(c);
  const parts = path.slice("/api/audit/v1/".length, -1).split("/");
  const namespace = AUDIT_RESOURCES.has(parts[0] ?? "") ? undefined : parts.shift();
  const [resource, id, ...more] = parts;
  if (resource === undefined || !AUDIT_RESOURCES.has(resource) || more.length > 0 || id === "") {
    return notFound(c);
  }
  if (resource === "events" && id !== undefined) return notFound(c);
  const principal = c.get("call").principal!;
  const scope = scopeOf(principal, deps.state().policy, namespace);
  if (scope === undefined) {
    return notFound(c, `namespace ${namespace ?? principal.user} is not ${principal.user}'s`);
  }
  if (resource === "events") return await eventsResource(c, deps, scope, namespace !== undefined);
  if (c.req.method !== "GET" && c.req.method !== "HEAD") return methodNotAllowed(c, "GET, HEAD");
  return await actionResource(c, deps, actions, scope, id, namespace !== undefined);
}

function endAction(
  action: ActionRecord,
  state: "Success" | "Failed",
  logs: string,
  deps: ApiAppDeps,
  actions: ActionLog,
): void {
  action.end_date = deps.clock().toISOString();
  action.state = state;
  action.logs = logs;
  actions.changed();
  deps.stream?.events.append(actionEvent(action, "update"));
}

/** A refused call's `{"error"}`: the action's logs. */
async function errorText(res: Response): Promise<string> {
  try {
    const body = (await res.clone().json()) as Record<string, unknown>;
    return typeof body["error"] === "string" ? body["error"] : `status ${res.status}`;
  } catch {
    return `status ${res.status}`;
  }
}

/** Why long work failed, for its action's logs: dockerd's refusal as the client would have read it. */
async function failureText(err: unknown): Promise<string> {
  return err instanceof DockerFailure ? await errorText(err.response) : "internal error";
}

/** The resource_uri of what a 201 created (the action's object). */
async function createdUri(res: Response): Promise<string | undefined> {
  try {
    const body = (await res.clone().json()) as Record<string, unknown>;
    return typeof body["resource_uri"] === "string" ? body["resource_uri"] : undefined;
  } catch {
    return undefined;
  }
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
  return doorEvent({
    door: "api",
    time: deps.clock(),
    decisionId: call.decisionId,
    principal: call.principal,
    method: c.req.method,
    url: c.req.url,
    outcome: call.outcome,
    policyHash: deps.state().policyHash,
    status: c.res.status,
    durationMs: deps.monotonicMs() - call.started,
    clientAddress: c.env.connection.address,
  });
}
