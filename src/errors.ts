/**
 * One error type for the whole agent. `code` is stable (scripts and tests match on it); `message` is fixed,
 * safe text that may be shown to a docker user; `cause` carries the internal detail for the audit log and
 * stderr and must never hold a token, key, passphrase or request body.
 */
export type ErrorCode =
  // wire protocol and request parsing
  | "ERR_REQUEST_JSON"
  | "ERR_REQUEST_FIELD"
  | "ERR_REQUEST_TOO_LARGE"
  | "ERR_REQUEST_BASE64"
  | "ERR_REQUEST_URI"
  | "ERR_REQUEST_BODY_WITHHELD"
  | "ERR_ROUTE_UNKNOWN"
  // policy
  | "ERR_POLICY_INVALID"
  | "ERR_POLICY_MISSING"
  // macaroons
  | "ERR_MACAROON_FORMAT"
  | "ERR_MACAROON_LIMIT"
  | "ERR_MACAROON_SIGNATURE"
  | "ERR_MACAROON_CAVEAT"
  | "ERR_MACAROON_DISCHARGE"
  | "ERR_MACAROON_KEY"
  | "ERR_MACAROON_REVOKED"
  | "ERR_MACAROON_MISSING"
  | "ERR_MACAROON_NOT_INITIALISED"
  | "ERR_MACAROON_NOT_ROOT"
  // API keys
  | "ERR_APIKEY_NOT_FOUND"
  | "ERR_APIKEY_AMBIGUOUS"
  | "ERR_APIKEY_LIMIT"
  // certificate authority
  | "ERR_CA_MISSING"
  | "ERR_CA_EXISTS"
  | "ERR_CA_NAME"
  | "ERR_CA_CERTIFICATE"
  | "ERR_CA_REVOKED"
  | "ERR_CA_NOT_FOUND"
  | "ERR_CA_VALIDITY"
  // state directory and files
  | "ERR_STATE_CORRUPT"
  | "ERR_STATE_IO"
  | "ERR_STATE_EXISTS"
  | "ERR_STATE_PERMISSIONS"
  // the plugin socket
  | "ERR_SOCKET_IN_USE"
  // the HTTPS listener (serve --listen) and its API (src/api/)
  | "ERR_LISTEN"
  | "ERR_API_UNAUTHENTICATED"
  | "ERR_API_NOT_FOUND"
  | "ERR_API_METHOD"
  | "ERR_API_MEDIA_TYPE"
  | "ERR_API_BAD_REQUEST"
  | "ERR_API_TOO_LARGE"
  | "ERR_API_BUSY"
  | "ERR_API_ROLE"
  // the gateway (src/gateway/): the Engine API on the listener
  | "ERR_GATEWAY_BODY"
  | "ERR_GATEWAY_NAMESPACE"
  | "ERR_GATEWAY_BUSY"
  // the client commands (src/client/)
  | "ERR_API_UNREACHABLE"
  | "ERR_API_REFUSED"
  | "ERR_API_RESPONSE"
  // docker engine client
  | "ERR_DOCKER_UNREACHABLE"
  | "ERR_DOCKER_NOT_FOUND"
  | "ERR_DOCKER_RESPONSE"
  // install, uninstall, doctor
  | "ERR_DOCKER_CONFIG"
  | "ERR_INSTALL"
  // command line
  // fleet (etcd)
  | "ERR_FLEET_CONFIG"
  | "ERR_FLEET_VALUE"
  | "ERR_FLEET_UNREACHABLE"
  | "ERR_FLEET_REFUSED"
  | "ERR_FLEET_CONFLICT"
  | "ERR_USAGE"
  | "ERR_INTERNAL";

export class AgentError extends Error {
  override readonly name = "AgentError";
  readonly code: ErrorCode;
  /** Internal detail for logs (never shown to docker users, never secret). */
  readonly detail: string | undefined;

  constructor(code: ErrorCode, message: string, detail?: string) {
    super(message);
    this.code = code;
    this.detail = detail;
  }
}

export function isAgentError(value: unknown): value is AgentError {
  return value instanceof AgentError;
}

/** Wraps anything thrown into an AgentError without leaking its text to users. */
export function toAgentError(value: unknown, code: ErrorCode = "ERR_INTERNAL"): AgentError {
  if (value instanceof AgentError) return value;
  const detail = value instanceof Error ? value.message : String(value);
  return new AgentError(code, "internal error", detail);
}
