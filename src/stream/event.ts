/**
 * One event of the Stream API (`GET /api/audit/v1/(ns/)events/`), as Docker Cloud sent it: `type`, `action`,
 * `parents` (resource URIs), `resource_uri`, `state`, `uuid`, `datetime` (ISO 8601 to the second, as
 * Docker Cloud's events had it: `2016-02-01T16:47:28Z`), plus the agent's own `seq`: a position in the
 * agent's event log, increasing by one per event, never reused (not even across restarts, see
 * event-file.ts), that a client passes back as `?since=SEQ` to resume. `namespace` is internal: who may see
 * the event. It is never sent (`wireOf`).
 *
 * An event only names parents of its own namespace: `checkEvent` refuses one whose parents name another, the
 * log refuses to append it, and the subscriber filter (filters.ts) would not pass it either.
 */

export const EVENT_TYPES = ["service", "container", "node", "action", "error", "auth"] as const;
export type EventType = typeof EVENT_TYPES[number];

export const EVENT_ACTIONS = ["create", "update", "delete"] as const;
export type EventAction = typeof EVENT_ACTIONS[number];

/** An event of the log: what `EventLog.append` returns and subscribers receive. */
export interface StreamEvent {
  readonly seq: number;
  readonly type: EventType;
  readonly action: EventAction;
  readonly parents: readonly string[];
  readonly resource_uri: string;
  readonly state: string;
  readonly uuid: string;
  /** ISO 8601 to the second: `2016-02-01T16:47:28Z`. */
  readonly datetime: string;
  /** Who may see it (internal, never sent). */
  readonly namespace: string;
}

/** An event before the log numbers it. */
export type NewStreamEvent = Omit<StreamEvent, "seq">;

/** What a subscriber's websocket sends: the event without `namespace`. */
export type WireEvent = Omit<StreamEvent, "namespace">;

/** The event as sent (a new object: `namespace` left out, fields in Docker Cloud's order, `seq` last). */
export function wireOf(event: StreamEvent): WireEvent {
  return {
    type: event.type,
    action: event.action,
    parents: [...event.parents],
    resource_uri: event.resource_uri,
    state: event.state,
    uuid: event.uuid,
    datetime: event.datetime,
    seq: event.seq,
  };
}

/** The same namespace pattern the API accepts (api/namespace.ts). */
const NAMESPACE = /^[A-Za-z0-9_@][A-Za-z0-9._@-]{0,63}$/;
/**
 * `/api/<subsystem>/v1/<namespace>/<resource>/(<id>/)`: the namespace a namespaced resource URI names. The
 * resource must be one of Docker Cloud's, so a URI without a namespace (`/api/audit/v1/action/UUID/`) is
 * not read as one of a namespace called "action".
 */
const NAMESPACED_URI =
  /^\/api\/(?:app|infra|audit)\/v1\/([^/]+)\/(?:service|container|stack|node|nodecluster|action|events)\/(?:[^/]+\/)?$/;

/** The namespace a (namespaced) resource URI names, or undefined when it names none or is no resource URI. */
export function namespaceOfUri(uri: string): string | undefined {
  const m = NAMESPACED_URI.exec(uri);
  return m === null ? undefined : m[1];
}

/** Whether `uri` is a resource URI of `namespace` (`/api/app/v1/NS/service/UUID/` and the like). */
export function inNamespace(uri: string, namespace: string): boolean {
  return namespaceOfUri(uri) === namespace;
}

const MAX_TEXT = 512;
const MAX_PARENTS = 16;

function isText(value: unknown, max = MAX_TEXT): value is string {
  return typeof value === "string" && value.length > 0 && value.length <= max;
}

/** The namespace of what every namespace sees: this host's node (`/api/infra/v1/node/UUID/`). */
export const EVERY_NAMESPACE = "*";

/** Why `event` is not an event the log may hold, or undefined when it is one. */
export function checkEvent(event: NewStreamEvent): string | undefined {
  if (!(EVENT_TYPES as readonly unknown[]).includes(event.type)) return "unknown event type";
  if (!(EVENT_ACTIONS as readonly unknown[]).includes(event.action)) return "unknown event action";
  if (event.namespace === EVERY_NAMESPACE) {
    if (event.type !== "node" || event.parents.length > 0) return "only a node's event is every namespace's";
  } else if (!isText(event.namespace, 64) || !NAMESPACE.test(event.namespace)) return "no valid namespace";
  for (const field of ["resource_uri", "state", "uuid", "datetime"] as const) {
    if (!isText(event[field])) return `no valid ${field}`;
  }
  if (!Array.isArray(event.parents) || event.parents.length > MAX_PARENTS) return "no valid parents";
  for (const parent of event.parents) {
    if (!isText(parent) || !inNamespace(parent, event.namespace)) {
      return `a parent of another namespace than ${event.namespace}`;
    }
  }
  return undefined;
}

/** Whether a value read back (from the event file) is a valid event of the log. */
export function isStreamEvent(value: unknown): value is StreamEvent {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const e = value as Record<string, unknown>;
  if (typeof e["seq"] !== "number" || !Number.isSafeInteger(e["seq"]) || e["seq"] < 1) return false;
  return checkEvent(e as unknown as NewStreamEvent) === undefined;
}

/** Keeps exactly the event's fields (a value read back may carry more). */
export function eventOf(value: StreamEvent): StreamEvent {
  return {
    seq: value.seq,
    type: value.type,
    action: value.action,
    parents: [...value.parents],
    resource_uri: value.resource_uri,
    state: value.state,
    uuid: value.uuid,
    datetime: value.datetime,
    namespace: value.namespace,
  };
}

/**
 * A time (ISO 8601 or a Date) as Docker Cloud's events carried it: ISO 8601 in UTC to the second,
 * `2016-02-01T16:47:28Z` (its REST objects used RFC 1123, see api/dates.ts; its event stream did not);
 * `fallback` when it is not a time.
 */
export function eventDate(at: string | Date, fallback = "1970-01-01T00:00:00Z"): string {
  const ms = typeof at === "string" ? Date.parse(at) : at.getTime();
  return Number.isNaN(ms) ? fallback : new Date(ms).toISOString().replace(/\.[0-9]{3}Z$/, "Z");
}
