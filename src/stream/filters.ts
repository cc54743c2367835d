/**
 * What a Stream API subscriber is given: Docker Cloud's query filters and the namespaces it may see.
 *
 * - `?type=container,service` (Docker Cloud's event types; repeated parameters and comma lists both work),
 *   `?object=URI` (the event's resource_uri), `?parent=URI` (or `parents=`: one of the event's parents).
 *   Different filters must all match; the values of one filter are alternatives.
 * - Namespace visibility: an event is seen only by a subscriber that may address its namespace (a predicate
 *   of the caller's scope, see api/namespace.ts), and never when one of its parents names another namespace
 *   (the log refuses such events already: this is the second lock).
 * - `?since=SEQ`: where to resume (`parseSince`); the log decides whether it can (event-log.ts).
 */
import { EVENT_TYPES, EVERY_NAMESPACE, inNamespace, type StreamEvent } from "./event.ts";

/** The types a Docker Cloud client may filter on; the agent sends only EVENT_TYPES. */
export const FILTER_TYPES: readonly string[] = [...EVENT_TYPES, "stack", "nodecluster"];
const MAX_VALUES = 32;
const MAX_VALUE_LENGTH = 512;
const MAX_SINCE_DIGITS = 16;

export interface StreamFilter {
  /** undefined: any. */
  readonly types?: ReadonlySet<string>;
  readonly objects?: ReadonlySet<string>;
  readonly parents?: ReadonlySet<string>;
}

/** A query value the stream cannot serve (a 400, or an error message on the websocket). */
export interface QueryError {
  readonly error: string;
}

export function isQueryError(value: unknown): value is QueryError {
  return typeof value === "object" && value !== null && typeof (value as QueryError).error === "string";
}

/** `?since=`'s value: a whole number of at most 16 digits (a safe integer), or why not. */
export function parseSince(text: string): number | QueryError {
  if (!/^[0-9]+$/.test(text) || text.length > MAX_SINCE_DIGITS) {
    return { error: "since must be the seq of an event (a whole number, 0 or more)" };
  }
  const since = Number(text);
  return Number.isSafeInteger(since) ? since : { error: "since is too large" };
}

/** A resource URI as the API writes them: with its trailing slash. */
function uriOf(value: string): string {
  return value.endsWith("/") ? value : `${value}/`;
}

/** The values of a filter (repeated parameters and comma lists); undefined when absent. */
function valuesOf(query: URLSearchParams, names: readonly string[]): Set<string> | undefined | QueryError {
  const raw = names.flatMap((name) => query.getAll(name));
  if (raw.length === 0) return undefined;
  const values = raw.flatMap((v) => v.split(",")).map((v) => v.trim()).filter((v) => v !== "");
  if (values.length === 0) return { error: `${names[0]} must name at least one value` };
  if (values.length > MAX_VALUES) return { error: `${names[0]}: at most ${MAX_VALUES} values` };
  if (values.some((v) => v.length > MAX_VALUE_LENGTH)) return { error: `${names[0]}: a value is too long` };
  return new Set(values);
}

/** The filters of a stream request's query, or why they are not valid. */
export function parseFilter(query: URLSearchParams): StreamFilter | QueryError {
  const types = valuesOf(query, ["type"]);
  if (isQueryError(types)) return types;
  const objects = valuesOf(query, ["object"]);
  if (isQueryError(objects)) return objects;
  const parents = valuesOf(query, ["parent", "parents"]);
  if (isQueryError(parents)) return parents;
  const unknown = [...types ?? []].find((t) => !FILTER_TYPES.includes(t));
  if (unknown !== undefined) {
    return { error: `type ${JSON.stringify(unknown)} is none of ${FILTER_TYPES.join(", ")}` };
  }
  return {
    ...(types === undefined ? {} : { types }),
    ...(objects === undefined ? {} : { objects: new Set([...objects].map(uriOf)) }),
    ...(parents === undefined ? {} : { parents: new Set([...parents].map(uriOf)) }),
  };
}

/** A stream request's query: its filters and where it resumes (since absent: live events only). */
export function parseStreamQuery(
  query: URLSearchParams,
): { readonly filter: StreamFilter; readonly since: number | undefined } | QueryError {
  const filter = parseFilter(query);
  if (isQueryError(filter)) return filter;
  const text = query.get("since");
  if (text === null) return { filter, since: undefined };
  const since = parseSince(text);
  return isQueryError(since) ? since : { filter, since };
}

export function matchesFilter(filter: StreamFilter, event: StreamEvent): boolean {
  if (filter.types !== undefined && !filter.types.has(event.type)) return false;
  if (filter.objects !== undefined && !filter.objects.has(event.resource_uri)) return false;
  if (filter.parents !== undefined && !event.parents.some((p) => filter.parents!.has(p))) return false;
  return true;
}

/** Whether a subscriber that may address `mayAddress`'s namespaces may see `event`. */
export function visibleTo(event: StreamEvent, mayAddress: (namespace: string) => boolean): boolean {
  // The node (this host) is every namespace's, as GET /api/infra/v1/(NS/)node/ is.
  if (event.namespace === EVERY_NAMESPACE) return event.type === "node" && event.parents.length === 0;
  if (!mayAddress(event.namespace)) return false;
  return event.parents.every((parent) => inNamespace(parent, event.namespace));
}

/** The `accepts` of a subscription (event-log.ts): visible to the subscriber and matching its filter. */
export function acceptsOf(
  filter: StreamFilter,
  mayAddress: (namespace: string) => boolean,
): (event: StreamEvent) => boolean {
  return (event) => visibleTo(event, mayAddress) && matchesFilter(filter, event);
}
