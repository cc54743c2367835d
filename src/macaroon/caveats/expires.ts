/**
 * `expires = <RFC 3339 UTC time>`, e.g. `expires = 2030-01-02T03:04:05Z` (fractional seconds allowed, only "Z").
 * The token is valid while now < expires. Written as an absolute time at minting because a verifier cannot know
 * when a token was minted.
 */
import { AgentError } from "../../errors.ts";
import { quotePredicate } from "../failures.ts";

export interface ExpiresCaveat {
  readonly name: "expires";
  /** Expiry instant, milliseconds since the Unix epoch. */
  readonly atMs: number;
}

// The last instant RFC 3339's four-digit year can write.
const LATEST_MS = Date.UTC(9999, 11, 31, 23, 59, 59);
const RFC3339_UTC = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?[Zz]$/;

function invalid(value: string): AgentError {
  return new AgentError(
    "ERR_MACAROON_CAVEAT",
    `invalid expires ${quotePredicate(value)}: expected an RFC 3339 UTC time such as 2030-01-02T03:04:05Z`,
  );
}

export function parseExpires(value: string): ExpiresCaveat {
  const m = RFC3339_UTC.exec(value);
  if (m === null) throw invalid(value);
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const fraction = m[7] === undefined ? 0 : Math.floor(Number(`0${m[7]}`) * 1000);
  // Date.UTC rolls over out-of-range fields (Feb 30 -> Mar 2); refuse them by reading the fields back.
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59) throw invalid(value);
  const atMs = Date.UTC(year, month - 1, day, hour, minute, second, fraction);
  const check = new Date(atMs);
  if (check.getUTCFullYear() !== year || check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day) {
    throw invalid(value);
  }
  return { name: "expires", atMs };
}

/** Canonical text: whole seconds omit the fraction. */
export function formatExpires(c: ExpiresCaveat): string {
  const iso = new Date(c.atMs).toISOString();
  return iso.endsWith(".000Z") ? iso.slice(0, -5) + "Z" : iso;
}

/** An `expires` caveat `seconds` from now (the CLI takes a duration, as the 2015 proposal did). */
export function expiresAfter(now: Date, seconds: number): ExpiresCaveat {
  if (!Number.isSafeInteger(seconds) || seconds <= 0) {
    throw new AgentError("ERR_MACAROON_CAVEAT", "expiry must be a positive whole number of seconds");
  }
  const atMs = now.getTime() + seconds * 1000;
  if (!Number.isFinite(atMs) || atMs > LATEST_MS) {
    throw new AgentError("ERR_MACAROON_CAVEAT", "expiry is out of range");
  }
  return { name: "expires", atMs };
}
