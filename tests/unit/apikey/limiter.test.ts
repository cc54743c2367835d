/** FailedAttemptLimiter: a token bucket of failed attempts per client address, bounded in memory. */
import { describe, expect, test } from "bun:test";
import { DEFAULT_FAILED_ATTEMPT_LIMITS, FailedAttemptLimiter } from "../../../src/apikey/index.ts";
import { manualClock } from "./helpers.ts";

const WINDOW = 60_000;

function limiter(maxFailures = 5, maxAddresses = 100) {
  const clock = manualClock();
  return { clock, limiter: new FailedAttemptLimiter(clock, { maxFailures, windowMs: WINDOW, maxAddresses }) };
}

describe("FailedAttemptLimiter", () => {
  test("allows N failures, then limits the address (and only that address)", () => {
    const { limiter: l } = limiter(5);
    for (let i = 1; i <= 4; i++) {
      expect(l.recordFailure("10.0.0.1")).toBe(false);
      expect(l.isLimited("10.0.0.1")).toBe(false);
    }
    expect(l.recordFailure("10.0.0.1")).toBe(true);
    expect(l.isLimited("10.0.0.1")).toBe(true);
    expect(l.retryAfterSeconds("10.0.0.1")).toBe(12); // one attempt back every 60 s / 5
    expect(l.isLimited("10.0.0.2")).toBe(false);
    expect(l.retryAfterSeconds("10.0.0.2")).toBe(0);
  });

  test("gives one attempt back every window / N, and everything back after a whole window", () => {
    const { clock, limiter: l } = limiter(5);
    for (let i = 0; i < 5; i++) l.recordFailure("a");
    clock.advance(WINDOW / 5 - 1);
    expect(l.isLimited("a")).toBe(true);
    clock.advance(1);
    expect(l.isLimited("a")).toBe(false);
    expect(l.recordFailure("a")).toBe(true); // the one attempt it got back is used up
    clock.advance(WINDOW);
    expect(l.isLimited("a")).toBe(false);
    expect(l.size).toBe(0); // a full bucket is forgotten
    for (let i = 0; i < 4; i++) expect(l.recordFailure("a")).toBe(false);
    expect(l.recordFailure("a")).toBe(true);
  });

  test("failures while limited do not push recovery further than one window", () => {
    const { clock, limiter: l } = limiter(3);
    for (let i = 0; i < 50; i++) l.recordFailure("a");
    clock.advance(WINDOW);
    expect(l.isLimited("a")).toBe(false);
  });

  test("a clock that steps back counts as no time passing", () => {
    const { clock, limiter: l } = limiter(2);
    l.recordFailure("a");
    l.recordFailure("a");
    clock.advance(-10 * WINDOW);
    expect(l.isLimited("a")).toBe(true);
    clock.advance(10 * WINDOW + WINDOW);
    expect(l.isLimited("a")).toBe(false);
  });

  test("asking whether an address is limited remembers nothing about it", () => {
    const { limiter: l } = limiter();
    for (let i = 0; i < 1000; i++) expect(l.isLimited(`192.0.2.${i}`)).toBe(false);
    expect(l.size).toBe(0);
  });

  test("memory stays bounded with many addresses: the least recently failed are forgotten first", () => {
    const { limiter: l } = limiter(1, 100);
    l.recordFailure("first");
    for (let i = 0; i < 99; i++) l.recordFailure(`10.1.0.${i}`);
    expect(l.size).toBe(100);
    l.recordFailure("first"); // fails again: now the most recent
    l.recordFailure("newcomer"); // one too many: the least recently failed (10.1.0.0) goes
    expect(l.size).toBe(100);
    expect(l.isLimited("first")).toBe(true);
    expect(l.isLimited("10.1.0.0")).toBe(false);
    expect(l.isLimited("10.1.0.1")).toBe(true);
    for (let i = 0; i < 10_000; i++) {
      l.recordFailure(`2001:db8::${i.toString(16)}`);
      expect(l.size).toBeLessThanOrEqual(100);
    }
    expect(l.isLimited("2001:db8::270f")).toBe(true);
    expect(l.isLimited("first")).toBe(false); // forgotten after 10,000 newer ones
  });

  test("defaults: 10 failures per minute, 10,000 addresses; bad limits are refused", () => {
    expect(DEFAULT_FAILED_ATTEMPT_LIMITS).toEqual({
      maxFailures: 10,
      windowMs: 60_000,
      maxAddresses: 10_000,
    });
    const l = new FailedAttemptLimiter(manualClock());
    for (let i = 0; i < 9; i++) expect(l.recordFailure("a")).toBe(false);
    expect(l.recordFailure("a")).toBe(true);
    expect(() => new FailedAttemptLimiter(manualClock(), { maxFailures: 0 })).toThrow(RangeError);
    expect(() => new FailedAttemptLimiter(manualClock(), { windowMs: 1.5 })).toThrow(RangeError);
    expect(() => new FailedAttemptLimiter(manualClock(), { maxAddresses: -1 })).toThrow(RangeError);
  });
});
