/**
 * Prune filters, read and written as dockerd's api/types/filters.FromJSON does: `{"label": {"k=v": true}}`,
 * or the older list form `{"label": ["k=v"]}` (the whole object in one form or the other: dockerd tries the
 * map form, then the list form, and refuses a mix). Several `label` values are ANDed, and a `k=v` value
 * matches that exact label value, so adding `io.agent.namespace=NS` limits any prune to namespace NS
 * whatever else the client asked for. The boolean of the map form is ignored by dockerd, as here.
 */
import { NAMESPACE_LABEL } from "./namespace-labels.ts";
import { isObject, NamespaceRefusal } from "./namespace-body.ts";

type Filters =
  | { readonly form: "map"; readonly fields: Record<string, Record<string, boolean>> }
  | { readonly form: "list"; readonly fields: Record<string, string[]> };

const invalid = () =>
  new NamespaceRefusal(400, "invalid filter: the filters query parameter is not valid JSON");

/** Parses a `filters` query value (absent or empty: no filters). */
export function parseFilters(raw: string | null): Filters {
  if (raw === null || raw === "") return { form: "map", fields: {} };
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw invalid();
  }
  if (value === null) return { form: "map", fields: {} };
  if (!isObject(value)) throw invalid();
  const entries = Object.entries(value).filter(([, v]) => v !== null);
  if (entries.every(([, v]) => isObject(v) && Object.values(v).every((b) => typeof b === "boolean"))) {
    return { form: "map", fields: Object.fromEntries(entries) as Record<string, Record<string, boolean>> };
  }
  if (entries.every(([, v]) => Array.isArray(v) && v.every((s) => typeof s === "string"))) {
    return { form: "list", fields: Object.fromEntries(entries) as Record<string, string[]> };
  }
  throw invalid();
}

/** The values of one filter key. */
function valuesOf(filters: Filters, key: string): readonly string[] {
  if (!Object.hasOwn(filters.fields, key)) return [];
  return filters.form === "map" ? Object.keys(filters.fields[key] ?? {}) : filters.fields[key] ?? [];
}

/** The filters with `label=io.agent.namespace=NAMESPACE` added, as JSON in the client's own form. */
export function limitFilters(raw: string | null, namespace: string): string {
  const filters = parseFilters(raw);
  const label = `${NAMESPACE_LABEL}=${namespace}`;
  if (filters.form === "map") {
    const labels = {
      ...(Object.hasOwn(filters.fields, "label") ? filters.fields["label"] : {}),
      [label]: true,
    };
    return JSON.stringify({ ...filters.fields, label: labels });
  }
  const labels = [...valuesOf(filters, "label").filter((v) => v !== label), label];
  return JSON.stringify({ ...filters.fields, label: labels });
}

/** Whether the filters limit a prune to one namespace `may` allows (the plugin socket cannot rewrite them). */
export function filtersLimitToNamespace(raw: string | null, may: (namespace: string) => boolean): boolean {
  const prefix = `${NAMESPACE_LABEL}=`;
  return valuesOf(parseFilters(raw), "label").some((value) =>
    value.startsWith(prefix) && value.length > prefix.length && may(value.slice(prefix.length))
  );
}

/**
 * Whether a prune on the plugin socket (which cannot rewrite it) stays within what the requester may
 * touch: limited to one of its namespaces, or `label!=io.agent.namespace` alone (every namespaced object
 * left out: dockerd keeps an object back only when it matches every `label!` value, so any other value
 * beside it would let namespaced objects through).
 */
export function pruneStaysInNamespaces(raw: string | null, may: (namespace: string) => boolean): boolean {
  if (filtersLimitToNamespace(raw, may)) return true;
  const excluded = valuesOf(parseFilters(raw), "label!");
  return excluded.length === 1 && excluded[0] === NAMESPACE_LABEL;
}

/** The request target with query parameter `key` set to `value` (every earlier `key` replaced). */
export function withQueryParameter(target: string, key: string, value: string): string {
  const q = target.indexOf("?");
  const path = q < 0 ? target : target.slice(0, q);
  const query = new URLSearchParams(q < 0 ? "" : target.slice(q + 1));
  query.delete(key);
  query.append(key, value);
  return `${path}?${query.toString()}`;
}

/** The first value of query parameter `key` in a request target, as Go's r.Form.Get reads it. */
export function queryParameter(target: string, key: string): string | null {
  const q = target.indexOf("?");
  return q < 0 ? null : new URLSearchParams(target.slice(q + 1)).get(key);
}
