/**
 * The service resource (`/api/app/v1/(ns/)service/`): N containers `NAME-1..N` of one image, labelled with the
 * namespace and `io.agent.service=<uuid>`; its spec and desired state in the service store. Every REST call
 * is decided as the Engine API calls it makes (never as swarm's `service:*`):
 *
 * | REST call | decided as |
 * |---|---|
 * | GET list, GET one | container:list |
 * | POST / (create, nothing started), PATCH | container:create with the create body of NAME-1 |
 * | start/ | container:list, then container:create of each missing and container:start of each stopped one |
 * | stop/ | container:list, container:stop of each running one |
 * | scale/ | container:list, create + start of new ones (when running), container:remove of the extra ones |
 * | redeploy/ | container:list, container:remove of each, container:create (+ container:start when running) |
 * | DELETE | container:list, container:remove of each |
 */
import { AgentError } from "../errors.ts";
import {
  type ContainerSummary,
  containerUri,
  LIST_CALL,
  listContainers,
  methodNotAllowed,
  nameOf,
  serviceUri,
  stateOf,
  STOP_SECONDS,
  STOP_TIMEOUT_MS,
} from "./container.ts";
import { type EventAction, serviceEvent } from "../stream/index.ts";
import { logsStream } from "./container-streams.ts";
import { cloudDate } from "./dates.ts";
import type { EngineCall } from "./facts.ts";
import { listOf } from "./list.ts";
import { NAMESPACE_LABEL, type Scope, SERVICE_LABEL } from "./namespace.ts";
import { isUuid } from "./node.ts";
import { containerName, createBody, createSpec, patchSpec, SpecError } from "./service-spec.ts";
import type { ServiceRecord } from "./service-store.ts";
import {
  type ApiAppDeps,
  type ApiContext,
  badRequest,
  decideCalls,
  dockerCall,
  dockerRefused,
  json,
  jsonObject,
  matchesFilters,
  notFound,
  pageOrBadRequest,
  refused,
} from "./steps.ts";

export type ServiceState =
  | "Not running"
  | "Starting"
  | "Running"
  | "Partly running"
  | "Scaling"
  | "Redeploying"
  | "Stopping"
  | "Stopped"
  | "Terminating"
  | "Terminated";

/** Docker Cloud's service list filters (each also as `FIELD__startswith`, as its CLI resolves names). */
const SERVICE_FILTERS = ["uuid", "name", "state", "image_name"] as const;

/** The service's containers among dockerd's, with their index (NAME-i), in index order. */
function containersOf(record: ServiceRecord, all: readonly ContainerSummary[]) {
  const prefix = `${record.name}-`;
  return all
    .filter((s) => s.Labels[SERVICE_LABEL] === record.uuid && s.Labels[NAMESPACE_LABEL] === record.namespace)
    .map((s) => {
      const name = nameOf(s);
      const rest = name.startsWith(prefix) ? name.slice(prefix.length) : "";
      return { summary: s, name, index: /^[1-9][0-9]{0,3}$/.test(rest) ? Number(rest) : 0 };
    })
    .sort((a, b) => a.index - b.index);
}

function stateOfService(record: ServiceRecord, running: number, current: number): ServiceState {
  if (record.terminated) return "Terminated";
  if (running === 0) return record.started_datetime === null && current === 0 ? "Not running" : "Stopped";
  return running < record.target_num_containers ? "Partly running" : "Running";
}

