/** Creating, finding and revoking keys in a set (pure: randomness and time passed in). */
import { describe, expect, test } from "bun:test";
import {
  apiKeyDigest,
  type ApiKeyRecord,
  apiKeyStatus,
  createApiKey,
  emptyApiKeySet,
  findApiKey,
  formatApiKey,
  MAX_API_KEYS,
  revokeApiKey,
} from "../../../src/apikey/index.ts";
import type { RandomBytes } from "../../../src/ports.ts";
import { fixedClock, freshRandom, NOW } from "./helpers.ts";

describe("createApiKey", () => {
  test("returns the key once and keeps only its digest, prefix, owner, label and times", () => {
    const created = createApiKey(
      emptyApiKeySet(),
      { user: "alice", name: "laptop" },
      freshRandom(),
      fixedClock,
    );
    expect(created.record).toEqual({
      id: expect.stringMatching(/^[0-9a-f]{12}$/),
      prefix: created.key.slice(0, 12),
      digest: apiKeyDigest(created.key),
      user: "alice",
      name: "laptop",
      createdAt: NOW.toISOString(),
    });
    expect(created.set.keys).toEqual([created.record]);
    expect(JSON.stringify(created.set)).not.toContain(created.key.slice(12));
  });

  test("refuses a bad user name, a bad label and an expiry that is not in the future", () => {
    const make = (request: Parameters<typeof createApiKey>[1]) => () =>
      createApiKey(emptyApiKeySet(), request, freshRandom(), fixedClock);
    expect(make({ user: "-rf" })).toThrow(expect.objectContaining({ code: "ERR_CA_NAME" }));
    expect(make({ user: "" })).toThrow(expect.objectContaining({ code: "ERR_CA_NAME" }));
    expect(make({ user: "alice", name: "new\nline" })).toThrow(
      expect.objectContaining({ code: "ERR_USAGE" }),
    );
    expect(make({ user: "alice", name: "x".repeat(65) })).toThrow(
      expect.objectContaining({ code: "ERR_USAGE" }),
    );
    expect(make({ user: "alice", expiresAt: NOW })).toThrow(expect.objectContaining({ code: "ERR_USAGE" }));
  });

  test(`refuses a key beyond ${MAX_API_KEYS} (revoked keys count)`, () => {
    const record: ApiKeyRecord = {
      id: "0123456789ab",
      prefix: "agt_AbCdEf12",
      digest: "ab".repeat(32),
      user: "alice",
      name: "",
      createdAt: NOW.toISOString(),
      revokedAt: NOW.toISOString(),
    };
    const full = { keys: Array<ApiKeyRecord>(MAX_API_KEYS).fill(record) };
    expect(() => createApiKey(full, { user: "alice" }, freshRandom(), fixedClock)).toThrow(
      expect.objectContaining({ code: "ERR_APIKEY_LIMIT" }),
    );
  });

  test("draws again when the random source repeats an id or a key, and gives up on one that always does", () => {
    const stuck: RandomBytes = (n) => new Uint8Array(n).fill(7);
    const first = createApiKey(emptyApiKeySet(), { user: "alice" }, stuck, fixedClock);
    expect(() => createApiKey(first.set, { user: "alice" }, stuck, fixedClock)).toThrow(
      expect.objectContaining({ code: "ERR_INTERNAL" }),
    );
    let calls = 0;
    const repeatsOnce: RandomBytes = (n) => new Uint8Array(n).fill(calls++ < 2 ? 7 : 9);
    const second = createApiKey(first.set, { user: "alice" }, repeatsOnce, fixedClock);
    expect(second.set.keys).toHaveLength(2);
    expect(second.record.id).not.toBe(first.record.id);
  });
});

