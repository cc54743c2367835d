/**
 * Failed attempts per client address, for the listener to answer 429 before it checks anything: a token
 * bucket per address. Each failure takes a token; an address with no token left is limited; tokens come back
 * steadily, the whole bucket within one window. So `maxFailures` failures in a row are allowed, then one more
 * every `windowMs / maxFailures`, and a window after the last failure the address is as good as new.
 * Successes neither take nor give tokens (a client holding one valid key cannot reset its count of guesses).
 *
 * Memory is bounded: at most `maxAddresses` addresses are remembered, the least recently failed forgotten
 * first, and an address whose bucket is full again is dropped. Time comes from the clock passed in; a clock
 * that steps back counts as no time passing.
 */
import type { Clock } from "../ports.ts";

export interface FailedAttemptLimits {
  /** Failures allowed in a burst (default 10). */
  readonly maxFailures: number;
  /** Time for an emptied bucket to fill again, in milliseconds (default 60 s). */
  readonly windowMs: number;
  /** Addresses remembered at most (default 10,000: a few megabytes at worst). */
  readonly maxAddresses: number;
}

export const DEFAULT_FAILED_ATTEMPT_LIMITS: FailedAttemptLimits = {
  maxFailures: 10,
  windowMs: 60_000,
  maxAddresses: 10_000,
};

interface Bucket {
  tokens: number;
  atMs: number;
}

export class FailedAttemptLimiter {
  readonly #clock: Clock;
  readonly #limits: FailedAttemptLimits;
  /** Map order is recency order: the first entry is the least recently failed address. */
  readonly #buckets = new Map<string, Bucket>();

  constructor(clock: Clock, limits: Partial<FailedAttemptLimits> = {}) {
    const all = { ...DEFAULT_FAILED_ATTEMPT_LIMITS, ...limits };
    for (const [name, value] of Object.entries(all)) {
      if (!Number.isSafeInteger(value) || value < 1) {
        throw new RangeError(`FailedAttemptLimiter: ${name} must be a positive integer`);
      }
    }
    this.#clock = clock;
    this.#limits = all;
  }

  /** Addresses currently remembered. */
  get size(): number {
    return this.#buckets.size;
  }

  /** True when `address` has no failed attempt left: answer 429 without looking at its credentials. */
  isLimited(address: string): boolean {
    return this.#tokens(address) < 1;
  }

  /** Counts one failed attempt of `address`; returns whether it is now limited. */
  recordFailure(address: string): boolean {
    const tokens = Math.max(0, this.#tokens(address) - 1);
    this.#buckets.delete(address);
    this.#buckets.set(address, { tokens, atMs: this.#now() });
    while (this.#buckets.size > this.#limits.maxAddresses) {
      const oldest = this.#buckets.keys().next();
      if (oldest.done) break;
      this.#buckets.delete(oldest.value);
    }
    return tokens < 1;
  }

  /** Whole seconds until `address` may try again (for Retry-After); 0 when it may now. */
  retryAfterSeconds(address: string): number {
    const tokens = this.#tokens(address);
    if (tokens >= 1) return 0;
    const { maxFailures, windowMs } = this.#limits;
    return Math.max(1, Math.ceil(((1 - tokens) * windowMs) / maxFailures / 1000));
  }

  #now(): number {
    return this.#clock().getTime();
  }

  /** Tokens of `address` now (refilled for the time passed); forgets a bucket that is full again. */
  #tokens(address: string): number {
    const bucket = this.#buckets.get(address);
    const { maxFailures, windowMs } = this.#limits;
    if (bucket === undefined) return maxFailures;
    const now = this.#now();
    const elapsed = Math.max(0, now - bucket.atMs);
    const tokens = Math.min(maxFailures, bucket.tokens + (elapsed * maxFailures) / windowMs);
    if (tokens >= maxFailures) {
      this.#buckets.delete(address);
      return maxFailures;
    }
    bucket.tokens = tokens;
    bucket.atMs = Math.max(bucket.atMs, now);
    return tokens;
  }
}
