/**
 * The gateway: the Docker Engine API on the agent's TLS port, for the docker CLI unchanged. Each request goes
 * through the same steps, in this order:
 *
 * 1. authenticate, as the HTTPS API does (a client certificate of the agent's CA, an API key over Basic, an API
 *    role's credential): nothing, or a bad credential, is 401 before anything else;
 * 2. the body (body.ts): JSON read whole and judged, uploads streamed, anything else refused;
 * 3. decide with the decision core, as the plugin decides the same call (facts.ts), plus the client's address;
 *    a deny is 403 in dockerd's words ("authorization denied by ...");
 * 4. namespaces (namespaces.ts): objects of other namespaces are "no such ..." (404), creates are stamped,
 *    prunes confined;
 * 5. forward to dockerd's unix socket with a one-time proof of this decision (decide/decision-proof.ts): the
 *    plugin, when dockerd runs it, records the gateway's decision instead of deciding again as anonymous;
 * 6. answer: dockerd's response streamed back (lists filtered to the caller's namespaces, inspect without role
 *    credentials, events of the caller's namespaces), or the hijacked stream both ways (splice.ts).
 *
 * Every request is one audit event with door "gateway", the client's address and the decision.
 */
import type { Principal } from "../api/authenticate.ts";
import type { ApiAppDeps } from "../api/steps.ts";
import { authenticate, authenticationRefusal, READ_ROLE_ONLY, readRoleRefusal } from "../api/authenticate.ts";
import { isAdministrator, scopeOf } from "../api/namespace.ts";
import { type AuditEvent, decisionOutcome, doorEvent, type DoorOutcome } from "../audit/event.ts";
import { dockerMessage } from "../docker/engine-client.ts";
import { asksForUpgrade } from "../authz/effect.ts";
import { matchRoute, type RouteMatch } from "../authz/routes.ts";
import { normalizeUri } from "../authz/uri.ts";
import { decide, type Decision } from "../decide/decide.ts";
import type { DecisionProofs } from "../decide/decision-proof.ts";
import type { RequestFacts } from "../decide/facts.ts";
import { toAgentError } from "../errors.ts";
import type { Policy } from "../policy/index.ts";
import type {
  ForwardRequest,
  ForwardResponse,
  HijackedStream,
  HijackRequest,
  HttpsConnection,
} from "../ports.ts";
import { bodyPlan, GatewayRefusal, readJsonBody } from "./body.ts";
import { gatewayFacts } from "./facts.ts";
import { forwardedRequestHeaders, forwardedResponseHeaders } from "./headers.ts";
import { filterJsonLines, readUpTo } from "./lines.ts";
import {
  type EngineLookup,
  eventVisible,
  filterNetworkContainers,
  filterResponse,
  type NamespaceCaller,
  prepareRequest,
  redactResponse,
  sanitizeError,
  volumeCreateBody,
} from "./namespaces.ts";
import { splice } from "./splice.ts";

/** dockerd on its unix socket, as the gateway reaches it. */
export interface GatewayEngine {
  forward(request: ForwardRequest): Promise<ForwardResponse>;
  hijack(request: HijackRequest): Promise<HijackedStream>;
}

/** The gates and policy, authenticators, audit, clocks and decision ids: the HTTPS API's own. */
export interface GatewayDeps
  extends Pick<ApiAppDeps, "state" | "authenticators" | "audit" | "clock" | "monotonicMs" | "newDecisionId"> {
  readonly proofs: DecisionProofs;
  readonly engine: GatewayEngine;
  /** Objects' namespaces, looked up in dockerd (with proofs of their own). */
  readonly lookup: EngineLookup;
}

/** A response body read whole to filter it (a list of every container of a big host fits). */
const MAX_FILTERED_BYTES = 64 * 1024 * 1024;
/** An error body read to take another namespace's ids out of it. */
const MAX_ERROR_BYTES = 64 * 1024;
/** How long a proof outlives its call's answer: dockerd's AuthZRes for it may come after the last byte. */
const PROOF_GRACE_MS = 5_000;
/** Answers that show other namespaces' objects unless filtered. */
const FILTERED_ACTIONS = new Set([
  "container:list",
  "volume:list",
  "network:list",
  "network:inspect",
  "system:df",
]);
/** Answers that may carry an API role's credential (a container's or a committed image's environment). */
const REDACTED_ACTIONS = new Set(["container:inspect", "image:inspect"]);

interface Call {
  readonly decisionId: string;
  readonly started: number;
  principal?: Principal;
  outcome?: DoorOutcome;
  status?: number;
}

/** dockerd's error body: the docker CLI prints `Error response from daemon: MESSAGE`. */
function dockerError(status: number, message: string, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ message }), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

