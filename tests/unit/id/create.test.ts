import { afterAll, describe, expect, test } from "bun:test";
import { loadMacaroonGate } from "../../helpers/state-gates.ts";
import { decodeMacaroon, describeMacaroon, parseIdentifier } from "../../../src/macaroon/index.ts";
import { nodeFileSystem } from "../../../src/runtime/node-file-system.ts";
import { stateLayout } from "../../../src/store/layout.ts";
import { facts } from "../decide/macaroon-gate-helpers.ts";
import { fixedClock, idEnv, NUMERIC_ID, removeTempDirs, TINY_ID, WEB_ID } from "./helpers.ts";

afterAll(removeTempDirs);

function caveatsOf(token: string): string[] {
  return describeMacaroon(decodeMacaroon(token)).caveats.map((
    c,
  ) => (c.kind === "first-party" ? c.predicate : "?"));
}

describe("agent id create", () => {
  test("mints a token with its own nonce and every caveat, printed alone on the last line", async () => {
    const env = await idEnv();
    const root = (await env.run(["init"])).last;
    const r = await env.run(["create", "--op", "read", "--ip", "10.0.0.0/8", "--expires", "60"]);
    expect(r.code).toBe(0);
    expect(r.out).toBe(`${r.last}\n`);
    expect(caveatsOf(r.last)).toEqual(["op = read", "ip = 10.0.0.0/8", "expires = 2026-03-01T12:01:00Z"]);
    const nonce = parseIdentifier(decodeMacaroon(r.last).identifier).nonce;
    expect(nonce).not.toBe(parseIdentifier(decodeMacaroon(root).identifier).nonce);
    expect(r.err).toContain(`agent id revoke ${nonce!.startsWith("-") ? "-- " : ""}${nonce}`);
  });

  test("a nonce that starts with '-' is printed after --, so the revoke line can be pasted as it is", async () => {
    const env = await idEnv();
    await env.run(["init"]);
    // 0xf8 bytes encode as "-Pj4...": base64url's "-" is 62, the top six bits of 0xf8.
    const r = await env.run(["create"], { random: (n) => new Uint8Array(n).fill(0xf8) });
    expect(r.code).toBe(0);
    const nonce = parseIdentifier(decodeMacaroon(r.last).identifier).nonce ?? "";
    expect(nonce.startsWith("-")).toBe(true);
    const line = /with: (agent id revoke .*)$/m.exec(r.err)?.[1];
    expect(line).toBe(`agent id revoke -- ${nonce}`);
    const revoked = await env.run(line!.split(" ").slice(2));
    expect(revoked.code).toBe(0);
    expect((await env.run(["revoke", nonce])).err).toContain("goes after --");
  });

  test("layers repeated options: two op caveats, each must hold", async () => {
    const env = await idEnv();
    await env.run(["init"]);
    const r = await env.run(["create", "--op", "read,write", "--op=read"]);
    expect(caveatsOf(r.last)).toEqual(["op = read,write", "op = read"]);
  });

  test("refuses op caveats that together allow nothing, instead of minting a useless token", async () => {
    const env = await idEnv();
    await env.run(["init"]);
    const r = await env.run(["create", "--op", "read", "--op=write"]);
    expect(r.code).toBe(2);
    expect(r.err).toBe(
      "agent: --op read and --op write together allow nothing (every caveat must hold); for both kinds write --op read,write [ERR_USAGE]\n",
    );
    expect(r.out).toBe("");
  });

  test("prints JSON for scripts", async () => {
    const env = await idEnv();
    await env.run(["init"]);
    const r = await env.run(["create", "--op", "read,write", "--expires", "3600", "--json"]);
    const json = JSON.parse(r.out) as Record<string, unknown>;
    expect(json).toMatchObject({
      caveats: ["op = read,write", "expires = 2026-03-01T13:00:00Z"],
      expires: "2026-03-01T13:00:00.000Z",
      attenuated: false,
    });
    expect(typeof json["token"]).toBe("string");
  });

  test("resolves container and image references to full ids through the daemon, with its own token", async () => {
    const env = await idEnv();
    await env.run(["init"]);
    const r = await env.run([
      "create",
      "--container-id",
      "web",
      "--image-id",
      "tiny:latest",
      "--docker-socket",
      "/d.sock",
    ]);
    expect(r.code).toBe(0);
    expect(caveatsOf(r.last)).toEqual([`container_id = ${WEB_ID}`, `image_id = ${TINY_ID}`]);
    expect(env.platform.fetches.map((f) => [f.socket, f.path])).toEqual([
      ["/d.sock", "/containers/web/json"],
      ["/d.sock", "/images/tiny%3Alatest/json"],
    ]);
    // The lookups carried a read-only, short-lived token that this host's gate accepts for reads only.
    const internal = env.platform.fetches[0]!.headers["x-macaroon"]!;
    expect(caveatsOf(internal)).toEqual(["op = read", "expires = 2026-03-01T12:02:00.250Z"]);
    const gate = (await loadMacaroonGate(nodeFileSystem, stateLayout(env.stateDir), fixedClock))!;
    expect((await gate.check(facts("GET", "/containers/web/json", { token: internal }))).allow).toBe(true);
    expect((await gate.check(facts("POST", "/containers/web/stop", { token: internal }))).allow).toBe(false);
  });

  test("uses DOCKER_HOST when it is a unix socket", async () => {
    const env = await idEnv();
    await env.run(["init"]);
    await env.run(["create", "--container-id", "web"], { env: { DOCKER_HOST: "unix:///run/x.sock" } });
    expect(env.platform.fetches[0]!.socket).toBe("/run/x.sock");
    await env.run(["create", "--container-id", "web"], { env: { DOCKER_HOST: "tcp://1.2.3.4:2376" } });
    expect(env.platform.fetches[1]!.socket).toBe("/var/run/docker.sock");
  });

  test("keeps a short id that looks like a number exactly as typed", async () => {
    const env = await idEnv();
    await env.run(["init"]);
    const r = await env.run(["create", "--container-id", "0123"]);
    expect(env.platform.fetches[0]!.path).toBe("/containers/0123/json");
    expect(caveatsOf(r.last)).toEqual([`container_id = ${NUMERIC_ID}`]);
  });

  test("refuses a container or image the daemon does not have, naming it", async () => {
    const env = await idEnv();
    await env.run(["init"]);
    const r = await env.run(["create", "--container-id", "ghost", "--docker-socket", "/d.sock"]);
    expect(r.code).toBe(1);
    expect(r.out).toBe("");
    expect(r.err).toBe(
      'agent: no container "ghost" on the Docker daemon at /d.sock [ERR_DOCKER_NOT_FOUND]\n',
    );
    const img = await env.run(["create", "--image-id", "nope:1", "--docker-socket", "/d.sock"]);
    expect(img.err).toBe('agent: no image "nope:1" on the Docker daemon at /d.sock [ERR_DOCKER_NOT_FOUND]\n');
  });

  test("says so when the daemon cannot be reached", async () => {
    const env = await idEnv();
    await env.run(["init"]);
    const r = await env.run(["create", "--container-id", "web", "--docker-socket", "/missing.sock"]);
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      'agent: cannot check container "web": cannot reach the Docker daemon at /missing.sock [ERR_DOCKER_UNREACHABLE]\n',
    );
  });

  test("validates values before minting: op, ip, expires are usage errors", async () => {
    const env = await idEnv();
    await env.run(["init"]);
    const cases: [string[], string][] = [
      [["--op", "admin"], 'agent: invalid op "admin": expected read, write or read,write [ERR_USAGE]\n'],
      [["--ip", "10.0.0.300"], 'agent: invalid ip "10.0.0.300": not an IPv4 or IPv6 address [ERR_USAGE]\n'],
      [
        ["--expires", "0"],
        "agent: --expires takes a positive whole number of seconds, e.g. --expires 3600 [ERR_USAGE]\n",
      ],
      [
        ["--expires", "1.5"],
        "agent: --expires takes a positive whole number of seconds, e.g. --expires 3600 [ERR_USAGE]\n",
      ],
      [
        ["--expires=-5"],
        "agent: --expires takes a positive whole number of seconds, e.g. --expires 3600 [ERR_USAGE]\n",
      ],
      [
        ["--containerId", "web"],
        "agent: unknown option --containerId (did you mean --container-id?); `agent id create --help` lists the options [ERR_USAGE]\n",
      ],
    ];
    for (const [args, message] of cases) {
      const r = await env.run(["create", ...args]);
      expect(r.code).toBe(2);
      expect(r.err).toBe(message);
      expect(r.out).toBe("");
    }
    expect(env.platform.fetches).toEqual([]);
  });

  test("needs a keyring (or --from)", async () => {
    const env = await idEnv();
    const r = await env.run(["create", "--op", "read"]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("[ERR_MACAROON_NOT_INITIALISED]");
  });

  test("--from attenuates any token offline, keeping its nonce and format", async () => {
    const keyHost = await idEnv();
    await keyHost.run(["init"]);
    const parent = (await keyHost.run(["create", "--op", "read,write"])).last;
    const elsewhere = await idEnv();
    const r = await elsewhere.run(["create", "--from", parent, "--op", "read"]);
    expect(r.code).toBe(0);
    expect(caveatsOf(r.last)).toEqual(["op = read,write", "op = read"]);
    expect(parseIdentifier(decodeMacaroon(r.last).identifier)).toEqual(
      parseIdentifier(decodeMacaroon(parent).identifier),
    );
    const gate = (await loadMacaroonGate(nodeFileSystem, stateLayout(keyHost.stateDir), fixedClock))!;
    expect((await gate.check(facts("GET", "/containers/json", { token: r.last }))).allow).toBe(true);
    expect((await gate.check(facts("POST", "/volumes/create", { token: r.last, body: {} }))).allow).toBe(
      false,
    );

    const json = (await keyHost.run(["show", "--format", "v2j"])).last;
    const narrowed = await elsewhere.run(["create", "--from", json, "--op", "read"]);
    expect(narrowed.last.startsWith("{")).toBe(true);
    const mixed = await elsewhere.run(["create", "--from", parent, "--secret", "long passphrase"]);
    expect(mixed.code).toBe(2);
  }, 30_000); // scrypt (N=2^17) runs several times

  test("--from with ids resolves them with the token being attenuated", async () => {
    const env = await idEnv();
    await env.run(["init"]);
    const parent = (await env.run(["create"])).last;
    env.platform.fetches.length = 0;
    const r = await env.run(["create", "--from", parent, "--container-id", "3f2a9c"]);
    expect(caveatsOf(r.last)).toEqual([`container_id = ${WEB_ID}`]);
    expect(env.platform.fetches[0]!.headers["x-macaroon"]).toBe(parent);
  });

  test("--secret re-derives the current key; a wrong passphrase is refused", async () => {
    const env = await idEnv();
    const init = JSON.parse((await env.run(["init", "--secret", "a fine passphrase", "--json"])).out) as {
      salt: string;
      keyId: string;
    };
    const ok = await env.run(["create", "--secret", "a fine passphrase", "--op", "read"]);
    expect(ok.code).toBe(0);
    expect(parseIdentifier(decodeMacaroon(ok.last).identifier).keyId).toBe(init.keyId);
    const wrong = await env.run(["create", "--secret", "not the passphrase"]);
    expect(wrong.code).toBe(1);
    expect(wrong.err).toBe("agent: the passphrase does not derive the current root key [ERR_MACAROON_KEY]\n");

    const laptop = await idEnv(); // no keyring: passphrase and salt are enough to mint
    const offline = await laptop.run([
      "create",
      "--secret",
      "a fine passphrase",
      `--salt=${init.salt}`,
      "--op",
      "read",
    ]);
    const gate = (await loadMacaroonGate(nodeFileSystem, stateLayout(env.stateDir), fixedClock))!;
    expect((await gate.check(facts("GET", "/containers/json", { token: offline.last }))).allow).toBe(true);
  }, 30_000); // scrypt (N=2^17) runs several times
});
