/** `agent apikey create|list|revoke`: the key printed once on stdout, never on stderr, never listed. */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { apikeyCommands } from "../../../src/cli/apikey.ts";
import { apiKeyDigest, isWellFormedApiKey, loadApiKeys, verifyApiKey } from "../../../src/apikey/index.ts";
import { nodeFileSystem } from "../../../src/runtime/node-file-system.ts";
import { stateLayout } from "../../../src/store/layout.ts";
import type { RandomBytes } from "../../../src/ports.ts";
import { FIXED_TIME, removeTempDirs, runAgent, tempDir } from "../cli/context.ts";
import { freshRandom } from "./helpers.ts";

afterAll(removeTempDirs);

async function env() {
  const stateDir = join(await tempDir(), "state");
  const run = (args: string[], options: { random?: RandomBytes; at?: Date } = {}) =>
    runAgent(["apikey", ...args, "--state-dir", stateDir], [apikeyCommands], {
      random: options.random ?? freshRandom(),
      env: { AGENT_SOCKET: "/nonexistent/agent.sock" },
      ...(options.at === undefined ? {} : { clock: () => new Date(options.at!.getTime()) }),
    });
  return { stateDir, run, file: join(stateDir, "apikeys.json") };
}

/** Creates a key and returns it with the run. */
async function created(e: Awaited<ReturnType<typeof env>>, args: string[] = ["alice"], random?: RandomBytes) {
  const r = await e.run(["create", ...args], random === undefined ? {} : { random });
  expect(r.code).toBe(0);
  return { ...r, key: r.out.trimEnd() };
}

describe("agent apikey create", () => {
  test("prints the key alone on stdout, once, and never on stderr; the file keeps only its digest", async () => {
    const e = await env();
    const r = await created(e, ["alice", "--name", "laptop"]);
    expect(r.out).toBe(`${r.key}\n`);
    expect(isWellFormedApiKey(r.key)).toBe(true);
    expect(r.err).not.toContain(r.key);
    expect(r.err).not.toContain(r.key.slice(12));
    expect(r.err).toContain("export AGENT_USER=alice\n");
    expect(r.err).toContain('export AGENT_APIKEY="$KEY"\n');
    expect(r.err).toContain(`(${r.key.slice(0, 12)}) of alice (name "laptop"), never expiring.`);
    expect(r.err).toContain("No running agent on /nonexistent/agent.sock confirmed it");
    const text = readFileSync(e.file, "utf8");
    expect(text).not.toContain(r.key.slice(12));
    expect(text).toContain(apiKeyDigest(r.key));
    expect(statSync(e.file).mode & 0o777).toBe(0o600);
    const set = await loadApiKeys(nodeFileSystem, stateLayout(e.stateDir));
    expect(verifyApiKey(set, "alice", r.key, FIXED_TIME)).toMatchObject({ ok: true });
  });

  test("--expires takes seconds or 90m, 12h, 30d and writes an absolute UTC time", async () => {
    const e = await env();
    const cases: [string, number][] = [["3600", 3600], ["90m", 5400], ["12h", 43_200], ["30d", 2_592_000], [
      "45s",
      45,
    ]];
    for (const [text] of cases) await created(e, ["alice", "--expires", text]);
    const set = await loadApiKeys(nodeFileSystem, stateLayout(e.stateDir));
    expect(set.keys.map((k) => Date.parse(k.expiresAt!) - FIXED_TIME.getTime())).toEqual(
      cases.map(([, s]) => s * 1000),
    );
    expect(set.keys.every((k) => k.createdAt === FIXED_TIME.toISOString())).toBe(true);
  });

  test("refuses bad durations, users and labels as usage errors, writing nothing", async () => {
    const e = await env();
    for (
      const args of [
        ["alice", "--expires", "0"],
        ["alice", "--expires", "-5"],
        ["alice", "--expires", "1.5h"],
        ["alice", "--expires", "3651d"],
        ["alice", "--expires", "2w"],
        ["alice", "--expires", "12 h"],
        ["alice", "--expires", "1h", "--expires", "2h"],
        ["alice", "--name", ""],
        ["alice", "--name", "tab\there"],
        ["-alice"],
        ["bad user"],
        [],
      ]
    ) {
      const r = await e.run(["create", ...args]);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.out).toBe("");
    }
    expect(() => statSync(e.file)).toThrow();
  });

  test("refuses an API key given as the user, without printing it back", async () => {
    const e = await env();
    const { key } = await created(e);
    const r = await e.run(["create", key]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("this is an API key, not a user name");
    expect(r.out + r.err).not.toContain(key.slice(12));
  });

  test("a corrupt apikeys.json is named, not shown, and not overwritten", async () => {
    const e = await env();
    await created(e);
    const text = readFileSync(e.file, "utf8");
    writeFileSync(e.file, text.slice(0, -20));
    const r = await e.run(["create", "bob"]);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`agent: API key file is corrupt: ${e.file} [ERR_STATE_CORRUPT]\n`);
    expect(readFileSync(e.file, "utf8")).toBe(text.slice(0, -20));
  });
});

