/**
 * Reads one macaroon in any of the four encodings, detecting which:
 * - text starting with "{": JSON (V1 when it has "identifier", else V2);
 * - otherwise base64 (either alphabet, padding optional) of: 0x02... (V2 binary), "{..." (JSON, as the 2015
 *   Docker proposal sent V1 JSON) or a hex digit (V1 binary packets).
 */
import { base64Decode } from "../base64.ts";
import { utf8Text } from "../bytes.ts";
import { formatError, limitError } from "../failures.ts";
import { type MacaroonLimits, resolveLimits } from "../limits.ts";
import { type JsonValue, parseStrictJson } from "../strict-json.ts";
import type { Macaroon, MacaroonFormat, UnverifiedMacaroon } from "../types.ts";
import { asObject } from "./json-fields.ts";
import { decodeV1Binary } from "./v1-binary.ts";
import { decodeV1Json } from "./v1-json.ts";
import { decodeV2Binary } from "./v2-binary.ts";
import { decodeV2Json } from "./v2-json.ts";

/** Decodes one macaroon (any format). Throws ERR_MACAROON_FORMAT or ERR_MACAROON_LIMIT, never anything else. */
export function decodeMacaroon(text: string, limits?: Partial<MacaroonLimits>): UnverifiedMacaroon {
  const resolved = resolveLimits(limits);
  if (typeof text !== "string") throw formatError("token is not text");
  if (text.length > resolved.maxTextLength) throw limitError("token text too long");
  return decodeTokenText(text.trim(), resolved);
}

export function decodeTokenText(text: string, limits: MacaroonLimits): UnverifiedMacaroon {
  if (text.length === 0) throw formatError("empty token");
  if (text.charCodeAt(0) === 0x7b /* { */) return decodeJsonValue(parseStrictJson(text), limits);
  const bytes = base64Decode(text);
  if (bytes === undefined) throw formatError("token is not base64");
  return decodeTokenBytes(bytes, limits);
}

export function decodeTokenBytes(bytes: Uint8Array, limits: MacaroonLimits): UnverifiedMacaroon {
  const first = bytes[0];
  if (first === undefined) throw formatError("empty token");
  if (first === 0x02) return brand(decodeV2Binary(bytes, limits), "v2");
  if (first === 0x7b) return decodeJsonValue(parseStrictJson(jsonText(bytes)), limits);
  if ((first >= 0x30 && first <= 0x39) || (first >= 0x61 && first <= 0x66)) {
    return brand(decodeV1Binary(bytes, limits), "v1");
  }
  throw formatError("unknown token format");
}

export function jsonText(bytes: Uint8Array): string {
  const text = utf8Text(bytes);
  if (text === undefined) throw formatError("json token is not UTF-8");
  return text;
}

export function decodeJsonValue(value: JsonValue, limits: MacaroonLimits): UnverifiedMacaroon {
  const obj = asObject(value, "macaroon");
  return obj.has("identifier")
    ? brand(decodeV1Json(obj, limits), "v1j")
    : brand(decodeV2Json(obj, limits), "v2j");
}

function brand(m: Macaroon, format: MacaroonFormat): UnverifiedMacaroon {
  return { ...m, format } as UnverifiedMacaroon;
}