export function createGateway(
  deps: GatewayDeps,
): (request: Request, connection: HttpsConnection) => Promise<Response> {
  return async (request, connection) => {
    const call: Call = { decisionId: deps.newDecisionId(), started: deps.monotonicMs() };
    let response: Response;
    try {
      response = await handle(deps, call, request, connection);
    } catch (err) {
      const cause = toAgentError(err);
      call.outcome = {
        ...(call.outcome ?? { allow: false, decidedBy: "request", ruleId: undefined }),
        reason: `internal error: ${cause.detail ?? cause.message}`.slice(0, 500),
        code: cause.code,
      };
      response = dockerError(500, `internal error in the agent's gateway (decision ${call.decisionId})`);
    }
    call.status ??= response.status;
    deps.audit(eventOf(deps, call, request, connection));
    return response;
  };
}

async function handle(
  deps: GatewayDeps,
  call: Call,
  request: Request,
  connection: HttpsConnection,
): Promise<Response> {
  const id = call.decisionId;
  const refuse = (status: number, code: string, message: string, headers?: Record<string, string>) => {
    call.outcome = {
      ...call.outcome,
      allow: false,
      decidedBy: call.outcome?.allow === true ? call.outcome.decidedBy : "request",
      ruleId: call.outcome?.ruleId,
      reason: message,
      code,
    };
    return dockerError(status, `${message} (decision ${id})`, headers);
  };

  // 1. Who is calling.
  const authenticated = await authenticate(deps.authenticators, request, connection);
  if (!authenticated.ok) {
    call.outcome = authenticationRefusal(authenticated);
    return authenticated.status === 429
      ? dockerError(429, `too many failed attempts: try again later (decision ${id})`, {
        "retry-after": String(authenticated.retryAfterSeconds ?? 60),
      })
      : dockerError(
        401,
        `authentication required: a client certificate of the agent's CA or an API key (decision ${id})`,
        { "www-authenticate": 'Basic realm="agent", charset="UTF-8"' },
      );
  }
  const principal = authenticated.principal;
  call.principal = principal;

  // 2. The body, as the route allows it.
  const url = new URL(request.url);
  const target = `${url.pathname}${url.search}`;
  const method = request.method;
  let route: RouteMatch | undefined;
  try {
    const uri = normalizeUri(target);
    route = matchRoute(method, uri.path, () => uri.query);
  } catch {
    route = undefined; // the decision below refuses it, saying why
  }
  let jsonBody: Uint8Array | undefined;
  let streamed: ReadableStream<Uint8Array> | undefined;
  try {
    const plan = bodyPlan(route?.action, method, request.headers);
    if (plan.kind === "json") jsonBody = await readJsonBody(request.body, plan.length);
    else if (plan.kind === "stream") streamed = request.body ?? undefined;
  } catch (err) {
    if (err instanceof GatewayRefusal) return refuse(err.status, err.code, err.message);
    throw err;
  }

  // 3. The decision, exactly as the plugin would make it for this call, plus the client's address.
  const built = gatewayFacts(principal, connection.address, {
    method,
    target,
    headers: request.headers,
    jsonBody,
  });
  if ("decidedBy" in built) return denied(call, built);
  const facts: RequestFacts = built;
  if (principal.role?.name === "read" && facts.effect !== "read") {
    call.outcome = readRoleRefusal(facts.route);
    return dockerError(403, `authorization denied by agent: ${READ_ROLE_ONLY} (decision ${id})`);
  }
  const state = deps.state();
  const decision = await decide(facts, state.gates);
  if (!decision.allow) return denied(call, decision);
  call.outcome = decisionOutcome(decision);
  // An allowed request has a route: decide() refuses unknown ones.
  const known = facts.route!;

  // 4. Namespaces: what the caller may see, where its new objects go.
  const caller = callerOf(principal, state.policy);
  const prepared = await prepareRequest({
    route: known,
    path: facts.uri.path,
    target,
    body: facts.body,
    caller,
    lookup: deps.lookup,
  });
  if (!prepared.ok) return refuse(prepared.status, "ERR_GATEWAY_NAMESPACE", prepared.message);
  const forwardTarget = prepared.target ?? target;
  const body: Uint8Array | ReadableStream<Uint8Array> | undefined = prepared.body !== undefined
    ? new TextEncoder().encode(JSON.stringify(prepared.body))
    : jsonBody ?? streamed;
  const headers = forwardedRequestHeaders(request.headers);
  // dockerd tells a body from none by its length: a bodiless POST goes with `Content-Length: 0` (chunked
  // framing would be a body, and `start` refuses one).
  if (body instanceof Uint8Array) headers.push(["content-length", String(body.length)]);
  else if (body === undefined) {
    if (method !== "GET" && method !== "HEAD") headers.push(["content-length", "0"]);
  } else if (request.headers.has("content-length")) {
    headers.push(["content-length", request.headers.get("content-length")!]);
  }

  // Named volumes a container is to use are created first, in the caller's namespace, so dockerd never makes
  // an unlabeled one on its own.
  for (const name of prepared.createVolumes ?? []) {
    const volume = new TextEncoder().encode(JSON.stringify(volumeCreateBody(name, caller)));
    const created = await proven(deps, call, "POST", "/volumes/create", (proof) =>
      deps.engine.forward({
        method: "POST",
        target: "/volumes/create",
        // With its length: dockerd shows a plugin no body it got chunked, and the plugin refuses that.
        headers: [...proof, ["content-type", "application/json"], ["content-length", String(volume.length)]],
        body: volume,
      }));
    if (created === undefined) {
      return refuse(503, "ERR_GATEWAY_BUSY", "too many calls in progress: try again");
    }
    const said = await readUpTo(created.body, MAX_ERROR_BYTES).catch(() => undefined);
    if (created.status >= 300) {
      const message = messageOf(said);
      return refuse(
        created.status === 409 ? 409 : 502,
        "ERR_DOCKER_RESPONSE",
        `dockerd did not create the volume ${name}${message === undefined ? "" : `: ${message}`}`,
      );
    }
  }

  // 5. Forward: a hijacked stream both ways, or a request and its streamed answer.
  if (connection.hijack !== undefined && asksForUpgrade(facts.request.headers)) {
    return await hijacked(deps, call, connection.hijack, {
      method,
      target: forwardTarget,
      headers,
      body: jsonBody,
      contentType: request.headers.get("content-type") ?? undefined,
      upgrade: request.headers.get("upgrade") ?? "tcp",
    });
  }
  const proof = deps.proofs.issue(id, method, forwardTarget, { streaming: true, by: "gateway" });
  if (proof === undefined) return refuse(503, "ERR_GATEWAY_BUSY", "too many calls in progress: try again");
  let answer: ForwardResponse;
  try {
    answer = await deps.engine.forward({
      method,
      target: forwardTarget,
      headers: [...headers, ...Object.entries(proof)],
      ...(body === undefined ? {} : { body }),
      signal: request.signal,
    });
  } catch (err) {
    deps.proofs.withdraw(id);
    const cause = toAgentError(err);
    call.outcome = { ...call.outcome, code: cause.code };
    return dockerError(502, `the agent's gateway cannot reach the Docker daemon (decision ${id})`);
  }
  call.status = answer.status;
  return await answered(deps, call, known, caller, answer);
}

