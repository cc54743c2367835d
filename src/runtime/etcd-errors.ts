/**
 * gRPC failures as EtcdError. etcd answers with fixed texts ("etcdserver: permission denied", "mvcc: required
 * revision has been compacted", ...) under a gRPC status; the code is chosen from both. Messages are built
 * from those fixed texts and connection errors only: never a key, a value or a credential.
 */
import { status as Status } from "@grpc/grpc-js";
import { EtcdError, type EtcdErrorCode } from "../fleet/etcd.ts";

/** What a gRPC call rejects with (grpc-js ServiceError, loosely: tests and streams reject with plain Errors). */
interface GrpcFailure {
  readonly code?: number;
  readonly details?: string;
  readonly message?: string;
}

/** The failure is the endpoint's, not the request's: try the next endpoint. */
export function isEndpointFailure(error: unknown): boolean {
  if (error instanceof EtcdError) return error.code === "unavailable" || error.code === "timeout";
  const code = (error as GrpcFailure).code;
  return code === Status.UNAVAILABLE || code === Status.DEADLINE_EXCEEDED;
}

const MAX_DETAIL = 200;

/** The server's or the connection's own text, shortened; gRPC's "N CODE: " prefix removed. */
function detailOf(error: GrpcFailure): string {
  const text = (error.details || error.message || "")
    .replace(/^\d+ [A-Z_]+: /, "")
    .replace(/^No connection established\. Last error: /, "")
    .replace(/\s*Resolution note:.*$/s, "")
    .replace(/\s*\(\d{4}-\d\d-\d\dT[\d:.]+Z\)/, "")
    .replace(/\.+$/, "")
    .trim();
  return text.length > MAX_DETAIL ? `${text.slice(0, MAX_DETAIL)}...` : text;
}

/** IP-literal TLS names, refused by grpc-js's TLS on Bun and Deno (shared/design/fleet.md). */
const IP_SERVERNAME = /servername|server name|IP address/i;

/** One gRPC failure (from one endpoint) as an EtcdError. */
export function toEtcdError(error: unknown): EtcdError {
  if (error instanceof EtcdError) return error;
  const failure = (error ?? {}) as GrpcFailure;
  const detail = detailOf(failure);
  const code = classify(failure.code, detail);
  return new EtcdError(code, messageFor(code, detail));
}

function classify(code: number | undefined, detail: string): EtcdErrorCode {
  if (/required revision has been compacted/.test(detail)) return "compacted";
  if (/request is too large|message larger than max|too many operations in txn/.test(detail)) {
    return "too_large";
  }
  if (/permission denied/.test(detail)) return "permission_denied";
  if (
    /user name is empty|invalid auth token|authentication failed|auth: revision in header is old/.test(detail)
  ) {
    return "unauthenticated";
  }
  if (/request timed out|no leader|leader changed|timed out/.test(detail)) return "timeout";
  // etcd's back-pressure (its apply queue is behind): the member is busy, another may not be.
  if (/too many requests/.test(detail)) return "unavailable";
  switch (code) {
    case Status.UNAVAILABLE:
      return "unavailable";
    case Status.DEADLINE_EXCEEDED:
      return "timeout";
    case Status.PERMISSION_DENIED:
      return "permission_denied";
    case Status.UNAUTHENTICATED:
      return "unauthenticated";
    default:
      return "other";
  }
}

function messageFor(code: EtcdErrorCode, detail: string): string {
  switch (code) {
    case "permission_denied":
      // etcd 3.4 says "permission denied" too when the certificate's CN is no etcd user at all.
      return "etcd refused the operation: permission denied (is the client certificate's CN an etcd user " +
        "whose roles cover this key?)";
    case "unauthenticated":
      return `etcd did not accept the credential (${detail})`;
    case "compacted":
      return "etcd compacted the revision asked for: list again, then watch from the new revision";
    case "too_large":
      return `etcd refused a request over its size limit (${detail})`;
    case "timeout":
      return `etcd did not answer in time (${detail || "deadline exceeded"})`;
    case "unavailable":
      if (IP_SERVERNAME.test(detail) && /TLS|tls|SSL|ssl|servername/.test(detail)) {
        return `etcd is unreachable: TLS refused an IP address as the server name; use a DNS name such as ` +
          `localhost in the endpoint (${detail})`;
      }
      if (/certificate|SSL|TLS|tls|handshake/.test(detail)) {
        return "etcd is unreachable: the TLS handshake failed (is the CA the one that signed the members' " +
          `certificates, and does the member trust the client's certificate?) (${detail})`;
      }
      return `etcd is unreachable (${detail || "no connection"})`;
    default:
      return `etcd failed (${detail || "unknown error"})`;
  }
}

/** Several endpoints' failures as one error: "timeout" when one of them timed out, else the last one's. */
export function combineEndpointFailures(
  errors: readonly EtcdError[],
  endpoints: readonly string[],
): EtcdError {
  const last = errors[errors.length - 1] ?? new EtcdError("unavailable", "etcd is unreachable (no endpoint)");
  const timedOut = errors.find((e) => e.code === "timeout");
  const chosen = timedOut ?? last;
  const tried = endpoints.length === 1
    ? endpoints[0]
    : `${endpoints.length} endpoints: ${endpoints.join(", ")}`;
  return new EtcdError(chosen.code, `${chosen.message}; tried ${tried}`);
}
