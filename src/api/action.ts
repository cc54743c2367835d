/**
 * The action resource (`/api/audit/v1/(ns/)action/`): Docker Cloud's audit record of each API call that
 * changes something (POST, PATCH, DELETE on services and containers), kept in a bounded ring in memory (the
 * newest MAX_ACTIONS; the audit log on disk has every call). Reads are not actions: they would push the
 * changes out of the ring. Each mutating response names its action in `X-DockerCloud-Action-URI` (and
 * `X-Agent-Action-URI`). A list shows the addressed namespace's actions only; it is decided as the Engine
 * API's `GET /events` (system:events), the daemon's own record of what happened.
 */
import { cloudDate, filterDate } from "./dates.ts";
import type { EngineCall } from "./facts.ts";
import { listOf, pageOf } from "./list.ts";
import type { Scope } from "./namespace.ts";
import { isUuid } from "./node.ts";
import { type ApiAppDeps, type ApiContext, badRequest, decideCalls, json, notFound } from "./steps.ts";

export const MAX_ACTIONS = 1000;
export const ACTION_HEADER = "X-DockerCloud-Action-URI";
export const AGENT_ACTION_HEADER = "X-Agent-Action-URI";
export const ACTIONS_CALL: EngineCall = { method: "GET", uri: "/events" };

export type ActionState = "Pending" | "In progress" | "Canceling" | "Canceled" | "Success" | "Failed";

export interface ActionRecord {
  readonly uuid: string;
  readonly resource_uri: string;
  readonly namespace: string;
  /** The resource acted on (its resource_uri), or the collection for a create that failed. */
  object: string;
  /** "Service Create", "Container Stop", ... as Docker Cloud named them. */
  readonly action: string;
  readonly method: string;
  readonly path: string;
  readonly user: string;
  readonly user_agent: string;
  readonly ip: string;
  readonly start_date: string;
  end_date: string | null;
  state: ActionState;
  /** Why it failed (the error the client read, or the long work's), empty otherwise. */
  logs: string;
  /** The decision: its id (the audit event's decisionId), whether it allowed, the rule and the gate. */
  decision: {
    readonly id: string;
    allowed: boolean | null;
    rule: string | null;
    decided_by: string | null;
  };
  readonly is_user_action: true;
  readonly can_be_canceled: false;
  readonly can_be_retried: false;
}

export class ActionLog {
  readonly #ring: ActionRecord[] = [];
  readonly #max: number;
  #version = 0;

  /** `initial`: the records kept by the last run (action-file.ts), oldest first. */
  constructor(max = MAX_ACTIONS, initial: readonly ActionRecord[] = []) {
    this.#max = max;
    for (const record of initial) this.add(record);
    this.#version = 0;
  }

  add(record: ActionRecord): void {
    this.#ring.push(record);
    if (this.#ring.length > this.#max) this.#ring.shift();
    this.changed();
  }

  /** A record was changed in place (it ended). */
  changed(): void {
    this.#version++;
  }

  /** Moves on with every change: a writer compares it with the one it wrote. */
  get version(): number {
    return this.#version;
  }

  /** Every record, oldest first (what the action file keeps). */
  all(): readonly ActionRecord[] {
    return [...this.#ring];
  }

  /** Newest first. */
  list(namespace: string): ActionRecord[] {
    return this.#ring.filter((a) => a.namespace === namespace).reverse();
  }

  get(uuid: string): ActionRecord | undefined {
    return this.#ring.find((a) => a.uuid === uuid);
  }
}

const VERBS: Readonly<Record<string, string>> = {
  start: "Start",
  stop: "Stop",
  scale: "Scale",
  redeploy: "Redeploy",
};

/** Docker Cloud's name for a call: "Service Create", "Container Terminate", "Service Update", ... */
export function actionName(
  resource: string,
  method: string,
  id: string | undefined,
  verb: string | undefined,
) {
  const noun = resource === "service" ? "Service" : "Container";
  if (verb !== undefined) return `${noun} ${VERBS[verb] ?? verb}`;
  if (method === "POST" && id === undefined) return `${noun} Create`;
  if (method === "PATCH") return `${noun} Update`;
  if (method === "DELETE") return `${noun} Terminate`;
  return `${noun} ${method}`;
}

/** The record as Docker Cloud showed it: its dates in Docker Cloud's form, `location` unknown. */
function objectOf(record: ActionRecord) {
  const { namespace: _namespace, ...shown } = record;
  return {
    ...shown,
    start_date: cloudDate(record.start_date),
    end_date: cloudDate(record.end_date),
    location: null,
  };
}

const DATE_FILTERS = ["start_date__gte", "start_date__lte", "end_date__gte", "end_date__lte"] as const;

/** `?start_date__gte=...` and the like, as bounds in ms; a string (the 400's message) when one is no date. */
function dateBounds(query: URLSearchParams): Map<string, number> | string {
  const bounds = new Map<string, number>();
  for (const name of DATE_FILTERS) {
    const text = query.get(name);
    if (text === null) continue;
    const ms = filterDate(text);
    if (ms === undefined) return `${name} must be a date (RFC 1123 or ISO 8601)`;
    bounds.set(name, ms);
  }
  return bounds;
}

function withinBounds(record: ActionRecord, bounds: ReadonlyMap<string, number>): boolean {
  for (const [name, bound] of bounds) {
    const field = name.startsWith("start_") ? record.start_date : record.end_date;
    if (field === null) return false;
    const ms = Date.parse(field);
    if (name.endsWith("__gte") ? ms < bound : ms > bound) return false;
  }
  return true;
}

/** `/api/audit/v1/(ns/)action/(uuid/)`: GET only. */
export async function actionResource(
  c: ApiContext,
  deps: ApiAppDeps,
  actions: ActionLog,
  scope: Scope,
  uuid: string | undefined,
  namespaced: boolean,
): Promise<Response> {
  const query = new URL(c.req.url).searchParams;
  let page;
  if (uuid === undefined) {
    try {
      page = pageOf(query);
    } catch (err) {
      return badRequest(c, err instanceof Error ? err.message : "bad query");
    }
  } else if (!isUuid(uuid)) return notFound(c, "not an action uuid");
  const bounds = dateBounds(query);
  if (typeof bounds === "string") return badRequest(c, bounds);
  const denied = await decideCalls(c, deps, [ACTIONS_CALL]);
  if (denied !== undefined) return denied;
  if (uuid !== undefined) {
    // Docker Cloud's action URIs name no namespace: one is found in any namespace the caller may address
    // (in the addressed one only when the path names it).
    const found = actions.get(uuid);
    const visible = found !== undefined &&
      (namespaced ? found.namespace === scope.namespace : scope.mayAddress(found.namespace));
    return visible ? json(objectOf(found)) : notFound(c, `no action ${uuid} the caller may see`);
  }
  const matches = actions.list(scope.namespace).filter((a) =>
    (query.get("state") ?? a.state) === a.state && (query.get("object") ?? a.object) === a.object &&
    (query.get("action") ?? a.action) === a.action && withinBounds(a, bounds)
  ).map(objectOf);
  return json(listOf(new URL(c.req.url).pathname, page!, matches));
}
