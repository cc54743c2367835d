import { afterAll, describe, expect, test } from "bun:test";
import { statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isMacaroonGate } from "../../../src/decide/macaroon-gate.ts";
import { loadMacaroonGate } from "../../helpers/state-gates.ts";
import { decodeMacaroon, loadKeyring, parseIdentifier } from "../../../src/macaroon/index.ts";
import { nodeFileSystem } from "../../../src/runtime/node-file-system.ts";
import { extraGates } from "../../helpers/state-gates.ts";
import { stateLayout } from "../../../src/store/layout.ts";
import { facts } from "../decide/macaroon-gate-helpers.ts";
import { fixedClock, idEnv, removeTempDirs } from "./helpers.ts";

afterAll(removeTempDirs);

async function gateFor(stateDir: string) {
  return await loadMacaroonGate(nodeFileSystem, stateLayout(stateDir), fixedClock);
}

async function allowed(stateDir: string, token: string, method = "GET", uri = "/v1.41/containers/json") {
  const gate = await gateFor(stateDir);
  if (gate === undefined) throw new Error("macaroon gate is off");
  return await gate.check(facts(method, uri, { token }));
}

describe("agent id init and show", () => {
  test("init writes a 0600 keyring and prints the root macaroon alone on the last stdout line", async () => {
    const env = await idEnv();
    const r = await env.run(["init"]);
    expect(r.code).toBe(0);
    expect(r.out).toBe(`${r.last}\n`);
    expect(r.err).toContain("Macaroons are on: root key");
    const mode = statSync(join(env.stateDir, "macaroon", "keys.json")).mode & 0o777;
    expect(mode).toBe(0o600);
    expect((await allowed(env.stateDir, r.last)).allow).toBe(true);
    expect(await allowed(env.stateDir, "")).toMatchObject({ allow: false, ruleId: "macaroon:missing" });
  });

  test("turns the gate on in the state directory the plugin loads", async () => {
    const env = await idEnv();
    const layout = stateLayout(env.stateDir);
    expect((await extraGates(nodeFileSystem, layout, fixedClock)).some(isMacaroonGate)).toBe(false);
    await env.run(["init"]);
    expect((await extraGates(nodeFileSystem, layout, fixedClock)).some(isMacaroonGate)).toBe(true);
  });

  test("refuses to initialise twice", async () => {
    const env = await idEnv();
    await env.run(["init"]);
    const again = await env.run(["init"]);
    expect(again.code).toBe(1);
    expect(again.out).toBe("");
    expect(again.err).toContain("macaroons are already initialised");
    expect(again.err).toContain("[ERR_STATE_EXISTS]");
  });

  test("show prints the same root macaroon every time, in any format", async () => {
    const env = await idEnv();
    const init = await env.run(["init"]);
    const shown = await env.run(["show"]);
    expect(shown.last).toBe(init.last);
    const json = await env.run(["show", "--format", "v2j"]);
    expect(JSON.parse(json.last)).toMatchObject({ v: 2, c: [] });
    expect(decodeMacaroon(json.last).signature).toEqual(decodeMacaroon(init.last).signature);
    expect((await env.run(["show", "--format", "v3"])).code).toBe(2);
  });

  test("show without a keyring says to run init", async () => {
    const env = await idEnv();
    const r = await env.run(["show"]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("macaroons are not initialised");
    expect(r.err).toContain("[ERR_MACAROON_NOT_INITIALISED]");
  });

  test("the same passphrase and salt give the same key and root macaroon on another host", async () => {
    const a = await idEnv();
    const first = await a.run(["init", "--secret", "correct horse battery", "--json"]);
    const { keyId, salt, token } = JSON.parse(first.out) as { keyId: string; salt: string; token: string };
    expect(salt).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const b = await idEnv();
    const second = await b.run(["init", "--secret", "correct horse battery", `--salt=${salt}`]);
    expect(second.code).toBe(0);
    expect(second.last).toBe(token);
    expect((await loadKeyring(nodeFileSystem, stateLayout(b.stateDir)))!.current).toBe(keyId);
    expect(first.out).not.toContain("correct horse");
    expect(second.err).not.toContain("correct horse");
  }, 30_000); // scrypt (N=2^17) runs several times

  test("reads the passphrase from a file and refuses short ones", async () => {
    const env = await idEnv();
    const file = join(env.stateDir, "..", "pass");
    writeFileSync(file, "a long enough passphrase\n");
    expect((await env.run(["init", "--secret-file", file])).code).toBe(0);
    const short = await (await idEnv()).run(["init", "--secret", "short"]);
    expect(short.code).toBe(2);
    expect(short.err).toBe("agent: the passphrase must be at least 8 characters [ERR_USAGE]\n");
    const saltOnly = await (await idEnv()).run(["init", "--salt", "QLrUayj2z-1fVE33FERnCg"]);
    expect(saltOnly.err).toBe("agent: --salt needs --secret [ERR_USAGE]\n");
  }, 30_000); // scrypt (N=2^17) runs several times

  test("keeps a passphrase that looks like a number exactly as typed", async () => {
    const a = await idEnv();
    const first = JSON.parse((await a.run(["init", "--secret", "0001e10000", "--json"])).out) as {
      salt: string;
    };
    const b = await idEnv();
    const same = await b.run(["init", "--secret=0001e10000", `--salt=${first.salt}`]);
    const c = await idEnv();
    const different = await c.run(["init", "--secret", "1e10000", `--salt=${first.salt}`]);
    expect(same.last).not.toBe(different.last);
    expect(same.last).toBe((await a.run(["show"])).last);
  }, 30_000); // scrypt (N=2^17) runs several times
});

describe("agent id revoke, rotate, retire, keys", () => {
  test("revoke by token and by nonce: the plugin's next state refuses the token", async () => {
    const env = await idEnv();
    await env.run(["init"]);
    const t1 = (await env.run(["create", "--op", "read"])).last;
    const t2 = (await env.run(["create", "--op", "read"])).last;
    expect((await allowed(env.stateDir, t1)).allow).toBe(true);
    const byToken = await env.run(["revoke", t1]);
    expect(byToken.code).toBe(0);
    expect(byToken.err).toContain("Revoked nonce");
    expect((await allowed(env.stateDir, t1)).ruleId).toBe("macaroon:revoked");
    const nonce = parseIdentifier(decodeMacaroon(t2).identifier).nonce!;
    // After --: a base64url nonce starts with "-" one time in 64.
    expect((await env.run(["revoke", "--", nonce])).code).toBe(0);
    expect((await allowed(env.stateDir, t2)).ruleId).toBe("macaroon:revoked");
    expect((await env.run(["revoke", "--", nonce])).err).toContain("already revoked");
  });

  test("revoking a token revokes what was attenuated from it", async () => {
    const env = await idEnv();
    await env.run(["init"]);
    const parent = (await env.run(["create"])).last;
    const child = (await env.run(["create", "--from", parent, "--op", "read"])).last;
    await env.run(["revoke", parent]);
    expect((await allowed(env.stateDir, child)).ruleId).toBe("macaroon:revoked");
  });

  test("a nonce that starts with - is refused without --, saying how, and revoked after --", async () => {
    const env = await idEnv();
    await env.run(["init"]);
    const nonce = "-AbCdEfGhIjKlMnOpQrStU"; // 22 base64url characters
    const bare = await env.run(["revoke", nonce]);
    expect(bare.code).toBe(2);
    expect(bare.err).toContain("goes after --");
    expect(bare.err).not.toContain(nonce);
    expect((await env.run(["revoke", "--", nonce])).code).toBe(0);
  });

  test("revoke refuses text that is neither a token nor a nonce", async () => {
    const env = await idEnv();
    await env.run(["init"]);
    const r = await env.run(["revoke", "hello"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("give a token or its nonce");
  });

  test("rotate keeps old tokens working until the old key is retired", async () => {
    const env = await idEnv();
    await env.run(["init"]);
    const old = (await env.run(["create", "--op", "read"])).last;
    const oldKey = parseIdentifier(decodeMacaroon(old).identifier).keyId!;
    const rotated = await env.run(["rotate", "--json"]);
    const { keyId, previous, token } = JSON.parse(rotated.out) as {
      keyId: string;
      previous: string;
      token: string;
    };
    expect(previous).toBe(oldKey);
    expect(keyId).not.toBe(oldKey);
    expect((await env.run(["show"])).last).toBe(token);
    expect((await allowed(env.stateDir, old)).allow).toBe(true);
    const fresh = (await env.run(["create"])).last;
    expect(parseIdentifier(decodeMacaroon(fresh).identifier).keyId).toBe(keyId);

    const cannot = await env.run(["retire", keyId]);
    expect(cannot.code).toBe(1);
    expect(cannot.err).toBe(
      "agent: cannot retire the current signing key; rotate first [ERR_MACAROON_KEY]\n",
    );
    expect((await env.run(["retire", oldKey])).code).toBe(0);
    expect(await allowed(env.stateDir, old)).toMatchObject({ allow: false, ruleId: "macaroon:key" });
    expect((await allowed(env.stateDir, fresh)).allow).toBe(true);
    const keys = JSON.parse((await env.run(["keys", "--json"])).out) as { id: string; status: string }[];
    expect(keys.map((k) => k.status)).toEqual(["retired", "current"]);
    expect((await env.run(["keys"])).out).toContain("retired");
  });
});

describe("agent id destroy", () => {
  test("needs the root macaroon: a missing one, a minted one and an attenuated root are refused", async () => {
    const env = await idEnv();
    const root = (await env.run(["init"])).last;
    const none = await env.run(["destroy"]);
    expect(none.code).toBe(1);
    expect(none.err).toContain("[ERR_MACAROON_MISSING]");
    const minted = (await env.run(["create"])).last;
    const notRoot = await env.run(["destroy", "--id", minted]);
    expect(notRoot.code).toBe(1);
    expect(notRoot.err).toContain("[ERR_MACAROON_NOT_ROOT]");
    const narrowed = (await env.run(["create", "--from", root, "--op", "read"])).last;
    expect((await env.run(["destroy", "--id", narrowed])).err).toContain("[ERR_MACAROON_NOT_ROOT]");
    const forged = root.slice(0, -2) + (root.endsWith("AA") ? "AB" : "AA");
    expect((await env.run(["destroy", "--id", forged])).code).toBe(1);
    expect(await gateFor(env.stateDir)).toBeDefined();
  });

  test("with the root macaroon from the docker client default, deletes the keys and turns the gate off", async () => {
    const env = await idEnv();
    const root = (await env.run(["init"])).last;
    await env.run(["revoke", (await env.run(["create"])).last]);
    expect((await env.run(["set", root])).code).toBe(0);
    const r = await env.run(["destroy"]);
    expect(r.code).toBe(0);
    expect(r.err).toContain("Macaroons are off");
    expect(await gateFor(env.stateDir)).toBeUndefined();
    expect(await nodeFileSystem.stat(stateLayout(env.stateDir).macaroonRevocations)).toBeUndefined();
    expect((await env.run(["init"])).code).toBe(0);
  });
});
