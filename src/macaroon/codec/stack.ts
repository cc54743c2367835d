/**
 * The X-Macaroon header carries a stack: the root macaroon first, then its bound discharges. Accepted forms:
 * - tokens separated by commas (optional spaces around them): `ROOT,DISCHARGE1,DISCHARGE2` (what we write);
 * - a JSON array of macaroon JSON objects, raw or base64-encoded (pymacaroons / macaroon-bakery style);
 * - a single token of any format (a stack of one).
 */
import { base64Decode } from "../base64.ts";
import { formatError, limitError } from "../failures.ts";
import { type MacaroonLimits, resolveLimits } from "../limits.ts";
import { parseStrictJson } from "../strict-json.ts";
import type { Macaroon, MacaroonFormat, UnverifiedMacaroon } from "../types.ts";
import { decodeJsonValue, decodeTokenBytes, decodeTokenText, jsonText } from "./decode.ts";
import { encodeMacaroon } from "./encode.ts";

/** A decoded stack: the root macaroon followed by its discharges. */
export type MacaroonStack = readonly [UnverifiedMacaroon, ...UnverifiedMacaroon[]];

export function decodeStack(text: string, limits?: Partial<MacaroonLimits>): MacaroonStack {
  const resolved = resolveLimits(limits);
  if (typeof text !== "string") throw formatError("token is not text");
  if (text.length > resolved.maxTextLength) throw limitError("token text too long");
  const trimmed = text.trim();
  if (trimmed.length === 0) throw formatError("empty token");
  const first = trimmed.charCodeAt(0);
  let list: UnverifiedMacaroon[];
  if (first === 0x5b /* [ */) {
    list = decodeJsonArray(trimmed, resolved);
  } else if (first === 0x7b /* { */) {
    list = [decodeTokenText(trimmed, resolved)];
  } else if (trimmed.includes(",")) {
    const parts = trimmed.split(",");
    if (parts.length > resolved.maxDischarges + 1) throw limitError("too many discharge macaroons");
    list = parts.map((part) => decodeTokenText(part.trim(), resolved));
  } else {
    const bytes = base64Decode(trimmed);
    if (bytes === undefined) throw formatError("token is not base64");
    list = bytes[0] === 0x5b
      ? decodeJsonArray(jsonText(bytes), resolved)
      : [decodeTokenBytes(bytes, resolved)];
  }
  const [root, ...discharges] = list;
  if (root === undefined) throw formatError("empty macaroon list");
  if (discharges.length > resolved.maxDischarges) throw limitError("too many discharge macaroons");
  return [root, ...discharges];
}

function decodeJsonArray(text: string, limits: MacaroonLimits): UnverifiedMacaroon[] {
  const value = parseStrictJson(text);
  if (!Array.isArray(value)) throw formatError("json: stack is not an array");
  if (value.length > limits.maxDischarges + 1) throw limitError("too many discharge macaroons");
  return value.map((item) => decodeJsonValue(item, limits));
}

/**
 * Writes a stack: "v2"/"v1" as comma-separated base64url tokens, "v2j"/"v1j" as a JSON array.
 * Discharges must already be bound to the root (`bindForRequest`).
 */
export function encodeStack(list: readonly Macaroon[], format: MacaroonFormat = "v2"): string {
  if (list.length === 0) throw formatError("empty macaroon list");
  const tokens = list.map((m) => encodeMacaroon(m, format));
  return format === "v2j" || format === "v1j" ? `[${tokens.join(",")}]` : tokens.join(",");
}