describe("agent apikey list", () => {
  test("shows id, prefix, user, name, times and status: never the key or its digest", async () => {
    const e = await env();
    const a = await created(e, ["alice", "--name", "laptop", "--expires", "30d"]);
    const b = await created(e, ["ci-bot"]);
    const r = await e.run(["list"]);
    expect(r.code).toBe(0);
    const set = await loadApiKeys(nodeFileSystem, stateLayout(e.stateDir));
    const [ka, kb] = set.keys;
    expect(r.out).toBe(
      [
        "ID            PREFIX        USER    NAME    CREATED               EXPIRES               STATUS",
        `${ka!.id}  ${ka!.prefix}  alice   laptop  2026-01-02T03:04:05Z  2026-02-01T03:04:05Z  active`,
        `${kb!.id}  ${kb!.prefix}  ci-bot  -       2026-01-02T03:04:05Z  never                 active`,
        "",
      ].join("\n"),
    );
    for (const k of [a.key, b.key]) expect(r.out + r.err).not.toContain(k.slice(12));
    for (const k of set.keys) expect(r.out).not.toContain(k.digest);
  });

  test("--json has every field but the digest, and the status as of now", async () => {
    const e = await env();
    await created(e, ["alice", "--expires", "60"]);
    const later = new Date(FIXED_TIME.getTime() + 61_000);
    const r = await e.run(["list", "--json"], { at: later });
    const rows = JSON.parse(r.out) as Record<string, unknown>[];
    expect(rows).toEqual([{
      id: expect.stringMatching(/^[0-9a-f]{12}$/),
      prefix: expect.stringMatching(/^agt_[0-9A-Za-z]{8}$/),
      user: "alice",
      name: "",
      status: "expired",
      createdAt: FIXED_TIME.toISOString(),
      expiresAt: new Date(FIXED_TIME.getTime() + 60_000).toISOString(),
      revokedAt: null,
      lastUsedAt: null,
    }]);
  });

  test("with no keys says so on stderr and prints nothing (or [] with --json)", async () => {
    const e = await env();
    const r = await e.run(["list"]);
    expect(r).toMatchObject({ code: 0, out: "" });
    expect(r.err).toContain("No API keys in");
    expect(JSON.parse((await e.run(["list", "--json"])).out)).toEqual([]);
  });
});

