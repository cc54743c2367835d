import { afterAll, describe, expect, test } from "bun:test";
import { decodeMacaroon, encodeMacaroon } from "../../../src/macaroon/index.ts";
import type { Clock } from "../../../src/ports.ts";
import { idEnv, NOW, removeTempDirs } from "./helpers.ts";

afterAll(removeTempDirs);

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function b64(bytes: Uint8Array, url: boolean): string {
  const s = btoa(String.fromCharCode(...bytes));
  return url ? s.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "") : s;
}

const later = (seconds: number): Clock => () => new Date(NOW.getTime() + seconds * 1000);

describe("agent id inspect", () => {
  test("shows identifier, key id, nonce, caveats and expiry, and never the signature", async () => {
    const env = await idEnv();
    await env.run(["init"]);
    const token = (await env.run(["create", "--op", "read", "--expires", "3600"])).last;
    const m = decodeMacaroon(token);
    for (const format of ["v2", "v2j", "v1", "v1j"] as const) {
      const encoded = encodeMacaroon(m, format);
      for (const json of [false, true]) {
        const r = await env.run(["inspect", encoded, ...(json ? ["--json"] : [])]);
        expect(r.code).toBe(0);
        const all = r.out + r.err;
        for (const spelling of [hex(m.signature), b64(m.signature, true), b64(m.signature, false)]) {
          expect(all).not.toContain(spelling);
          expect(all).not.toContain(spelling.slice(0, 16));
        }
        expect(all).toContain("op = read");
        expect(all).toContain("expires = 2026-03-01T13:00:00Z");
      }
    }
    const text = (await env.run(["inspect", token])).out;
    expect(text).toContain(
      `key id:      ${/agent1:([a-z0-9]+):/.exec(new TextDecoder().decode(m.identifier))![1]}`,
    );
    expect(text).toContain("expires:       2026-03-01T13:00:00Z");
    const json = JSON.parse((await env.run(["inspect", token, "--json"])).out) as Record<string, unknown>;
    expect(json["expires"]).toBe("2026-03-01T13:00:00Z");
  });

  test("--verify reports a valid token and which caveats depend on the request", async () => {
    const env = await idEnv();
    await env.run(["init"]);
    const token = (await env.run(["create", "--op", "read", "--expires", "60"])).last;
    const r = await env.run(["inspect", token, "--verify", "--json"]);
    expect(r.code).toBe(0);
    const v = (JSON.parse(r.out) as { verification: Record<string, unknown> }).verification;
    expect(v).toEqual({
      valid: true,
      problem: null,
      code: null,
      keyStatus: "current",
      revoked: false,
      caveats: [
        { caveat: "op = read", status: "per-request", reason: "checked against each request's method" },
        { caveat: "expires = 2026-03-01T12:01:00Z", status: "holds", reason: "expires in 59s" },
      ],
    });
  });

  test("--verify names the failing caveat: expired, ip, unknown", async () => {
    const env = await idEnv();
    await env.run(["init"]);
    const token = (await env.run(["create", "--expires", "60", "--ip", "10.1.2.3"])).last;
    const r = await env.run(["inspect", token, "--verify"], { clock: later(120) });
    expect(r.code).toBe(1);
    expect(r.out).toContain("verification:  INVALID: a caveat fails");
    expect(r.out).toContain("fails       expires = 2026-03-01T12:01:00Z: expired at 2026-03-01T12:01:00Z");
    expect(r.out).toContain(
      "fails       ip = 10.1.2.3: ip caveat cannot be checked: dockerd does not tell plugins the client address",
    );
  });

  test("--verify reports a bad signature, a revoked token and a retired key", async () => {
    const env = await idEnv();
    await env.run(["init"]);
    const token = (await env.run(["create", "--op", "read"])).last;
    const m = decodeMacaroon(token);
    const signature = Uint8Array.from(m.signature);
    signature[0]! ^= 0x80;
    const forged = await env.run(["inspect", encodeMacaroon({ ...m, signature }), "--verify"]);
    expect(forged.code).toBe(1);
    expect(forged.out).toContain("verification:  INVALID: macaroon signature is not valid");

    await env.run(["revoke", token]);
    const revoked = await env.run(["inspect", token, "--verify"]);
    expect(revoked.out).toContain("key:           current (token revoked)");
    expect(revoked.out).toContain("INVALID: macaroon has been revoked");

    const other = (await env.run(["create"])).last;
    const oldKey = JSON.parse((await env.run(["rotate", "--json"])).out).previous as string;
    await env.run(["retire", oldKey]);
    const retired = await env.run(["inspect", other, "--verify"]);
    expect(retired.out).toContain("key:           retired");
    expect(retired.out).toContain("INVALID: macaroon root key is unknown or retired");
  });

  test("decodes a foreign token without a keyring, and refuses garbage", async () => {
    const env = await idEnv();
    const foreign =
      '{"location":"https://example.com","identifier":"we used this","caveats":[{"cid":"account = 3735928559"}],"signature":"' +
      "ab".repeat(32) + '"}';
    const r = await env.run(["inspect", btoa(foreign)]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("location:    https://example.com");
    expect(r.out).toContain("identifier:  we used this");
    expect(r.out).toContain("account = 3735928559");
    expect(r.out).not.toContain("abab");
    const bad = await env.run(["inspect", "%%%"]);
    expect(bad.code).toBe(1);
    expect(bad.err).toBe("agent: malformed macaroon [ERR_MACAROON_FORMAT]\n");
  });

  test("the help says what the exit codes are", async () => {
    const env = await idEnv();
    const r = await env.run(["inspect", "--help"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("Exit codes: 0 ok (with --verify: valid), 1 invalid or failure, 2 usage error.");
    for (
      const verb of ["init", "create", "set", "exec", "revoke", "rotate", "retire", "destroy", "show", "keys"]
    ) {
      expect((await env.run([verb, "--help"])).out).toContain("Exit code");
    }
  });
});
