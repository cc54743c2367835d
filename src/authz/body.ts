/**
 * The request body dockerd forwards (base64 JSON), and the rule for when it withheld one.
 * dockerd 20.10 silently skips bodies of 1 MiB or more (and chunked ones) yet still runs the request,
 * so a JSON write whose body we did not get must be denied: we cannot judge what we cannot see.
 */
import { AgentError } from "../errors.ts";
import { hasDuplicateKeys } from "./duplicate-keys.ts";
import type { AuthzRequest } from "./wire.ts";

/** Largest decoded JSON body the agent will parse (newer dockerd forwards up to 4 MiB). */
export const MAX_JSON_BODY_BYTES = 4 * 1024 * 1024;

const utf8 = new TextDecoder("utf-8", { fatal: true });

export function isJsonContentType(value: string | undefined): boolean {
  if (value === undefined) return false;
  const media = value.split(";", 1)[0]!.trim().toLowerCase();
  return media === "application/json";
}

/**
 * dockerd reads query parameters such as `fromImage` through Go's FormValue, which prefers a
 * form-encoded body over the URL; the plugin never sees such bodies, so a write carrying one could
 * change what the request does behind the plugin's back.
 */
export function hasFormBody(request: AuthzRequest): boolean {
  if (request.method !== "POST" && request.method !== "PUT" && request.method !== "PATCH") return false;
  const type = request.headers.get("content-type")?.split(";", 1)[0]?.trim().toLowerCase();
  return type === "application/x-www-form-urlencoded" || type === "multipart/form-data";
}

/** True when the client sent a JSON body that dockerd did not forward to the plugin. */
export function bodyWithheld(request: AuthzRequest): boolean {
  if (request.bodyBase64 !== undefined) return false;
  if (request.method !== "POST" && request.method !== "PUT" && request.method !== "PATCH") return false;
  if (!isJsonContentType(request.headers.get("content-type"))) return false;
  // Go removes Transfer-Encoding from the header map, so a chunked body shows up as no Content-Length.
  const length = request.headers.get("content-length");
  return length === undefined || length.trim() !== "0";
}

export function decodeBase64(text: string): Uint8Array {
  if (text.length > Math.ceil(MAX_JSON_BODY_BYTES / 3) * 4 + 4) {
    throw new AgentError("ERR_REQUEST_TOO_LARGE", "request body is larger than the agent inspects");
  }
  let binary: string;
  try {
    binary = atob(text);
  } catch {
    throw new AgentError("ERR_REQUEST_BASE64", "request body is not valid base64");
  }
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Parses the forwarded JSON body; undefined when dockerd sent none. */
export function decodeJsonBody(request: AuthzRequest): unknown {
  if (request.bodyBase64 === undefined) return undefined;
  const bytes = decodeBase64(request.bodyBase64);
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new AgentError("ERR_REQUEST_JSON", "request body is not valid UTF-8");
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new AgentError("ERR_REQUEST_JSON", "request body is not valid JSON");
  }
  // dockerd's decoder merges repeated keys where JSON.parse keeps the last one: the two would disagree.
  if (hasDuplicateKeys(text)) {
    throw new AgentError("ERR_REQUEST_JSON", "request body repeats a JSON key");
  }
  return value;
}
