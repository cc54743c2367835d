/**
 * The Stream API's events from what the agent sees: dockerd's `/events` (containers of the agent's
 * services), its action records, and its service changes.
 *
 * dockerd's container events, as Docker Cloud's (one dockerd event gives at most one container event and
 * one service event):
 *
 * | dockerd Action        | action | container state                                                |
 * |-----------------------|--------|----------------------------------------------------------------|
 * | create                | create | Stopped (dockerd's "created", as GET shows it: not started yet) |
 * | start, restart        | update | Running                                                        |
 * | pause, unpause        | update | Running (Docker Cloud had no paused state; GET says Running)   |
 * | kill, signal TERM/KILL| update | Stopping (dockerd is stopping it; die follows)                 |
 * | kill, other signal    | update | Running (a signal reaches running containers only)             |
 * | oom                   | update | Running (it was running; die follows when it ended)            |
 * | die, stop             | update | Stopped                                                        |
 * | rename                | update | its last known state, Running when none is known               |
 * | destroy               | delete | Terminated                                                     |
 *
 * Docker Cloud showed "Starting" after a create because its creates started at once; the agent's creates do
 * not (POST /service/ creates, start/ starts), so the state is what a GET answers right then. Every other
 * action (attach, commit, exec_*, health_status: ..., resize, top, update, ...), every other type (images,
 * networks, volumes), and every container that is not one of the agent's services in its namespace (see
 * `belongsToServices`: the label alone is not trusted) gives no event; so does anything malformed.
 *
 * A container event is followed by its service's `update` (the service's state, computed by the caller),
 * except for a rename, which changes no state. Container events name their service as parent
 * (`/api/app/v1/NS/service/UUID/`); service events have no parent (Docker Cloud's parent was the stack).
 */
import type { ActionRecord } from "../api/action.ts";
import type { AuditEvent } from "../audit/event.ts";
import { CONTAINER_ID, type ContainerState, containerUri, serviceUri } from "../api/container.ts";
import { NAMESPACE_LABEL, SERVICE_LABEL } from "../api/namespace.ts";
import { type EventAction, eventDate, inNamespace, type NewStreamEvent } from "./event.ts";

/** The service of the agent a container belongs to. */
export interface Belonging {
  readonly namespace: string;
  readonly serviceUuid: string;
}

export interface DockerEventContext {
  /** The agent's service (and its namespace) a container with these labels belongs to, or undefined. */
  readonly belongs: (labels: Readonly<Record<string, string>>) => Belonging | undefined;
  /** A service's state now (computed by the caller); undefined: no service event. */
  readonly serviceState: (serviceUuid: string) => string | undefined;
  /** A container's last known state (used for rename); DockerEventTranslator keeps one. */
  readonly containerState?: (id: string) => ContainerState | undefined;
}

/** A dockerd container event, as far as the stream reads it. */
export interface DockerContainerEvent {
  readonly action: string;
  readonly id: string;
  /** Actor.Attributes with string values: the container's labels plus name, image, exitCode, signal... */
  readonly attributes: Readonly<Record<string, string>>;
  /** When it happened, in ms since the epoch (from timeNano, else time). */
  readonly ms: number;
}

const STOP_SIGNALS = new Set(["9", "15", "KILL", "TERM", "SIGKILL", "SIGTERM"]);

const ACTIONS: Readonly<Record<string, EventAction>> = {
  create: "create",
  start: "update",
  restart: "update",
  pause: "update",
  unpause: "update",
  kill: "update",
  oom: "update",
  die: "update",
  stop: "update",
  rename: "update",
  destroy: "delete",
};

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? value as Record<string, unknown>
    : undefined;
}

/** A dockerd event (a parsed line of GET /events) when it is a well-formed container event. */
export function parseDockerEvent(value: unknown): DockerContainerEvent | undefined {
  const e = record(value);
  if (e === undefined || e["Type"] !== "container" || typeof e["Action"] !== "string") return undefined;
  const actor = record(e["Actor"]);
  const id = actor?.["ID"];
  if (typeof id !== "string" || !CONTAINER_ID.test(id)) return undefined;
  const nano = e["timeNano"];
  const time = e["time"];
  const ms = typeof nano === "number" && Number.isFinite(nano) && nano > 0
    ? Math.floor(nano / 1e6)
    : typeof time === "number" && Number.isFinite(time) && time > 0
    ? time * 1000
    : undefined;
  if (ms === undefined || ms > 8.64e15) return undefined;
  const attributes: Record<string, string> = {};
  for (const [k, v] of Object.entries(record(actor?.["Attributes"]) ?? {})) {
    if (typeof v === "string") attributes[k] = v;
  }
  return { action: e["Action"], id, attributes, ms };
}

/** The container's state after a dockerd action (see the table above); undefined for one that is ignored. */
export function containerStateAfter(
  event: Pick<DockerContainerEvent, "action" | "attributes">,
  known?: ContainerState,
): ContainerState | undefined {
  switch (event.action) {
    case "create":
    case "die":
    case "stop":
      return "Stopped";
    case "start":
    case "restart":
    case "pause":
    case "unpause":
    case "oom":
      return "Running";
    case "kill":
      return STOP_SIGNALS.has((event.attributes["signal"] ?? "").toUpperCase()) ? "Stopping" : "Running";
    case "rename":
      return known ?? "Running";
    case "destroy":
      return "Terminated";
    default:
      return undefined;
  }
}