/** Docker Cloud's run_command was one string: words joined, quoted where needed. */
function commandText(words: readonly string[] | null): string | null {
  if (words === null) return null;
  return words.map((w) => /^[A-Za-z0-9_./=:@%+,-]+$/.test(w) ? w : `'${w.replaceAll("'", `'\\''`)}'`).join(
    " ",
  );
}

function serviceObject(record: ServiceRecord, all: readonly ContainerSummary[], busy?: ServiceState) {
  const mine = record.terminated ? [] : containersOf(record, all);
  const running = mine.filter((m) => stateOf(m.summary.State) === "Running").length;
  return {
    uuid: record.uuid,
    resource_uri: serviceUri(record.namespace, record.uuid),
    name: record.name,
    image_name: record.image,
    state: busy ?? stateOfService(record, running, mine.length),
    target_num_containers: record.target_num_containers,
    current_num_containers: mine.length,
    running_num_containers: running,
    stopped_num_containers: mine.length - running,
    containers: mine.map((m) => containerUri(record.namespace, m.summary.Id)),
    container_envvars: record.container_envvars,
    run_command: commandText(record.run_command),
    entrypoint: commandText(record.entrypoint),
    working_dir: record.working_dir,
    labels: record.labels,
    autorestart: record.autorestart,
    privileged: record.privileged,
    bindings: record.bindings,
    roles: record.roles,
    container_ports: record.container_ports,
    cpu_shares: record.cpu_shares,
    memory: record.memory,
    synchronized: true,
    public_dns: null,
    stack: null,
    created_datetime: cloudDate(record.created_datetime),
    deployed_datetime: cloudDate(record.started_datetime),
    started_datetime: cloudDate(record.started_datetime),
    stopped_datetime: cloudDate(record.stopped_datetime),
    destroyed_datetime: cloudDate(record.destroyed_datetime),
  };
}

interface Step {
  readonly call: EngineCall;
  readonly ok: readonly number[];
  readonly timeoutMs?: number;
}

const createStep = (deps: ApiAppDeps, record: ServiceRecord, index: number): Step => ({
  call: {
    method: "POST",
    uri: `/containers/create?name=${containerName(record, index)}`,
    body: createBody(record, deps.roles),
  },
  ok: [201],
});
const startStep = (name: string): Step => ({
  call: { method: "POST", uri: `/containers/${name}/start` },
  ok: [204, 304],
});
const stopStep = (name: string): Step => ({
  call: { method: "POST", uri: `/containers/${name}/stop?t=${STOP_SECONDS}` },
  ok: [204, 304],
  timeoutMs: STOP_TIMEOUT_MS,
});
const removeStep = (name: string): Step => ({
  call: { method: "DELETE", uri: `/containers/${name}?force=1` },
  ok: [204, 404],
});

/** Makes the (decided) steps in order; throws DockerFailure at the first that fails. */
async function run(c: ApiContext, deps: ApiAppDeps, steps: readonly Step[]): Promise<void> {
  for (const step of steps) {
    const answer = await dockerCall(c, deps, step.call, step.timeoutMs);
    if (!step.ok.includes(answer.status)) throw dockerRefused(c, answer);
  }
}

/**
 * Steps that bring the containers 1..target up: create the missing ones and start them. Nothing when the
 * service is not to run: its containers are created when it starts.
 */
function upSteps(
  deps: ApiAppDeps,
  record: ServiceRecord,
  mine: ReturnType<typeof containersOf>,
  start: boolean,
): Step[] {
  const steps: Step[] = [];
  if (!start) return steps;
  for (let i = 1; i <= record.target_num_containers; i++) {
    const existing = mine.find((m) => m.index === i);
    const name = containerName(record, i);
    if (existing === undefined) {
      steps.push(createStep(deps, record, i), startStep(name));
    } else if (stateOf(existing.summary.State) !== "Running") steps.push(startStep(name));
  }
  return steps;
}

function storeProblem(c: ApiContext, deps: ApiAppDeps): Response | undefined {
  const problem = deps.services.problem;
  return problem === undefined
    ? undefined
    : refused(c, 503, "ERR_STATE_CORRUPT", "the service store cannot be read: see the agent's log", problem);
}

function now(deps: ApiAppDeps): string {
  return deps.clock().toISOString();
}

/** `/api/app/v1/(ns/)service/(uuid/(verb/))`, after authentication and namespace resolution. */
export async function serviceResource(
  c: ApiContext,
  deps: ApiAppDeps,
  scope: Scope,
  uuid: string | undefined,
  verb: string | undefined,
): Promise<Response> {
  const method = c.req.method;
  if (uuid === undefined) {
    if (method !== "GET" && method !== "HEAD" && method !== "POST") {
      return methodNotAllowed(c, "GET, HEAD, POST");
    }
  } else if (verb === undefined) {
    if (!["GET", "HEAD", "PATCH", "DELETE"].includes(method)) {
      return methodNotAllowed(c, "GET, HEAD, PATCH, DELETE");
    }
  } else if (verb === "logs") {
    if (method !== "GET") return methodNotAllowed(c, "GET");
  } else {
    if (!["start", "stop", "scale", "redeploy"].includes(verb)) return notFound(c);
    if (method !== "POST") return methodNotAllowed(c, "POST");
  }
  const broken = storeProblem(c, deps);
  if (broken !== undefined) return broken;

  if (uuid === undefined && method === "POST") return await createService(c, deps, scope);
  if (uuid === undefined) {
    const page = pageOrBadRequest(c);
    if (page instanceof Response) return page;
    const denied = await decideCalls(c, deps, [LIST_CALL]);
    if (denied !== undefined) return denied;
    const all = await listContainers(c, deps);
    const query = new URL(c.req.url).searchParams;
    const objects = deps.services.list()
      .filter((r) => r.namespace === scope.namespace)
      .sort((a, b) => a.created_datetime.localeCompare(b.created_datetime) || a.name.localeCompare(b.name))
      .map((r) => serviceObject(r, all, busyServices(deps).get(r.uuid)))
      .filter((o) => matchesFilters(query, o, SERVICE_FILTERS));
    return json(listOf(new URL(c.req.url).pathname, page, objects));
  }

  if (!isUuid(uuid)) return notFound(c, "not a service uuid");
  const found = deps.services.get(uuid);
  if (found === undefined || found.namespace !== scope.namespace) {
    return notFound(c, `no service ${uuid} in namespace ${scope.namespace}`);
  }
  if (verb === "logs") {
    const denied = await decideCalls(c, deps, [LIST_CALL]);
    if (denied !== undefined) return denied;
    const mine = found.terminated ? [] : containersOf(found, await listContainers(c, deps));
    const containers = mine.map((m) => ({
      id: m.summary.Id,
      uri: containerUri(found.namespace, m.summary.Id),
    }));
    return await logsStream(c, deps, containers, true);
  }
  if (method === "GET" || method === "HEAD") {
    const denied = await decideCalls(c, deps, [LIST_CALL]);
    if (denied !== undefined) return denied;
    return json(serviceObject(found, await listContainers(c, deps), busyServices(deps).get(found.uuid)));
  }
  if (found.terminated) return refused(c, 409, "ERR_API_BAD_REQUEST", "the service is terminated");
  const busy = busyRefusal(c, deps, found.uuid);
  if (busy !== undefined) return busy;
  if (method === "PATCH") return await patchService(c, deps, found);

  let body: Record<string, unknown> = {};
  if (verb === "scale") {
    const parsed = await jsonObject(c, true);
    if (parsed instanceof Response) return parsed;
    body = parsed;
    for (const key of Object.keys(body)) {
      if (key !== "target_num_containers") {
        return badRequest(c, `unknown field ${JSON.stringify(key.slice(0, 64))}`);
      }
    }
  }
  return await deps.services.exclusive(async () => {
    let record = deps.services.get(uuid)!;
    if (record.terminated) return refused(c, 409, "ERR_API_BAD_REQUEST", "the service is terminated");
    const stillBusy = busyRefusal(c, deps, uuid);
    if (stillBusy !== undefined) return stillBusy;
    if (Object.hasOwn(body, "target_num_containers")) {
      try {
        record = { ...record, ...patchSpec(record, body) };
      } catch (err) {
        if (err instanceof SpecError) return badRequest(c, err.message);
        throw err;
      }
    }
    const denied = await decideCalls(c, deps, [LIST_CALL]);
    if (denied !== undefined) return denied;
    const mine = containersOf(record, await listContainers(c, deps));
    let steps: Step[];
    let next: ServiceRecord = record;
    if (verb === "start") {
      steps = upSteps(deps, record, mine, true);
      next = { ...record, desired: "running", started_datetime: now(deps), stopped_datetime: null };
    } else if (verb === "stop") {
      steps = mine.filter((m) => stateOf(m.summary.State) !== "Stopped").map((m) => stopStep(m.name));
      next = { ...record, desired: "stopped", stopped_datetime: now(deps) };
    } else if (verb === "scale") {
      const extra = mine.filter((m) => m.index === 0 || m.index > record.target_num_containers);
      steps = [
        ...extra.map((m) => removeStep(m.name)),
        ...upSteps(deps, record, mine, record.desired === "running"),
      ];
    } else if (verb === "redeploy") {
      steps = [
        ...mine.map((m) => removeStep(m.name)),
        ...upSteps(deps, record, [], record.desired === "running"),
      ];
    } else {
      steps = mine.map((m) => removeStep(m.name));
      next = { ...record, terminated: true, desired: "stopped", destroyed_datetime: now(deps) };
    }
    // Decide everything first: a refusal changes nothing, not even the stored spec.
    const deniedSteps = await decideCalls(c, deps, steps.map((s) => s.call));
    if (deniedSteps !== undefined) return deniedSteps;
    await deps.services.put(next);
    if (verb === "scale" || verb === "redeploy") {
      // Long work: answered now (202, the action "In progress"), done after; the action ends with it.
      const busy = busyServices(deps);
      busy.set(uuid, verb === "scale" ? "Scaling" : "Redeploying");
      c.get("call").continues = run(c, deps, steps).finally(() => busy.delete(uuid));
      const shown = serviceObject(next, mine.map((m) => m.summary), busy.get(uuid));
      announce(deps, next, "update", shown.state);
      return json(shown, 202);
    }
    await run(c, deps, steps);
    const after = await listContainers(c, deps);
    const shown = serviceObject(next, after);
    announce(deps, next, verb === undefined ? "delete" : "update", shown.state);
    return json(shown, 202);
  });
}

/** A service change as a Stream API event (events.ts), when the stream is on. */
function announce(deps: ApiAppDeps, record: ServiceRecord, change: EventAction, state: string): void {
  deps.stream?.events.append(serviceEvent(record, change, state, deps.clock()));
}

/** Services whose scale or redeploy is still running, per store: their state, and a change waits (409). */
const busyByStore = new WeakMap<object, Map<string, ServiceState>>();
export function busyServices(deps: Pick<ApiAppDeps, "services">): Map<string, ServiceState> {
  let busy = busyByStore.get(deps.services);
  if (busy === undefined) busyByStore.set(deps.services, busy = new Map());
  return busy;
}

function busyRefusal(c: ApiContext, deps: ApiAppDeps, uuid: string): Response | undefined {
  const state = busyServices(deps).get(uuid);
  return state === undefined ? undefined : refused(
    c,
    409,
    "ERR_API_BAD_REQUEST",
    `the service is ${state.toLowerCase()}: try again when its action ends`,
  );
}

async function createService(c: ApiContext, deps: ApiAppDeps, scope: Scope): Promise<Response> {
  const body = await jsonObject(c);
  if (body instanceof Response) return body;
  let parsed;
  try {
    parsed = createSpec(body);
  } catch (err) {
    if (err instanceof SpecError) return badRequest(c, err.message);
    throw err;
  }
  return await deps.services.exclusive(async () => {
    const record: ServiceRecord = {
      ...parsed.spec,
      uuid: deps.newUuid(),
      namespace: scope.namespace,
      name: parsed.name,
      desired: "stopped",
      terminated: false,
      created_datetime: now(deps),
      started_datetime: null,
      stopped_datetime: null,
      destroyed_datetime: null,
      created_by: c.get("call").principal!.user,
      role_generation: 0,
    };
    if (record.roles.length > 0 && deps.roles === undefined) {
      return badRequest(c, "roles need the agent's HTTPS listener to hand a credential to");
    }
    // Decided as the create of its first container, with the body dockerd will get.
    const denied = await decideCalls(c, deps, [createStep(deps, record, 1).call]);
    if (denied !== undefined) return denied;
    // Container names are the host's: a service name is unique on the host among live services.
    if (deps.services.list().some((r) => !r.terminated && r.name === record.name)) {
      return refused(c, 409, "ERR_API_BAD_REQUEST", `a service named ${record.name} exists on this host`);
    }
    try {
      await deps.services.put(record);
    } catch (err) {
      if (err instanceof AgentError && err.code === "ERR_API_BAD_REQUEST") return badRequest(c, err.message);
      throw err;
    }
    const shown = serviceObject(record, []);
    announce(deps, record, "create", shown.state);
    return json(shown, 201);
  });
}

async function patchService(c: ApiContext, deps: ApiAppDeps, found: ServiceRecord): Promise<Response> {
  const body = await jsonObject(c);
  if (body instanceof Response) return body;
  return await deps.services.exclusive(async () => {
    const record = deps.services.get(found.uuid)!;
    const busy = busyRefusal(c, deps, record.uuid);
    if (busy !== undefined) return busy;
    let next: ServiceRecord;
    try {
      next = { ...record, ...patchSpec(record, body) };
    } catch (err) {
      if (err instanceof SpecError) return badRequest(c, err.message);
      throw err;
    }
    if (next.roles.length > 0 && deps.roles === undefined) {
      return badRequest(c, "roles need the agent's HTTPS listener to hand a credential to");
    }
    // A change of roles retires the credential handed out before it (containers get the new one when they
    // are created again: redeploy).
    if (next.roles.join() !== record.roles.join()) {
      next = { ...next, role_generation: record.role_generation + 1 };
    }
    // The change applies at the next start, scale or redeploy; it is decided now as that create.
    const denied = await decideCalls(c, deps, [createStep(deps, next, 1).call, LIST_CALL]);
    if (denied !== undefined) return denied;
    await deps.services.put(next);
    const shown = serviceObject(next, await listContainers(c, deps));
    announce(deps, next, "update", shown.state);
    return json(shown);
  });
}
