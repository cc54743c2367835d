/**
 * Reading a request body the way dockerd's Go decoder does: struct fields match keys case-insensitively
 * (`{"hostconfig": {"binds": [...]}}` is HostConfig.Binds to dockerd), and JSON null is "absent". A field two
 * keys compete for (`Labels` and `labels`) is refused rather than emulated: Go merges them in key order, and
 * the checks must never read a different value than dockerd uses. Map keys (label names, network names in
 * EndpointsConfig) are exact, as in Go.
 */
import { foldsTo, isObject } from "../policy/go-json.ts";

export { isObject };

/** Why a request is refused before it reaches dockerd: the status and dockerd-like message to answer. */
export class NamespaceRefusal extends Error {
  override readonly name = "NamespaceRefusal";
  readonly status: 400 | 403 | 404 | 409;

  constructor(status: 400 | 403 | 404 | 409, message: string) {
    super(message);
    this.status = status;
  }
}

export function isRefusal(value: unknown): value is NamespaceRefusal {
  return value instanceof NamespaceRefusal;
}

const malformed = (message: string) => new NamespaceRefusal(400, message);

/** The one key of `object` that Go decodes into `field` (upper-case ASCII), or undefined when none does. */
export function keyOf(object: Record<string, unknown>, field: string, where: string): string | undefined {
  let found: string | undefined;
  for (const key of Object.keys(object)) {
    if (!foldsTo(key, field)) continue;
    if (found !== undefined) {
      throw malformed(`the request body sets ${where} more than once (${found} and ${key})`);
    }
    found = key;
  }
  return found;
}

/** The value Go would decode into `field`; undefined when absent or null. */
export function fieldOf(object: Record<string, unknown>, field: string, where: string): unknown {
  const key = keyOf(object, field, where);
  const value = key === undefined ? undefined : object[key];
  return value === null ? undefined : value;
}

/** A field that must be an object when present. */
export function objectField(
  object: Record<string, unknown>,
  field: string,
  where: string,
): Record<string, unknown> | undefined {
  const value = fieldOf(object, field, where);
  if (value === undefined) return undefined;
  if (!isObject(value)) throw malformed(`${where} must be a JSON object`);
  return value;
}

/** A field that must be a string when present. */
export function stringField(
  object: Record<string, unknown>,
  field: string,
  where: string,
): string | undefined {
  const value = fieldOf(object, field, where);
  if (value === undefined) return undefined;
  if (typeof value !== "string") throw malformed(`${where} must be a string`);
  return value;
}

/** A field that must be a list of strings when present. */
export function stringsField(
  object: Record<string, unknown>,
  field: string,
  where: string,
): readonly string[] {
  const value = fieldOf(object, field, where);
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((item) => typeof item === "string")) {
    throw malformed(`${where} must be a list of strings`);
  }
  return value as string[];
}

/** A field that must be a list of objects when present. */
export function objectsField(
  object: Record<string, unknown>,
  field: string,
  where: string,
): readonly Record<string, unknown>[] {
  const value = fieldOf(object, field, where);
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every(isObject)) throw malformed(`${where} must be a list of objects`);
  return value as Record<string, unknown>[];
}

/**
 * The object under `field`, created (as `field` spelled `create`) when absent, for a rewrite: the client's
 * own spelling of the key is kept, so the field is still set exactly once.
 */
export function ensureObjectField(
  object: Record<string, unknown>,
  field: string,
  create: string,
  where: string,
): Record<string, unknown> {
  const key = keyOf(object, field, where);
  const value = key === undefined ? undefined : object[key];
  if (value === undefined || value === null) {
    const fresh: Record<string, unknown> = {};
    object[key ?? create] = fresh;
    return fresh;
  }
  if (!isObject(value)) throw malformed(`${where} must be a JSON object`);
  return value;
}

/** A request body that must be a JSON object (a create without a body is an empty one). */
export function bodyObject(body: unknown): Record<string, unknown> {
  if (body === undefined) return {};
  if (!isObject(body)) throw malformed("the request body must be a JSON object");
  return body;
}

/** A copy of a JSON value that a rewrite may change without touching the caller's. */
export function copyJson<T>(value: T): T {
  return value === undefined ? value : JSON.parse(JSON.stringify(value)) as T;
}
