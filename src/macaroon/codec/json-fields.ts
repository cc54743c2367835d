/** Field readers shared by the two JSON codecs: every check fails as ERR_MACAROON_FORMAT or ERR_MACAROON_LIMIT. */
import { base64Decode } from "../base64.ts";
import { utf8 } from "../bytes.ts";
import { formatError, limitError } from "../failures.ts";
import type { MacaroonLimits } from "../limits.ts";
import type { JsonObject, JsonValue } from "../strict-json.ts";

export function asObject(value: JsonValue | undefined, what: string): JsonObject {
  if (!(value instanceof Map)) throw formatError(`json: ${what} is not an object`);
  return value;
}

export function onlyKeys(obj: JsonObject, allowed: readonly string[], what: string): void {
  for (const key of obj.keys()) {
    if (!allowed.includes(key)) throw formatError(`json: unknown key in ${what}`);
  }
}

export function optionalString(obj: JsonObject, key: string, limits: MacaroonLimits): string | undefined {
  const v = obj.get(key);
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw formatError(`json: "${key}" is not a string`);
  checkSize(utf8(v), limits);
  return v;
}

export function checkSize(bytes: Uint8Array, limits: MacaroonLimits): Uint8Array {
  if (bytes.length > limits.maxFieldBytes) throw limitError("json: field too long");
  return bytes;
}

/** Reads binary data spelled either as UTF-8 text (`key`) or base64 (`key64`), never both. */
export function optionalData(obj: JsonObject, key: string, limits: MacaroonLimits): Uint8Array | undefined {
  const plain = obj.get(key);
  const encoded = obj.get(key + "64");
  if (plain !== undefined && encoded !== undefined) throw formatError(`json: both "${key}" and "${key}64"`);
  if (plain !== undefined) {
    if (typeof plain !== "string") throw formatError(`json: "${key}" is not a string`);
    return checkSize(utf8(plain), limits);
  }
  if (encoded !== undefined) return base64Field(encoded, key + "64", limits);
  return undefined;
}

/** Decodes a base64 value (either alphabet, padded or not). */
export function base64Field(value: JsonValue, key: string, limits: MacaroonLimits): Uint8Array {
  if (typeof value !== "string") throw formatError(`json: "${key}" is not a string`);
  if (value.length > limits.maxFieldBytes * 2) throw limitError("json: field too long");
  const bytes = base64Decode(value);
  if (bytes === undefined) throw formatError(`json: "${key}" is not base64`);
  return checkSize(bytes, limits);
}

export function requiredData(obj: JsonObject, key: string, limits: MacaroonLimits): Uint8Array {
  const v = optionalData(obj, key, limits);
  if (v === undefined) throw formatError(`json: missing "${key}"`);
  return v;
}
