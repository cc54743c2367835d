/**
 * V2 JSON: {"v":2,"l":..,"i"|"i64":..,"c":[{"i"|"i64","l","v"|"v64"}],"s"|"s64":..}.
 * Binary fields are written as UTF-8 text when they are valid UTF-8, otherwise as unpadded base64url in `x64`.
 * Reading accepts a missing `v` (pymacaroons omits it) and `v` as 2 or "2"; unknown keys are refused.
 */
import { base64UrlEncode } from "../base64.ts";
import { utf8Text } from "../bytes.ts";
import { formatError, limitError } from "../failures.ts";
import type { MacaroonLimits } from "../limits.ts";
import type { JsonObject } from "../strict-json.ts";
import type { Caveat, Macaroon } from "../types.ts";
import { asObject, onlyKeys, optionalData, optionalString, requiredData } from "./json-fields.ts";

const MACAROON_KEYS = ["v", "l", "i", "i64", "c", "s", "s64"];
const CAVEAT_KEYS = ["i", "i64", "l", "v", "v64"];

export function decodeV2Json(obj: JsonObject, limits: MacaroonLimits): Macaroon {
  onlyKeys(obj, MACAROON_KEYS, "macaroon");
  const version = obj.get("v");
  if (version !== undefined && version !== 2 && version !== "2") {
    throw formatError("v2j: unsupported version");
  }
  const location = optionalString(obj, "l", limits) ?? "";
  const identifier = requiredData(obj, "i", limits);
  const signature = requiredData(obj, "s", limits);
  if (signature.length !== 32) throw formatError("v2j: signature is not 32 bytes");
  const list = obj.get("c");
  const caveats: Caveat[] = [];
  if (list !== undefined) {
    if (!Array.isArray(list)) throw formatError("v2j: caveats are not an array");
    if (list.length > limits.maxCaveats) throw limitError("v2j: too many caveats");
    for (const item of list) caveats.push(decodeCaveat(asObject(item, "caveat"), limits));
  }
  const m: Macaroon = { identifier, caveats, signature };
  return location === "" ? m : { ...m, location };
}

function decodeCaveat(obj: JsonObject, limits: MacaroonLimits): Caveat {
  onlyKeys(obj, CAVEAT_KEYS, "caveat");
  const identifier = requiredData(obj, "i", limits);
  const location = optionalString(obj, "l", limits) ?? "";
  const verificationId = optionalData(obj, "v", limits);
  if (verificationId === undefined) {
    if (location !== "") throw formatError("v2j: location on a first-party caveat");
    return { identifier };
  }
  return location === "" ? { identifier, verificationId } : { identifier, location, verificationId };
}

function dataField(key: string, bytes: Uint8Array): string {
  const text = utf8Text(bytes);
  return text === undefined
    ? `${JSON.stringify(key + "64")}:${JSON.stringify(base64UrlEncode(bytes))}`
    : `${JSON.stringify(key)}:${JSON.stringify(text)}`;
}

export function encodeV2Json(m: Macaroon): string {
  const parts = ['"v":2'];
  if (m.location) parts.push(`"l":${JSON.stringify(m.location)}`);
  parts.push(dataField("i", m.identifier));
  const caveats = m.caveats.map((c) => {
    const fields = [dataField("i", c.identifier)];
    if (c.verificationId) {
      fields.push(dataField("v", c.verificationId));
      if (c.location) fields.push(`"l":${JSON.stringify(c.location)}`);
    }
    return `{${fields.join(",")}}`;
  });
  parts.push(`"c":[${caveats.join(",")}]`);
  parts.push(`"s64":${JSON.stringify(base64UrlEncode(m.signature))}`);
  return `{${parts.join(",")}}`;
}
