/** Certificate lifetimes: whole days, backdated a few minutes so a slightly slow client clock still accepts. */
import { AgentError } from "../errors.ts";

export const DAY_MS = 86_400_000;
/** How far notBefore (and a CRL's thisUpdate) is set in the past, for clock skew between hosts. */
export const CLOCK_SKEW_MS = 5 * 60_000;
export const MAX_DAYS = 36_500;
export const DEFAULT_CA_DAYS = 3650;
export const DEFAULT_LEAF_DAYS = 365;
/** A CRL stays valid this long; `agent ca update-crl` re-signs it before then. */
export const DEFAULT_CRL_DAYS = 365;

/** A whole number of days in 1..MAX_DAYS; `fallback` when the option was not given. */
export function parseDays(value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  const days = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof days !== "number" || !Number.isInteger(days) || days < 1 || days > MAX_DAYS) {
    throw new AgentError("ERR_USAGE", `--days must be a whole number from 1 to ${MAX_DAYS}`, String(value));
  }
  return days;
}

/** X.509 times have one-second resolution: truncate so the index and the certificate agree exactly. */
export function wholeSeconds(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}

export interface Validity {
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export function validityFor(now: Date, days: number): Validity {
  const start = wholeSeconds(now).getTime();
  return { notBefore: new Date(start - CLOCK_SKEW_MS), notAfter: new Date(start + days * DAY_MS) };
}

/** The lifetime, in whole days, of an existing certificate (for renewals that keep it). */
export function lifetimeDays(notBefore: Date, notAfter: Date): number {
  return Math.min(MAX_DAYS, Math.max(1, Math.round((notAfter.getTime() - notBefore.getTime()) / DAY_MS)));
}