/** The stream events of one dockerd event: none, or a container event and its service's update. */
export function translateDockerEvent(value: unknown, context: DockerEventContext): NewStreamEvent[] {
  const event = parseDockerEvent(value);
  if (event === undefined) return [];
  const action = Object.hasOwn(ACTIONS, event.action) ? ACTIONS[event.action] : undefined;
  if (action === undefined) return [];
  let belonging: Belonging | undefined;
  try {
    belonging = context.belongs(event.attributes);
  } catch {
    return [];
  }
  if (belonging === undefined) return [];
  const state = containerStateAfter(event, context.containerState?.(event.id));
  if (state === undefined) return [];
  const { namespace, serviceUuid } = belonging;
  const datetime = eventDate(new Date(event.ms));
  const service = serviceUri(namespace, serviceUuid);
  const out: NewStreamEvent[] = [{
    type: "container",
    action,
    parents: [service],
    resource_uri: containerUri(namespace, event.id),
    state,
    uuid: event.id,
    datetime,
    namespace,
  }];
  if (event.action !== "rename") {
    const serviceState = context.serviceState(serviceUuid);
    if (serviceState !== undefined && serviceState !== "") {
      out.push({
        type: "service",
        action: "update",
        parents: [],
        resource_uri: service,
        state: serviceState,
        uuid: serviceUuid,
        datetime,
        namespace,
      });
    }
  }
  return out;
}

/**
 * `belongs` over the agent's services (api/service-store.ts): the container's labels must name a service the
 * agent created, of the namespace they name (as api/container.ts's belongsTo).
 */
export function belongsToServices(
  services: { get(uuid: string): { readonly namespace: string } | undefined },
): DockerEventContext["belongs"] {
  return (labels) => {
    const namespace = labels[NAMESPACE_LABEL];
    const serviceUuid = labels[SERVICE_LABEL];
    if (namespace === undefined || serviceUuid === undefined) return undefined;
    return services.get(serviceUuid)?.namespace === namespace ? { namespace, serviceUuid } : undefined;
  };
}

/** Containers whose last state a translator remembers (destroyed ones are forgotten). */
export const MAX_REMEMBERED = 10_000;

/**
 * translateDockerEvent plus a memory of each container's last state (what a rename reports). `seed` it
 * from a container list when one is at hand; it forgets the oldest beyond MAX_REMEMBERED.
 */
export class DockerEventTranslator {
  readonly #context: DockerEventContext;
  readonly #states = new Map<string, ContainerState>();

  constructor(context: Omit<DockerEventContext, "containerState">) {
    this.#context = { ...context, containerState: (id) => this.#states.get(id) };
  }

  translate(value: unknown): NewStreamEvent[] {
    const events = translateDockerEvent(value, this.#context);
    const container = events[0];
    if (container !== undefined) {
      if (container.action === "delete") this.#states.delete(container.uuid);
      else this.seed(container.uuid, container.state as ContainerState);
    }
    return events;
  }

  seed(id: string, state: ContainerState): void {
    this.#states.delete(id);
    this.#states.set(id, state);
    if (this.#states.size > MAX_REMEMBERED) {
      const oldest = this.#states.keys().next();
      if (!oldest.done) this.#states.delete(oldest.value);
    }
  }
}

/** An action's event: `create` when it starts, `update` when it ends (its state then). */
export function actionEvent(action: ActionRecord, change: "create" | "update"): NewStreamEvent {
  const at = change === "create" ? action.start_date : action.end_date ?? action.start_date;
  return {
    type: "action",
    action: change,
    // Docker Cloud's parent of an action: the object it acts on (always of its namespace; never another's).
    parents: inNamespace(action.object, action.namespace) ? [action.object] : [],
    resource_uri: action.resource_uri,
    state: action.state,
    uuid: action.uuid,
    datetime: eventDate(at),
    namespace: action.namespace,
  };
}

/** A service's event: created, changed (started, stopped, scaled, updated, redeployed) or terminated. */
export function serviceEvent(
  service: { readonly uuid: string; readonly namespace: string },
  change: EventAction,
  state: string,
  at: string | Date,
): NewStreamEvent {
  return {
    type: "service",
    action: change,
    parents: [],
    resource_uri: serviceUri(service.namespace, service.uuid),
    state,
    uuid: service.uuid,
    datetime: eventDate(at),
    namespace: service.namespace,
  };
}

/**
 * A plugin decision (an Engine API call through the socket or TLS) as an action event of the user's own
 * namespace: `Success` when allowed, `Failed` when denied; its uuid is made of the audit event's
 * decisionId. None for an anonymous call, an AuthZRes, or the HTTPS API's own calls (those are actions).
 */
export function decisionEvent(event: AuditEvent): NewStreamEvent | undefined {
  if (
    event.phase !== "request" || event.user === null || event.door === "api" || event.decidedBy === "api" ||
    event.decidedBy === "gateway" || event.decidedBy === "agent"
  ) {
    return undefined;
  }
  if (!/^[0-9a-f]{1,12}$/.test(event.decisionId)) return undefined;
  const uuid = `00000000-0000-4000-8000-${event.decisionId.padStart(12, "0")}`;
  return {
    type: "action",
    action: "create",
    parents: [],
    resource_uri: `/api/audit/v1/action/${uuid}/`,
    state: event.allow ? "Success" : "Failed",
    uuid,
    datetime: eventDate(event.time),
    namespace: event.user,
  };
}
