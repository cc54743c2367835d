/**
 * dockerd's authorization-plugin wire format. Field names as dockerd really sends them
 * (`UserAuthNMethod`, `RequestUri`), plus the spellings from the seed plugin's docs
 * (`AuthenticationMethod`, `RequestURI`). Everything here is unverified input.
 */
import { AgentError } from "../errors.ts";

export type Phase = "request" | "response";

/** A parsed but unjudged AuthZReq/AuthZRes payload. Bodies stay base64 until someone needs them. */
export interface AuthzRequest {
  readonly user: string | undefined;
  readonly authMethod: string | undefined;
  readonly method: string;
  readonly uri: string;
  /** Base64 request body as dockerd sent it (undefined when dockerd sent none). */
  readonly bodyBase64: string | undefined;
  /** Header values by lower-cased name (dockerd sends canonical keys with string-array values). */
  readonly headers: ReadonlyMap<string, string>;
  /** RequestPeerCertificates: base64 of PEM, leaf first. */
  readonly peerCertificates: readonly string[];
  /** AuthZRes only; absent for hijacked streams, /_ping and streamed wait. */
  readonly responseStatus: number | undefined;
}

export interface AuthzResponse {
  readonly Allow: boolean;
  readonly Msg?: string;
  readonly Err?: string;
}

/** Largest plugin call accepted (dockerd 20.10 forwards bodies under 1 MiB, newer ones up to 4 MiB, base64). */
export const MAX_PLUGIN_REQUEST_BYTES = 8 * 1024 * 1024;
const MAX_USER_LENGTH = 1024;
const MAX_PEER_CERTIFICATES = 16;
const HTTP_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]);

function field(code: "ERR_REQUEST_FIELD", what: string): AgentError {
  return new AgentError(code, `malformed plugin request: ${what}`);
}

function optionalString(obj: Record<string, unknown>, ...names: string[]): string | undefined {
  for (const name of names) {
    const value = obj[name];
    if (value === undefined || value === null) continue;
    if (typeof value !== "string") throw field("ERR_REQUEST_FIELD", `${name} must be a string`);
    return value;
  }
  return undefined;
}

export function parseAuthzRequest(text: string, phase: Phase): AuthzRequest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new AgentError("ERR_REQUEST_JSON", "malformed plugin request: not valid JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new AgentError("ERR_REQUEST_JSON", "malformed plugin request: not a JSON object");
  }
  const obj = parsed as Record<string, unknown>;
  const user = optionalString(obj, "User");
  if (user !== undefined && (user.length > MAX_USER_LENGTH || hasControlCharacter(user))) {
    throw field("ERR_REQUEST_FIELD", "User is too long or has control characters");
  }
  const method = optionalString(obj, "RequestMethod");
  if (method === undefined || !HTTP_METHODS.has(method)) {
    throw field("ERR_REQUEST_FIELD", "RequestMethod is missing or unknown");
  }
  const uri = optionalString(obj, "RequestUri", "RequestURI");
  if (uri === undefined) throw field("ERR_REQUEST_FIELD", "RequestUri is missing");
  const bodyBase64 = optionalString(obj, "RequestBody");
  return {
    user: user === "" ? undefined : user,
    authMethod: optionalString(obj, "UserAuthNMethod", "AuthenticationMethod"),
    method,
    uri,
    bodyBase64: bodyBase64 === "" ? undefined : bodyBase64,
    headers: parseHeaders(obj["RequestHeaders"]),
    peerCertificates: parsePeerCertificates(obj["RequestPeerCertificates"]),
    responseStatus: phase === "response" ? parseStatus(obj["ResponseStatusCode"]) : undefined,
  };
}

function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

function parseHeaders(value: unknown): ReadonlyMap<string, string> {
  const headers = new Map<string, string>();
  if (value === undefined || value === null) return headers;
  if (typeof value !== "object" || Array.isArray(value)) {
    throw field("ERR_REQUEST_FIELD", "RequestHeaders must be an object");
  }
  const record = value as Record<string, unknown>;
  // A plain loop: this runs twice per Docker API call, on every header dockerd forwards.
  for (const name in record) {
    if (!Object.hasOwn(record, name)) continue;
    const raw = record[name];
    // Go's http.Header marshals as {"Key": ["v1", "v2"]}; older docs show plain strings. Accept both.
    let joined: string;
    if (typeof raw === "string") {
      joined = raw;
    } else if (Array.isArray(raw) && raw.length === 1 && typeof raw[0] === "string") {
      joined = raw[0];
    } else if (Array.isArray(raw) && raw.every((v) => typeof v === "string")) {
      joined = raw.join(", ");
    } else {
      throw field("ERR_REQUEST_FIELD", "RequestHeaders values must be strings");
    }
    const key = name.toLowerCase();
    const before = headers.get(key);
    headers.set(key, before === undefined ? joined : `${before}, ${joined}`);
  }
  return headers;
}

function parsePeerCertificates(value: unknown): readonly string[] {
  if (value === undefined || value === null) return [];
  if (
    !Array.isArray(value) || value.length > MAX_PEER_CERTIFICATES ||
    !value.every((v) => typeof v === "string")
  ) {
    throw field("ERR_REQUEST_FIELD", "RequestPeerCertificates must be a short list of strings");
  }
  return value as string[];
}

function parseStatus(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > 999) {
    throw field("ERR_REQUEST_FIELD", "ResponseStatusCode must be an integer");
  }
  return value === 0 ? undefined : value;
}
