/**
 * The container resource (`/api/app/v1/(ns/)container/`): the containers of the addressed namespace, from
 * dockerd: those of its services (labels `io.agent.namespace` and `io.agent.service`, see belongsTo). A container's uuid is its Docker id (64 hex digits): a client can use
 * it with the docker CLI as it is. Lists show what `GET /containers/json` tells (the fields of `docker ps`);
 * the container itself (`GET (uuid)/`, from `GET /containers/{id}/json`) adds container_envvars, privileged,
 * entrypoint, working_dir and the dates. Each REST call is decided as the Engine API calls it makes.
 */
import type { EngineCall } from "./facts.ts";
import { listOf } from "./list.ts";
import { NAMESPACE_LABEL, type Scope, SERVICE_LABEL } from "./namespace.ts";
import { execStream, logsStream } from "./container-streams.ts";
import { cloudDate } from "./dates.ts";
import { REDACTED, ROLE_SECRET_VARIABLES } from "./role-credential.ts";
import { createBody } from "./service-spec.ts";
import {
  type ApiAppDeps,
  type ApiContext,
  decideCalls,
  dockerCall,
  dockerRefused,
  json,
  matchesFilters,
  notFound,
  pageOrBadRequest,
  refused,
} from "./steps.ts";

export const CONTAINER_ID = /^[0-9a-f]{64}$/;
export const LIST_CALL: EngineCall = { method: "GET", uri: "/containers/json?all=1" };
/** Seconds dockerd waits before it kills a container being stopped (and the deadline of that call). */
export const STOP_SECONDS = 2;
export const STOP_TIMEOUT_MS = 15_000;

export type ContainerState = "Starting" | "Running" | "Stopping" | "Stopped" | "Terminating" | "Terminated";

/** dockerd's state as Docker Cloud's. */
export function stateOf(docker: string): ContainerState {
  switch (docker) {
    case "running":
    case "paused":
      return "Running";
    case "restarting":
      return "Starting";
    case "removing":
      return "Terminating";
    default:
      return "Stopped";
  }
}

/** One entry of `GET /containers/json`, as far as the API reads it. */
export interface ContainerSummary {
  readonly Id: string;
  readonly Names: readonly string[];
  readonly Image: string;
  readonly State: string;
  readonly Status: string;
  readonly Labels: Readonly<Record<string, string>>;
  readonly Created: number;
  readonly Command: string;
  readonly Ports: readonly ContainerPortObject[];
}

/** Docker Cloud's container_ports entry. */
export interface ContainerPortObject {
  readonly protocol: string;
  readonly inner_port: number;
  readonly outer_port: number | null;
  readonly published: boolean;
}

const PORT = (v: unknown) => typeof v === "number" && Number.isInteger(v) && v > 0 && v < 65536;

/** `docker ps`'s Ports ([{PrivatePort, PublicPort, Type}]), one entry per container port (IPv4 and IPv6 once). */
function portsOfSummary(value: unknown): ContainerPortObject[] {
  const out = new Map<string, ContainerPortObject>();
  for (const p of Array.isArray(value) ? value.map(record) : []) {
    if (!PORT(p["PrivatePort"])) continue;
    const protocol = str(p["Type"]) || "tcp";
    const outer = PORT(p["PublicPort"]) ? p["PublicPort"] as number : null;
    const key = `${String(p["PrivatePort"])}/${protocol}`;
    if (outer === null && out.has(key)) continue;
    out.set(key, {
      protocol,
      inner_port: p["PrivatePort"] as number,
      outer_port: outer,
      published: outer !== null,
    });
  }
  return [...out.values()];
}

/** Inspect's NetworkSettings.Ports ({"80/tcp": [{HostPort}] | null}). */
function portsOfInspect(value: unknown): ContainerPortObject[] {
  const out: ContainerPortObject[] = [];
  for (const [key, bindings] of Object.entries(record(value))) {
    const m = /^([0-9]{1,5})\/(tcp|udp|sctp)$/.exec(key);
    if (m === null) continue;
    const first = Array.isArray(bindings) ? record(bindings[0]) : {};
    const host = Number(str(first["HostPort"]));
    const outer = PORT(host) ? host : null;
    out.push({ protocol: m[2]!, inner_port: Number(m[1]), outer_port: outer, published: outer !== null });
  }
  return out;
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? value as Record<string, unknown>
    : {};
}

