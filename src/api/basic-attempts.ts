/**
 * Failed Basic-auth attempts of a client address, shared by both authenticators that read `Authorization:
 * Basic` (API keys, API roles): an address over the limit is refused with 429 before its credentials are
 * looked at, and every refused credential counts as one failure.
 */
import type { FailedAttemptLimiter } from "../apikey/index.ts";
import type { Authentication } from "./authenticate.ts";

/** The 429 for an address that failed too often, or undefined when it may try. */
export function throttled(limiter: FailedAttemptLimiter, address: string): Authentication | undefined {
  if (!limiter.isLimited(address)) return undefined;
  return {
    kind: "failure",
    status: 429,
    reason: "too many failed attempts from this address",
    retryAfterSeconds: limiter.retryAfterSeconds(address),
  };
}

/** A refused credential: one failure of the address, and 401 with a fixed reason for the audit log. */
export function refusedAttempt(
  limiter: FailedAttemptLimiter,
  address: string,
  reason: string,
): Authentication {
  limiter.recordFailure(address);
  return { kind: "failure", status: 401, reason };
}