/** A proof for one of the gateway's own calls (a volume it creates first), withdrawn once the call returns. */
async function proven(
  deps: GatewayDeps,
  call: Call,
  method: string,
  target: string,
  send: (proof: [string, string][]) => Promise<ForwardResponse>,
): Promise<ForwardResponse | undefined> {
  const proof = deps.proofs.issue(call.decisionId, method, target, { by: "gateway" });
  if (proof === undefined) return undefined;
  try {
    return await send(Object.entries(proof));
  } finally {
    deps.proofs.withdraw(call.decisionId);
  }
}

/** dockerd's answer as the caller may see it, the proof withdrawn once it is over. */
async function answered(
  deps: GatewayDeps,
  call: Call,
  route: RouteMatch,
  caller: NamespaceCaller,
  answer: ForwardResponse,
): Promise<Response> {
  const id = call.decisionId;
  const headers = forwardedResponseHeaders(answer.headers);
  const action = route.action;
  const whole = async (limit: number): Promise<unknown> => {
    try {
      const bytes = await readUpTo(answer.body, limit);
      return bytes === undefined ? undefined : JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      return undefined;
    } finally {
      deps.proofs.withdrawSoon(id, PROOF_GRACE_MS);
    }
  };
  const rewritten = (value: unknown) => {
    headers.set("content-type", "application/json");
    return new Response(JSON.stringify(value), { status: answer.status, headers });
  };
  const ok = answer.status >= 200 && answer.status < 300;
  const json = /json/i.test(headers.get("content-type") ?? "");
  if (
    ok && json && (REDACTED_ACTIONS.has(action) || (!caller.administrator && FILTERED_ACTIONS.has(action)))
  ) {
    const value = await whole(MAX_FILTERED_BYTES);
    if (value === undefined) return dockerError(502, `dockerd's answer could not be read (decision ${id})`);
    // A network's inspect lists the containers on it: only the caller's.
    const shown = action === "network:inspect"
      ? await filterNetworkContainers(value, caller, deps.lookup)
      : filterResponse(action, value, caller);
    return rewritten(redactResponse(action, shown));
  }
  if (!ok && json && !caller.administrator) {
    const value = await whole(MAX_ERROR_BYTES);
    if (value === undefined) return dockerError(answer.status, `dockerd refused the call (decision ${id})`);
    return rewritten(sanitizeError(answer.status, value, caller));
  }
  let body = answer.body;
  if (ok && action === "system:events" && !caller.administrator) {
    body = filterJsonLines(body, (event) => eventVisible(event, caller, deps.lookup));
  } else {
    const length = answer.headers.find(([name]) => name === "content-length");
    if (length !== undefined) headers.set("content-length", length[1]);
  }
  return new Response(withdrawnAtEnd(deps.proofs, id, body), { status: answer.status, headers });
}

