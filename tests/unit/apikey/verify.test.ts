/** verifyApiKey: the format first, then one digest lookup, then owner, revocation and expiry. */
import { describe, expect, test } from "bun:test";
import {
  type ApiKeySet,
  createApiKey,
  emptyApiKeySet,
  revokeApiKey,
  verifyApiKey,
} from "../../../src/apikey/index.ts";
import { fixedClock, freshRandom, NOW } from "./helpers.ts";

const HOUR = 3_600_000;

function keys(...users: string[]) {
  const random = freshRandom();
  let set: ApiKeySet = emptyApiKeySet();
  const made: string[] = [];
  for (const user of users) {
    const created = createApiKey(set, { user, name: `${user}'s` }, random, fixedClock);
    set = created.set;
    made.push(created.key);
  }
  return { set, keys: made };
}

describe("verifyApiKey", () => {
  test("accepts a key with its own user and returns its record", () => {
    const { set, keys: [alice] } = keys("alice", "bob");
    const verdict = verifyApiKey(set, "alice", alice!, NOW);
    expect(verdict).toEqual({ ok: true, key: set.keys[0]! });
  });

  test("refuses a key presented with another user, even one that shares a prefix or differs in case", () => {
    const { set, keys: [alice, bob] } = keys("alice", "bob");
    for (const user of ["bob", "Alice", "alic", "alice2", "alice ", "", "alice\u0000"]) {
      expect(verifyApiKey(set, user, alice!, NOW)).toMatchObject({
        ok: false,
        failure: "wrong-user",
        keyId: set.keys[0]!.id,
      });
    }
    expect(verifyApiKey(set, "alice", bob!, NOW)).toMatchObject({ ok: false, failure: "wrong-user" });
  });

  test("refuses a well-formed key that is not in the set as unknown, without a key id", () => {
    const { set } = keys("alice");
    const { keys: [other] } = keys("alice");
    const verdict = verifyApiKey(set, "alice", other!, NOW);
    expect(verdict).toEqual({ ok: false, failure: "unknown", reason: "no such API key" });
    expect(verifyApiKey(emptyApiKeySet(), "alice", other!, NOW)).toMatchObject({ failure: "unknown" });
  });

  test("refuses malformed text before any lookup, naming the problem but never the text", () => {
    const { set, keys: [alice] } = keys("alice");
    const typo = alice!.slice(0, 30) + (alice![30] === "a" ? "b" : "a") + alice!.slice(31);
    const cases: [string, string][] = [
      [typo, "checksum"],
      [alice!.slice(0, -1), "length"],
      [alice!.toUpperCase(), "prefix"],
      ["", "prefix"],
      [`Basic ${alice}`, "prefix"],
      [alice!.slice(0, 20) + "+" + alice!.slice(21), "characters"],
    ];
    for (const [text, problem] of cases) {
      const verdict = verifyApiKey(set, "alice", text, NOW);
      expect(verdict).toEqual({
        ok: false,
        failure: "malformed",
        reason: `the API key is malformed (${problem})`,
      });
    }
  });

  test("refuses a revoked key (it stays in the set), and other keys of the user still work", () => {
    const { set, keys: [first, second] } = keys("alice", "alice");
    const revoked = revokeApiKey(set, set.keys[0]!.id, fixedClock).set;
    expect(revoked.keys).toHaveLength(2);
    expect(verifyApiKey(revoked, "alice", first!, NOW)).toMatchObject({
      ok: false,
      failure: "revoked",
      reason: "the API key is revoked",
      keyId: set.keys[0]!.id,
    });
    expect(verifyApiKey(revoked, "alice", second!, NOW).ok).toBe(true);
    // The set loaded before the revocation still accepts it: verification reads the set it is given.
    expect(verifyApiKey(set, "alice", first!, NOW).ok).toBe(true);
  });

  test("refuses an expired key from the instant it expires (valid while now < expiresAt)", () => {
    const expiresAt = new Date(NOW.getTime() + HOUR);
    const created = createApiKey(emptyApiKeySet(), { user: "alice", expiresAt }, freshRandom(), fixedClock);
    const at = (ms: number) => verifyApiKey(created.set, "alice", created.key, new Date(ms));
    expect(at(NOW.getTime()).ok).toBe(true);
    expect(at(expiresAt.getTime() - 1).ok).toBe(true);
    expect(at(expiresAt.getTime())).toMatchObject({
      ok: false,
      failure: "expired",
      keyId: created.record.id,
    });
    expect(at(expiresAt.getTime() + 365 * 24 * HOUR)).toMatchObject({ failure: "expired" });
  });

  test("a wrong user is reported before revocation or expiry (it says least about the key)", () => {
    const expiresAt = new Date(NOW.getTime() + HOUR);
    const created = createApiKey(emptyApiKeySet(), { user: "alice", expiresAt }, freshRandom(), fixedClock);
    const revoked = revokeApiKey(created.set, created.record.id, fixedClock).set;
    const later = new Date(expiresAt.getTime() + 1);
    expect(verifyApiKey(revoked, "bob", created.key, later)).toMatchObject({ failure: "wrong-user" });
    expect(verifyApiKey(revoked, "alice", created.key, later)).toMatchObject({ failure: "revoked" });
  });

  test("reasons never hold the key or the presented user", () => {
    const { set, keys: [alice] } = keys("alice");
    const verdicts = [
      verifyApiKey(set, "mallory-was-here", alice!, NOW),
      verifyApiKey(set, "alice", alice!.slice(0, -2) + "00", NOW),
    ];
    for (const v of verdicts) {
      const text = JSON.stringify(v);
      expect(text).not.toContain(alice!.slice(4, 40));
      expect(text).not.toContain("mallory");
    }
  });

  test("10,000 keys: each verifies through one digest lookup (the index is built once per set)", () => {
    const random = freshRandom();
    let set: ApiKeySet = emptyApiKeySet();
    const made: string[] = [];
    const records = [];
    for (let i = 0; i < 10_000; i++) {
      const created = createApiKey({ keys: [] }, { user: `user${i % 100}` }, random, fixedClock);
      records.push(created.record);
      made.push(created.key);
    }
    set = { keys: records };
    const first = performance.now();
    expect(verifyApiKey(set, "user0", made[0]!, NOW).ok).toBe(true);
    const indexed = performance.now() - first;
    const start = performance.now();
    for (let i = 0; i < 2_000; i++) {
      const j = (i * 7919) % 10_000;
      expect(verifyApiKey(set, `user${j % 100}`, made[j]!, NOW).ok).toBe(true);
    }
    const perCall = (performance.now() - start) / 2_000;
    // A linear scan over 10,000 digests would cost far more than this per call.
    expect(perCall).toBeLessThan(1);
    expect(indexed).toBeLessThan(2_000);
  });
});