describe("finding and revoking", () => {
  /** Two keys whose random parts start alike, so they share a display prefix. */
  function twins() {
    const bytes = (last: number) => {
      const b = new Uint8Array(32).fill(0x42);
      b[31] = last;
      return b;
    };
    const queue = [new Uint8Array(6).fill(1), bytes(1), new Uint8Array(6).fill(2), bytes(2)];
    const random: RandomBytes = () => queue.shift()!;
    const a = createApiKey(emptyApiKeySet(), { user: "alice" }, random, fixedClock);
    const b = createApiKey(a.set, { user: "bob" }, random, fixedClock);
    expect(a.record.prefix).toBe(b.record.prefix);
    expect(formatApiKey(bytes(1))).toBe(a.key);
    return { set: b.set, a, b };
  }

  test("finds a key by id, by prefix with or without agt_, and by the full key", () => {
    const random = freshRandom();
    const a = createApiKey(emptyApiKeySet(), { user: "alice" }, random, fixedClock);
    const { set, record } = createApiKey(a.set, { user: "bob" }, random, fixedClock);
    expect(findApiKey(set, record.id)).toBe(record);
    expect(findApiKey(set, record.prefix)).toBe(record);
    expect(findApiKey(set, record.prefix.slice(4))).toBe(record);
    expect(findApiKey(set, a.key)).toBe(set.keys[0]!);
  });

  test("an unknown target is not found, and the error never repeats it", () => {
    const { set, key } = createApiKey(emptyApiKeySet(), { user: "alice" }, freshRandom(), fixedClock);
    const typo = key.slice(0, -1) + (key.endsWith("0") ? "1" : "0");
    const other = createApiKey(emptyApiKeySet(), { user: "alice" }, freshRandom(), fixedClock).key;
    for (const target of ["ffffffffffff", "agt_zzzzzzzz", "", typo, other, key.slice(0, 30)]) {
      let err: unknown;
      try {
        findApiKey(set, target);
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code: "ERR_APIKEY_NOT_FOUND" });
      if (target.length > 0) expect((err as Error).message).not.toContain(target);
    }
  });

  test("a prefix two keys share is ambiguous: the error lists their ids (nothing secret) and asks for one", () => {
    const { set, a, b } = twins();
    expect(() => findApiKey(set, a.record.prefix)).toThrow(
      expect.objectContaining({
        code: "ERR_APIKEY_AMBIGUOUS",
        message: `2 API keys have this prefix (ids ${a.record.id}, ${b.record.id}): give the id`,
      }),
    );
    expect(findApiKey(set, b.record.id)).toBe(b.record);
    expect(findApiKey(set, b.key)).toBe(b.record);
  });

  test("revoking marks the key revoked, keeps it listed, and a second time changes nothing", () => {
    const { set, record } = createApiKey(emptyApiKeySet(), { user: "alice" }, freshRandom(), fixedClock);
    const later = () => new Date(NOW.getTime() + 1000);
    const first = revokeApiKey(set, record.id, later);
    expect(first.already).toBe(false);
    expect(first.set.keys).toEqual([{ ...record, revokedAt: later().toISOString() }]);
    const again = revokeApiKey(first.set, record.id, () => new Date(NOW.getTime() + 5000));
    expect(again).toMatchObject({ already: true, set: first.set });
    expect(() => revokeApiKey(set, "ffffffffffff", later)).toThrow(
      expect.objectContaining({ code: "ERR_APIKEY_NOT_FOUND" }),
    );
  });

  test("status: revoked wins over expired; expired from the instant of expiry", () => {
    const expiresAt = new Date(NOW.getTime() + 1000);
    const { record } = createApiKey(
      emptyApiKeySet(),
      { user: "alice", expiresAt },
      freshRandom(),
      fixedClock,
    );
    expect(apiKeyStatus(record, NOW)).toBe("active");
    expect(apiKeyStatus(record, expiresAt)).toBe("expired");
    expect(apiKeyStatus({ ...record, revokedAt: NOW.toISOString() }, NOW)).toBe("revoked");
    expect(apiKeyStatus({ ...record, revokedAt: NOW.toISOString() }, expiresAt)).toBe("revoked");
  });
});