/**
 * The body as it comes; its proof withdrawn soon after its end or after the client breaks it off (what is left
 * of it is good for that call's AuthZRes only: its AuthZReq was redeemed).
 */
function withdrawnAtEnd(
  proofs: DecisionProofs,
  id: string,
  body: ReadableStream<Uint8Array>,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          // dockerd may send the AuthZRes after the last byte (a flushed answer such as `wait`'s).
          proofs.withdrawSoon(id, PROOF_GRACE_MS);
          controller.close();
        } else {
          controller.enqueue(value);
        }
      } catch (err) {
        proofs.withdrawSoon(id, PROOF_GRACE_MS);
        controller.error(err);
      }
    },
    cancel(reason) {
      proofs.withdrawSoon(id, PROOF_GRACE_MS);
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/** Attach, exec start and the like: dockerd's 101 is relayed and the two streams joined. */
async function hijacked(
  deps: GatewayDeps,
  call: Call,
  hijack: NonNullable<HttpsConnection["hijack"]>,
  request: Omit<HijackRequest, "headers" | "path"> & {
    readonly target: string;
    readonly headers: readonly (readonly [string, string])[];
  },
): Promise<Response> {
  const id = call.decisionId;
  const proof = deps.proofs.issue(id, request.method, request.target, { streaming: true, by: "gateway" });
  if (proof === undefined) {
    return dockerError(503, `too many calls in progress: try again (decision ${id})`);
  }
  const headers: Record<string, string> = { ...proof };
  for (const [name, value] of request.headers) if (name !== "content-type") headers[name] = value;
  let daemon: HijackedStream;
  try {
    daemon = await deps.engine.hijack({
      method: request.method,
      path: request.target,
      headers,
      ...(request.body === undefined ? {} : { body: request.body }),
      ...(request.contentType === undefined ? {} : { contentType: request.contentType }),
      ...(request.upgrade === undefined ? {} : { upgrade: request.upgrade }),
    });
  } catch (err) {
    deps.proofs.withdraw(id);
    const cause = toAgentError(err);
    call.outcome = { ...call.outcome!, code: cause.code };
    return dockerError(502, `the agent's gateway cannot reach the Docker daemon (decision ${id})`);
  }
  call.status = daemon.status;
  if (daemon.status !== 101 && daemon.status !== 200) {
    deps.proofs.withdrawSoon(id, PROOF_GRACE_MS);
    daemon.close();
    return new Response(daemon.errorBody, {
      status: daemon.status,
      headers: forwardedResponseHeaders(daemon.headers),
    });
  }
  return hijack.accept(
    { status: daemon.status, statusText: daemon.statusText, headers: daemon.headers },
    (client) => {
      void splice(client, daemon).finally(() => deps.proofs.withdrawSoon(id, PROOF_GRACE_MS));
    },
  );
}

/** dockerd's `{"message"}` in a body read whole; undefined when it says nothing readable. */
function messageOf(body: Uint8Array | undefined): string | undefined {
  if (body === undefined) return undefined;
  try {
    return dockerMessage(JSON.parse(new TextDecoder().decode(body)));
  } catch {
    return undefined;
  }
}

function callerOf(principal: Principal, policy: Policy | undefined): NamespaceCaller {
  const scope = scopeOf(principal, policy, undefined);
  return {
    namespace: principal.role?.namespace ?? principal.user,
    mayAddress: scope?.mayAddress ?? (() => false),
    administrator: principal.role === undefined && isAdministrator(principal, policy),
  };
}

/** A deny in dockerd's words for a plugin's (the docker CLI prints it as the daemon's error). */
function denied(call: Call, decision: Decision): Response {
  call.outcome = decisionOutcome(decision);
  return dockerError(403, `authorization denied by agent: ${decision.reason} (decision ${call.decisionId})`);
}

function eventOf(deps: GatewayDeps, call: Call, request: Request, connection: HttpsConnection): AuditEvent {
  return doorEvent({
    door: "gateway",
    time: deps.clock(),
    decisionId: call.decisionId,
    principal: call.principal,
    method: request.method,
    url: request.url,
    outcome: call.outcome,
    policyHash: deps.state().policyHash,
    status: call.status ?? null,
    durationMs: deps.monotonicMs() - call.started,
    clientAddress: connection.address,
  });
}