function str(value: unknown): string {
  return typeof value === "string" ? value : "";
}

function labelsOf(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(record(value))) if (typeof v === "string") out[k] = v;
  return out;
}

/** The summaries of a `GET /containers/json` answer (malformed entries are skipped). */
export function summariesOf(body: unknown): ContainerSummary[] {
  if (!Array.isArray(body)) return [];
  return body.map(record).filter((c) => CONTAINER_ID.test(str(c["Id"]))).map((c) => ({
    Id: str(c["Id"]),
    Names: Array.isArray(c["Names"]) ? c["Names"].filter((n): n is string => typeof n === "string") : [],
    Image: str(c["Image"]),
    State: str(c["State"]),
    Status: str(c["Status"]),
    Labels: labelsOf(c["Labels"]),
    Created: typeof c["Created"] === "number" ? c["Created"] : 0,
    Command: str(c["Command"]),
    Ports: portsOfSummary(c["Ports"]),
  }));
}

export function nameOf(summary: Pick<ContainerSummary, "Names">): string {
  return (summary.Names[0] ?? "").replace(/^\//, "");
}

export function containerUri(namespace: string, id: string): string {
  return `/api/app/v1/${namespace}/container/${id}/`;
}

export function serviceUri(namespace: string, uuid: string): string {
  return `/api/app/v1/${namespace}/service/${uuid}/`;
}

function exitCodeOf(status: string): number | null {
  const m = /^Exited \((-?\d+)\)/.exec(status);
  return m === null ? null : Number(m[1]);
}

function dateOf(text: unknown): string | null {
  const s = str(text);
  return s === "" || s.startsWith("0001-") ? null : cloudDate(s);
}

/** A list entry: the fields `docker ps` knows. */
export function containerFromSummary(s: ContainerSummary) {
  const namespace = s.Labels[NAMESPACE_LABEL] ?? "";
  const service = s.Labels[SERVICE_LABEL];
  return {
    uuid: s.Id,
    resource_uri: containerUri(namespace, s.Id),
    name: nameOf(s),
    image_name: s.Image,
    state: stateOf(s.State),
    exit_code: exitCodeOf(s.Status),
    labels: s.Labels,
    service: service === undefined ? null : serviceUri(namespace, service),
    node: null as string | null,
    container_ports: s.Ports,
    public_dns: null as string | null,
    run_command: s.Command,
    deployed_datetime: cloudDate(new Date(s.Created * 1000).toISOString()),
  };
}

/** The container itself, from `GET /containers/{id}/json`; undefined when the answer is not one. */
export function containerFromInspect(body: unknown) {
  const c = record(body);
  const id = str(c["Id"]);
  if (!CONTAINER_ID.test(id)) return undefined;
  const config = record(c["Config"]);
  const state = record(c["State"]);
  const host = record(c["HostConfig"]);
  const labels = labelsOf(config["Labels"]);
  const namespace = labels[NAMESPACE_LABEL] ?? "";
  const service = labels[SERVICE_LABEL];
  const running = state["Running"] === true;
  const env = Array.isArray(config["Env"])
    ? config["Env"].filter((e): e is string => typeof e === "string")
    : [];
  const words = (v: unknown) =>
    Array.isArray(v) ? v.filter((w): w is string => typeof w === "string").join(" ") : "";
  return {
    uuid: id,
    resource_uri: containerUri(namespace, id),
    name: str(c["Name"]).replace(/^\//, ""),
    image_name: str(config["Image"]),
    state: stateOf(str(state["Status"])),
    exit_code: running || str(state["Status"]) === "created"
      ? null
      : (typeof state["ExitCode"] === "number" ? state["ExitCode"] : null),
    // A role credential (AGENT_AUTH, DOCKERCLOUD_AUTH) is never shown.
    container_envvars: env.map((e) => {
      const at = e.indexOf("=");
      const key = at < 0 ? e : e.slice(0, at);
      const value = at < 0 ? "" : e.slice(at + 1);
      return { key, value: ROLE_SECRET_VARIABLES.has(key) ? REDACTED : value };
    }),
    labels,
    service: service === undefined ? null : serviceUri(namespace, service),
    node: null as string | null,
    container_ports: portsOfInspect(record(c["NetworkSettings"])["Ports"]),
    public_dns: null as string | null,
    privileged: host["Privileged"] === true,
    run_command: words(config["Cmd"]),
    entrypoint: words(config["Entrypoint"]),
    working_dir: str(config["WorkingDir"]),
    autorestart: str(record(host["RestartPolicy"])["Name"]) || "no",
    deployed_datetime: dateOf(c["Created"]),
    started_datetime: dateOf(state["StartedAt"]),
    stopped_datetime: running ? null : dateOf(state["FinishedAt"]),
    destroyed_datetime: null as string | null,
  };
}

export type ContainerObject = NonNullable<ReturnType<typeof containerFromInspect>>;

/** The containers of dockerd (one decided `GET /containers/json?all=1`); throws DockerFailure. */
export async function listContainers(c: ApiContext, deps: ApiAppDeps): Promise<ContainerSummary[]> {
  const answer = await dockerCall(c, deps, LIST_CALL);
  if (answer.status !== 200) throw dockerRefused(c, answer);
  return summariesOf(answer.body);
}

/**
 * Whether a container is the namespace's: labelled with it AND with the uuid of a service of that namespace
 * that the agent created. The label alone is not trusted: an Engine API client or an image's LABEL could set
 * `io.agent.namespace` on any container.
 */
export function belongsTo(
  labels: Readonly<Record<string, string>>,
  namespace: string,
  deps: Pick<ApiAppDeps, "services">,
): boolean {
  if (labels[NAMESPACE_LABEL] !== namespace) return false;
  const service = labels[SERVICE_LABEL];
  return service !== undefined && deps.services.get(service)?.namespace === namespace;
}

const inspectCall = (id: string): EngineCall => ({ method: "GET", uri: `/containers/${id}/json` });

/** One container of the scope's namespace, inspected; undefined when dockerd has none or it is another's. */
async function inspectOwn(
  c: ApiContext,
  deps: ApiAppDeps,
  scope: Scope,
  id: string,
): Promise<ContainerObject | undefined> {
  const answer = await dockerCall(c, deps, inspectCall(id));
  if (answer.status === 404) return undefined;
  if (answer.status !== 200) throw dockerRefused(c, answer);
  const container = containerFromInspect(answer.body);
  if (container === undefined) throw dockerRefused(c, answer);
  return belongsTo(container.labels, scope.namespace, deps) ? container : undefined;
}

/** `/api/app/v1/(ns/)container/(id/(verb/))`, after authentication and namespace resolution. */
export async function containerResource(
  c: ApiContext,
  deps: ApiAppDeps,
  scope: Scope,
  id: string | undefined,
  verb: string | undefined,
): Promise<Response> {
  const method = c.req.method;
  if (id === undefined) {
    if (method !== "GET" && method !== "HEAD") return methodNotAllowed(c, "GET, HEAD");
    const page = pageOrBadRequest(c);
    if (page instanceof Response) return page;
    const denied = await decideCalls(c, deps, [LIST_CALL]);
    if (denied !== undefined) return denied;
    const query = new URL(c.req.url).searchParams;
    const objects = (await listContainers(c, deps))
      .filter((s) => belongsTo(s.Labels, scope.namespace, deps))
      .map(containerFromSummary)
      .filter((o) => matchesFilters(query, o, ["uuid", "name", "state", "service", "image_name"]))
      .sort((a, b) => a.name.localeCompare(b.name));
    return json(listOf(new URL(c.req.url).pathname, page, objects));
  }
  if (!CONTAINER_ID.test(id)) return notFound(c, "not a container uuid (a Docker id, 64 hex digits)");
  if (verb === "logs" || verb === "exec") {
    if (method !== "GET") return methodNotAllowed(c, "GET");
    const seen = await decideCalls(c, deps, [inspectCall(id)]);
    if (seen !== undefined) return seen;
    const own = await inspectOwn(c, deps, scope, id);
    if (own === undefined) return notFound(c, `no container ${id} in namespace ${scope.namespace}`);
    return verb === "logs"
      ? await logsStream(c, deps, [{ id, uri: own.resource_uri }], false)
      : await execStream(c, deps, id);
  }
  const allowed = verb === undefined ? "GET, HEAD, DELETE" : "POST";
  const ok = verb === undefined ? ["GET", "HEAD", "DELETE"].includes(method) : method === "POST";
  if (verb !== undefined && !["start", "stop", "redeploy"].includes(verb)) return notFound(c);
  if (!ok) return methodNotAllowed(c, allowed);

  const inspect = inspectCall(id);
  const start: EngineCall = { method: "POST", uri: `/containers/${id}/start` };
  const stop: EngineCall = { method: "POST", uri: `/containers/${id}/stop?t=${STOP_SECONDS}` };
  const remove: EngineCall = { method: "DELETE", uri: `/containers/${id}?force=1` };
  const plan = verb === "start"
    ? [inspect, start]
    : verb === "stop"
    ? [inspect, stop]
    : verb === "redeploy"
    ? [inspect]
    : method === "DELETE"
    ? [inspect, remove]
    : [inspect];
  const denied = await decideCalls(c, deps, plan);
  if (denied !== undefined) return denied;
  const container = await inspectOwn(c, deps, scope, id);
  if (container === undefined) return notFound(c, `no container ${id} in namespace ${scope.namespace}`);
  if (verb === undefined && method !== "DELETE") return json(container);

  if (method === "DELETE") {
    const answer = await dockerCall(c, deps, remove);
    if (answer.status !== 204 && answer.status !== 404) throw dockerRefused(c, answer);
    return json({
      ...container,
      state: "Terminated",
      destroyed_datetime: cloudDate(deps.clock().toISOString()),
    }, 202);
  }
  if (verb === "start" || verb === "stop") {
    const answer = await dockerCall(
      c,
      deps,
      verb === "start" ? start : stop,
      verb === "stop" ? STOP_TIMEOUT_MS : undefined,
    );
    if (answer.status !== 204 && answer.status !== 304) throw dockerRefused(c, answer);
    const after = await inspectOwn(c, deps, scope, id);
    return json(after ?? container, 202);
  }
  // redeploy: a service's container is created again from the service's spec, under the same name.
  const service = deps.services.get(container.labels[SERVICE_LABEL]!)!;
  if (service.terminated) {
    return refused(c, 409, "ERR_API_BAD_REQUEST", "the container's service is terminated");
  }
  const body = createBody(service, deps.roles);
  const create: EngineCall = { method: "POST", uri: `/containers/create?name=${container.name}`, body };
  const startNew: EngineCall = { method: "POST", uri: `/containers/${container.name}/start` };
  const wasRunning = container.state === "Running" || container.state === "Starting";
  const more = await decideCalls(c, deps, [remove, create, ...(wasRunning ? [startNew] : [])]);
  if (more !== undefined) return more;
  const removed = await dockerCall(c, deps, remove);
  if (removed.status !== 204 && removed.status !== 404) throw dockerRefused(c, removed);
  const created = await dockerCall(c, deps, create);
  if (created.status !== 201) throw dockerRefused(c, created);
  if (wasRunning) {
    const started = await dockerCall(c, deps, startNew);
    if (started.status !== 204 && started.status !== 304) throw dockerRefused(c, started);
  }
  const newId = str(record(created.body)["Id"]);
  let after: ContainerObject | undefined;
  if (CONTAINER_ID.test(newId) && (await decideCalls(c, deps, [inspectCall(newId)])) === undefined) {
    after = await inspectOwn(c, deps, scope, newId);
  }
  return json(after ?? { ...container, uuid: newId }, 202);
}

export function methodNotAllowed(c: ApiContext, allow: string): Response {
  return refused(c, 405, "ERR_API_METHOD", "method not allowed", `method ${c.req.method} not allowed`, {
    allow,
  });
}