describe("agent apikey revoke", () => {
  test("revokes by id: the key stays listed as revoked and no longer verifies", async () => {
    const e = await env();
    const a = await created(e);
    const b = await created(e, ["bob"]);
    const set = await loadApiKeys(nodeFileSystem, stateLayout(e.stateDir));
    const id = set.keys[0]!.id;
    const r = await e.run(["revoke", id]);
    expect(r.code).toBe(0);
    expect(r.err).toContain(`Revoked API key ${id} (${a.key.slice(0, 12)}) of alice`);
    expect(r.err).toContain("No running agent on /nonexistent/agent.sock confirmed it");
    const after = await loadApiKeys(nodeFileSystem, stateLayout(e.stateDir));
    expect(verifyApiKey(after, "alice", a.key, FIXED_TIME)).toMatchObject({ ok: false, failure: "revoked" });
    expect(verifyApiKey(after, "bob", b.key, FIXED_TIME).ok).toBe(true);
    const list = await e.run(["list"]);
    expect(list.out.split("\n")[1]).toMatch(/ revoked$/);
    expect(list.out.split("\n")[2]).toMatch(/ active$/);
  });

  test("revokes by prefix, with or without agt_, and by the full key without printing it", async () => {
    const e = await env();
    const a = await created(e);
    const b = await created(e, ["bob"]);
    const c = await created(e, ["carol"]);
    expect((await e.run(["revoke", a.key.slice(0, 12)])).code).toBe(0);
    expect((await e.run(["revoke", b.key.slice(4, 12)])).code).toBe(0);
    const byKey = await e.run(["revoke", c.key]);
    expect(byKey.code).toBe(0);
    expect(byKey.out + byKey.err).not.toContain(c.key.slice(12));
    const set = await loadApiKeys(nodeFileSystem, stateLayout(e.stateDir));
    expect(set.keys.map((k) => k.revokedAt)).toEqual(Array(3).fill(FIXED_TIME.toISOString()));
  });

  test("revoking twice says so and succeeds; the first revocation time is kept", async () => {
    const e = await env();
    await created(e);
    const id = (await loadApiKeys(nodeFileSystem, stateLayout(e.stateDir))).keys[0]!.id;
    await e.run(["revoke", id]);
    const again = await e.run(["revoke", id], { at: new Date(FIXED_TIME.getTime() + 5000) });
    expect(again.code).toBe(0);
    expect(again.err).toContain(`was already revoked (${FIXED_TIME.toISOString()})`);
  });

  test("an ambiguous prefix is refused, listing the ids and nothing secret", async () => {
    const e = await env();
    // Two keys whose random parts start alike share a display prefix.
    const bytes = (seed: number) => (n: number) => {
      const b = new Uint8Array(n).fill(0x42);
      b[n - 1] = seed;
      return b;
    };
    const a = await created(e, ["alice"], bytes(1));
    const b = await created(e, ["bob"], bytes(2));
    expect(a.key.slice(0, 12)).toBe(b.key.slice(0, 12));
    const set = await loadApiKeys(nodeFileSystem, stateLayout(e.stateDir));
    const r = await e.run(["revoke", a.key.slice(0, 12)]);
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      `agent: 2 API keys have this prefix (ids ${set.keys[0]!.id}, ${
        set.keys[1]!.id
      }): give the id [ERR_APIKEY_AMBIGUOUS]\n`,
    );
    for (const k of [a.key, b.key]) expect(r.err).not.toContain(k.slice(12));
    for (const k of set.keys) expect(r.err).not.toContain(k.digest);
    expect((await e.run(["revoke", set.keys[1]!.id])).code).toBe(0);
  });

  test("an unknown id, prefix or key is refused without repeating it", async () => {
    const e = await env();
    const { key } = await created(e);
    const typo = key.slice(0, 40) + (key[40] === "a" ? "b" : "a") + key.slice(41);
    for (const target of ["ffffffffffff", "agt_00000000", typo]) {
      const r = await e.run(["revoke", target]);
      expect(r.code).toBe(1);
      expect(r.err).toContain("[ERR_APIKEY_NOT_FOUND]");
      expect(r.err).not.toContain(target);
    }
    expect((await e.run(["revoke"])).code).toBe(2);
  });

  test("help names every command and says where the keys live", async () => {
    const e = await env();
    const help = await runAgent(["apikey", "--help"], [apikeyCommands]);
    expect(help.code).toBe(0);
    for (const word of ["create <user>", "list", "revoke <target>", "apikeys.json", "--state-dir"]) {
      expect(help.out).toContain(word);
    }
    const create = await e.run(["create", "--help"]);
    expect(create.out).toContain("--expires <duration>");
    expect(create.out).toContain("KEY=$(agent apikey create alice");
  });
});
