/** apikeys.json: 0600, written atomically, every field checked on load, errors that name only the file. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import {
  type ApiKeySet,
  createApiKey,
  emptyApiKeySet,
  loadApiKeys,
  MAX_API_KEYS,
  revokeApiKey,
  saveApiKeys,
} from "../../../src/apikey/index.ts";
import type { FileSystem } from "../../../src/ports.ts";
import { nodeFileSystem } from "../../../src/runtime/node-file-system.ts";
import { fixedClock, freshRandom, NOW, removeTempDirs, tempLayout } from "./helpers.ts";

afterAll(removeTempDirs);

function sampleSet() {
  const random = freshRandom();
  const a = createApiKey(emptyApiKeySet(), { user: "alice", name: "laptop" }, random, fixedClock);
  const b = createApiKey(
    a.set,
    { user: "ci-bot", expiresAt: new Date(NOW.getTime() + 3_600_000) },
    random,
    fixedClock,
  );
  const revoked = revokeApiKey(b.set, a.record.id, fixedClock).set;
  return { set: revoked, keys: [a.key, b.key] };
}

async function writeRaw(text: string) {
  const layout = await tempLayout();
  mkdirSync(layout.root, { recursive: true });
  writeFileSync(layout.apiKeys, text);
  return layout;
}

async function expectCorrupt(text: string, detail?: string) {
  const layout = await writeRaw(text);
  const err = await loadApiKeys(nodeFileSystem, layout).then(() => undefined, (e: unknown) => e);
  expect(err).toMatchObject({
    code: "ERR_STATE_CORRUPT",
    message: `API key file is corrupt: ${layout.apiKeys}`,
  });
  if (detail !== undefined) expect((err as { detail: string }).detail).toContain(detail);
  return err as { message: string; detail: string };
}

function entry(overrides: Record<string, unknown> = {}) {
  return {
    id: "0123456789ab",
    prefix: "agt_AbCdEf12",
    digest: "ab".repeat(32),
    user: "alice",
    name: "",
    createdAt: "2026-01-02T03:04:05.000Z",
    ...overrides,
  };
}
const file = (...keys: unknown[]) => JSON.stringify({ version: 1, keys });

describe("apikeys.json", () => {
  test("a missing file is no keys", async () => {
    expect(await loadApiKeys(nodeFileSystem, await tempLayout())).toEqual({ keys: [] });
  });

  test("saves and loads every field; the file holds digests, never a key; mode 0600", async () => {
    const layout = await tempLayout();
    const { set, keys } = sampleSet();
    await saveApiKeys(nodeFileSystem, layout, set);
    expect(await loadApiKeys(nodeFileSystem, layout)).toEqual(set);
    expect(statSync(layout.apiKeys).mode & 0o777).toBe(0o600);
    expect(statSync(layout.root).mode & 0o777).toBe(0o700);
    const text = readFileSync(layout.apiKeys, "utf8");
    for (const key of keys) {
      expect(text).not.toContain(key);
      expect(text).not.toContain(key.slice(12)); // not even the part after the display prefix
    }
    const raw = JSON.parse(text) as { version: number; keys: Record<string, unknown>[] };
    expect(raw.version).toBe(1);
    expect(Object.keys(raw.keys[0]!)).toEqual([
      "id",
      "prefix",
      "digest",
      "user",
      "name",
      "createdAt",
      "revokedAt",
    ]);
    expect(raw.keys[1]).toHaveProperty("expiresAt");
  });

  test("writes through writeAtomic (temp file and rename) and leaves no temp file behind", async () => {
    const layout = await tempLayout();
    const calls: string[] = [];
    const spy: FileSystem = {
      ...nodeFileSystem,
      writeAtomic: (path, data, mode) => {
        calls.push(`writeAtomic ${path} ${mode.toString(8)}`);
        return nodeFileSystem.writeAtomic(path, data, mode);
      },
      writeExclusive: () => Promise.reject(new Error("not atomic")),
      appendLine: () => Promise.reject(new Error("not atomic")),
    };
    await saveApiKeys(spy, layout, sampleSet().set);
    await saveApiKeys(spy, layout, sampleSet().set);
    expect(calls).toEqual([`writeAtomic ${layout.apiKeys} 600`, `writeAtomic ${layout.apiKeys} 600`]);
    expect(readdirSync(layout.root)).toEqual(["apikeys.json"]);
  });

  test("a half-written file is corrupt, and the error names the file but shows none of it", async () => {
    const layout = await tempLayout();
    await saveApiKeys(nodeFileSystem, layout, sampleSet().set);
    const text = readFileSync(layout.apiKeys, "utf8");
    const err = await expectCorrupt(text.slice(0, text.length - 30), "not JSON");
    const digest = (JSON.parse(text) as { keys: { digest: string }[] }).keys[0]!.digest;
    expect(`${err.message} ${err.detail}`).not.toContain(digest);
    expect(`${err.message} ${err.detail}`).not.toContain("alice");
  });

  test("refuses an unknown version or shape", async () => {
    await expectCorrupt("[]", "unknown version");
    await expectCorrupt(JSON.stringify({ version: 2, keys: [] }), "unknown version");
    await expectCorrupt(JSON.stringify({ version: 1 }), "unknown version");
    await expectCorrupt(JSON.stringify({ version: 1, keys: {} }), "unknown version");
  });

  test("checks every field of every key, naming the key's position and the field, never the value", async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ id: "XYZ" }, "key 2: bad id"],
      [{ id: 7 }, "key 2: bad id"],
      [{ prefix: "agt_short" }, "key 2: bad prefix"],
      [{ prefix: "ghp_AbCdEf12" }, "key 2: bad prefix"],
      [{ digest: "AB".repeat(32) }, "key 2: bad digest"],
      [{ digest: "ab".repeat(31) }, "key 2: bad digest"],
      [{ user: "-secret-user" }, "key 2: bad user"],
      [{ user: "" }, "key 2: bad user"],
      [{ name: "tab\there" }, "key 2: bad name"],
      [{ name: "x".repeat(65) }, "key 2: bad name"],
      [{ createdAt: "yesterday" }, "key 2: bad createdAt"],
      [{ expiresAt: "2026-13-01T00:00:00Z" }, "key 2: bad expiresAt"],
      [{ revokedAt: null }, "key 2: bad revokedAt"],
      [{ lastUsedAt: 5 }, "key 2: bad lastUsedAt"],
      [{ revokedat: "2026-01-02T03:04:05Z" }, "key 2: unknown field"],
      [{ key: "agt_..." }, "key 2: unknown field"],
    ];
    for (const [overrides, detail] of cases) {
      const err = await expectCorrupt(
        file(entry({ id: "aaaaaaaaaaaa", digest: "cd".repeat(32) }), entry(overrides)),
        detail,
      );
      expect(err.detail).not.toContain("secret-user");
    }
    await expectCorrupt(file(entry(), "not an object"), "key 2: not an object");
  });

  test("refuses duplicate ids and duplicate digests", async () => {
    await expectCorrupt(file(entry(), entry({ digest: "cd".repeat(32) })), "duplicate id");
    await expectCorrupt(file(entry(), entry({ id: "aaaaaaaaaaaa" })), "duplicate digest");
  });

  test(`refuses a file of more than ${MAX_API_KEYS} keys before reading any of them`, async () => {
    const many = `{"version":1,"keys":[${Array(MAX_API_KEYS + 1).fill("{}").join(",")}]}`;
    await expectCorrupt(many, `more than ${MAX_API_KEYS} keys`);
  });

  test("accepts a hand-written file with every optional time", async () => {
    const layout = await writeRaw(
      file(entry({
        expiresAt: "2027-01-01T00:00:00Z",
        revokedAt: "2026-06-01T00:00:00.5Z",
        lastUsedAt: "2026-05-01T00:00:00Z",
      })),
    );
    const set: ApiKeySet = await loadApiKeys(nodeFileSystem, layout);
    expect(set.keys[0]).toMatchObject({ revokedAt: "2026-06-01T00:00:00.5Z", name: "" });
  });
});
