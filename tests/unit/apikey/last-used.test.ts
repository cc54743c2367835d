/** Last-used times: kept in memory per request, merged into the records for one batched write. */
import { describe, expect, test } from "bun:test";
import {
  type ApiKeySet,
  createApiKey,
  emptyApiKeySet,
  LastUsedTimes,
  mergeLastUsed,
} from "../../../src/apikey/index.ts";
import { fixedClock, freshRandom } from "./helpers.ts";

function twoKeys(): ApiKeySet {
  const random = freshRandom();
  const a = createApiKey(emptyApiKeySet(), { user: "alice" }, random, fixedClock);
  return createApiKey(a.set, { user: "bob" }, random, fixedClock).set;
}

const T1 = new Date("2026-01-02T10:00:00.000Z");
const T2 = new Date("2026-01-02T11:00:00.000Z");

describe("LastUsedTimes", () => {
  test("keeps the latest use per key; take() hands them over once and forgets them", () => {
    const times = new LastUsedTimes();
    times.record("aaaaaaaaaaaa", T2);
    times.record("aaaaaaaaaaaa", T1); // an older use (a slow request) does not go back in time
    times.record("bbbbbbbbbbbb", T1);
    expect(times.get("aaaaaaaaaaaa")).toBe(T2.toISOString());
    const batch = times.take();
    expect([...batch]).toEqual([["aaaaaaaaaaaa", T2.toISOString()], ["bbbbbbbbbbbb", T1.toISOString()]]);
    expect(times.size).toBe(0);
    expect(times.take().size).toBe(0);
  });

  test("restore() gives back a batch whose write failed, without going back in time", () => {
    const times = new LastUsedTimes();
    times.record("aaaaaaaaaaaa", T1);
    const batch = times.take();
    times.record("aaaaaaaaaaaa", T2);
    times.restore(batch);
    expect(times.get("aaaaaaaaaaaa")).toBe(T2.toISOString());
  });

  test("remembers at most its limit of ids", () => {
    const times = new LastUsedTimes(3);
    for (let i = 0; i < 10; i++) times.record(`id${i}`, T1);
    expect(times.size).toBe(3);
    times.record("id0", T2); // a known id still moves forward
    expect(times.get("id0")).toBe(T2.toISOString());
  });
});

describe("mergeLastUsed", () => {
  test("moves lastUsedAt forward for the keys used, and leaves the others alone", () => {
    const set = twoKeys();
    const [alice, bob] = set.keys;
    const merged = mergeLastUsed(set, new Map([[alice!.id, T1.toISOString()]]));
    expect(merged.keys[0]).toEqual({ ...alice!, lastUsedAt: T1.toISOString() });
    expect(merged.keys[1]).toBe(bob!);
    const later = mergeLastUsed(merged, new Map([[alice!.id, T2.toISOString()]]));
    expect(later.keys[0]!.lastUsedAt).toBe(T2.toISOString());
  });

  test("returns the same set when nothing is newer (so no write is needed)", () => {
    const set = twoKeys();
    const id = set.keys[0]!.id;
    const merged = mergeLastUsed(set, new Map([[id, T2.toISOString()]]));
    expect(mergeLastUsed(merged, new Map([[id, T1.toISOString()]]))).toBe(merged);
    expect(mergeLastUsed(set, new Map([["ffffffffffff", T1.toISOString()]]))).toBe(set);
    expect(mergeLastUsed(set, new Map([[id, "not a time"]]))).toBe(set);
    expect(mergeLastUsed(set, new Map())).toBe(set);
  });

  test("keeps a revocation made since the uses were recorded (it merges into the set it is given)", () => {
    const set = twoKeys();
    const id = set.keys[0]!.id;
    const revoked = { keys: set.keys.map((k) => (k.id === id ? { ...k, revokedAt: T1.toISOString() } : k)) };
    const merged = mergeLastUsed(revoked, new Map([[id, T2.toISOString()]]));
    expect(merged.keys[0]).toMatchObject({ revokedAt: T1.toISOString(), lastUsedAt: T2.toISOString() });
  });
});
