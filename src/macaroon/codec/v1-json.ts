/**
 * V1 JSON: {"location","identifier","caveats":[{"cid","vid","cl"}],"signature": lowercase hex}. Identifier,
 * caveat ids and locations are text; `vid` is base64 (either alphabet). This is the form the 2015 Docker
 * remote-API proposal wrapped in standard base64, and go-macaroon writes `"caveats": null` when there are none.
 */
import { base64UrlEncode } from "../base64.ts";
import { bytesToHex } from "@noble/hashes/utils.js";
import { fromHex, utf8, utf8Text } from "../bytes.ts";
import { AgentError } from "../../errors.ts";
import { formatError, limitError } from "../failures.ts";
import type { MacaroonLimits } from "../limits.ts";
import type { JsonObject } from "../strict-json.ts";
import type { Caveat, Macaroon } from "../types.ts";
import { asObject, base64Field, checkSize, onlyKeys, optionalString } from "./json-fields.ts";

const MACAROON_KEYS = ["location", "identifier", "caveats", "signature"];
const CAVEAT_KEYS = ["cid", "vid", "cl"];

export function decodeV1Json(obj: JsonObject, limits: MacaroonLimits): Macaroon {
  onlyKeys(obj, MACAROON_KEYS, "macaroon");
  const location = optionalString(obj, "location", limits) ?? "";
  const id = optionalString(obj, "identifier", limits);
  if (id === undefined) throw formatError("v1j: missing identifier");
  const sigHex = obj.get("signature");
  const signature = typeof sigHex === "string" ? fromHex(sigHex) : undefined;
  if (signature === undefined || signature.length !== 32) {
    throw formatError("v1j: signature is not 32 hex bytes");
  }
  const list = obj.get("caveats");
  const caveats: Caveat[] = [];
  if (list !== undefined && list !== null) {
    if (!Array.isArray(list)) throw formatError("v1j: caveats are not an array");
    if (list.length > limits.maxCaveats) throw limitError("v1j: too many caveats");
    for (const item of list) caveats.push(decodeCaveat(asObject(item, "caveat"), limits));
  }
  const m: Macaroon = { identifier: checkSize(utf8(id), limits), caveats, signature };
  return location === "" ? m : { ...m, location };
}

function decodeCaveat(obj: JsonObject, limits: MacaroonLimits): Caveat {
  onlyKeys(obj, CAVEAT_KEYS, "caveat");
  const cid = optionalString(obj, "cid", limits);
  if (cid === undefined) throw formatError("v1j: caveat without cid");
  const identifier = utf8(cid);
  const location = optionalString(obj, "cl", limits) ?? "";
  const vid = obj.get("vid");
  // pymacaroons treats an empty "vid" as absent.
  const verificationId = vid === undefined || vid === "" ? undefined : base64Field(vid, "vid", limits);
  if (verificationId === undefined) {
    if (location !== "") throw formatError("v1j: location on a first-party caveat");
    return { identifier };
  }
  return location === "" ? { identifier, verificationId } : { identifier, location, verificationId };
}

function textOf(bytes: Uint8Array, what: string): string {
  const text = utf8Text(bytes);
  if (text === undefined) {
    throw new AgentError(
      "ERR_MACAROON_FORMAT",
      "this macaroon cannot be written as v1 JSON",
      `${what} is binary`,
    );
  }
  return text;
}

export function encodeV1Json(m: Macaroon): string {
  const parts: string[] = [];
  if (m.location) parts.push(`"location":${JSON.stringify(m.location)}`);
  parts.push(`"identifier":${JSON.stringify(textOf(m.identifier, "identifier"))}`);
  const caveats = m.caveats.map((c) => {
    const fields = [`"cid":${JSON.stringify(textOf(c.identifier, "caveat id"))}`];
    if (c.verificationId) {
      fields.push(`"vid":${JSON.stringify(base64UrlEncode(c.verificationId))}`);
      if (c.location) fields.push(`"cl":${JSON.stringify(c.location)}`);
    }
    return `{${fields.join(",")}}`;
  });
  parts.push(`"caveats":[${caveats.join(",")}]`);
  parts.push(`"signature":${JSON.stringify(bytesToHex(m.signature))}`);
  return `{${parts.join(",")}}`;
}
