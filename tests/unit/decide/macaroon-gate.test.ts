import { describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decide } from "../../../src/decide/decide.ts";
import {
  isMacaroonGate,
  type MacaroonGate,
  macaroonGate,
  MISSING_MACAROON,
} from "../../../src/decide/macaroon-gate.ts";
import {
  addFirstPartyCaveat,
  addThirdPartyCaveat,
  bindForRequest,
  decodeMacaroon,
  type DockerCaveat,
  dockerCaveat,
  emptyRevocations,
  encodeMacaroon,
  encodeStack,
  expiresAfter,
  initKeyring,
  type Keyring,
  mint,
  mintToken,
  retire,
  type Revocations,
  revoke,
  rotate,
  saveKeyring,
  saveRevocations,
} from "../../../src/macaroon/index.ts";
import { nodeFileSystem } from "../../../src/runtime/node-file-system.ts";
import { extraGates, loadMacaroonGate } from "../../helpers/state-gates.ts";
import { stateLayout } from "../../../src/store/layout.ts";
import {
  DB_ID,
  EXEC_IN_DB,
  EXEC_IN_WEB,
  facts,
  fakeDaemon,
  movableClock,
  seededRandom,
  TINY_ID,
  WEB_ID,
} from "./macaroon-gate-helpers.ts";

const random = seededRandom("macaroon-gate");
const clock = movableClock();
const keyring: Keyring = await initKeyring(undefined, random, clock);

function setup(
  options: { keyring?: Keyring; revocations?: Revocations; timeoutMs?: number; clock?: typeof clock } = {},
) {
  const daemon = fakeDaemon();
  const gate = macaroonGate({
    keyring: options.keyring ?? keyring,
    revocations: options.revocations ?? emptyRevocations(),
    resolver: daemon,
    clock: options.clock ?? clock,
    random,
    lookupTimeoutMs: options.timeoutMs ?? 2_000,
  });
  return { gate, daemon };
}

function token(...caveats: [string, string][]): string {
  return mintToken(keyring, random, caveats.map(([n, v]) => dockerCaveat(n, v))).token;
}

async function verdict(
  gate: MacaroonGate,
  method: string,
  uri: string,
  options: Parameters<typeof facts>[2] = {},
) {
  return await gate.check(facts(method, uri, options));
}

describe("macaroon gate: presence and verification", () => {
  test("refuses a request without X-Macaroon, naming the header", async () => {
    const { gate } = setup();
    expect(await verdict(gate, "GET", "/v1.41/containers/json")).toEqual({
      allow: false,
      ruleId: "macaroon:missing",
      reason: MISSING_MACAROON,
    });
    expect(MISSING_MACAROON).toBe("this host requires a macaroon (X-Macaroon header)");
  });

  test("refuses an empty X-Macaroon header as missing", async () => {
    const { gate } = setup();
    expect((await verdict(gate, "GET", "/containers/json", { token: "  " })).ruleId).toBe("macaroon:missing");
  });

  test("keeps ping reachable with no token or a garbage token, so the CLI can negotiate its version", async () => {
    const { gate } = setup();
    expect((await verdict(gate, "HEAD", "/_ping")).allow).toBe(true);
    expect((await verdict(gate, "GET", "/_ping", { token: "garbage" })).allow).toBe(true);
  });

  test("allows an unrestricted token for reads and writes", async () => {
    const { gate } = setup();
    const t = token();
    expect((await verdict(gate, "GET", "/v1.41/containers/json", { token: t })).allow).toBe(true);
    expect((await verdict(gate, "POST", "/v1.41/volumes/create", { token: t, body: { Name: "v" } })).allow)
      .toBe(
        true,
      );
  });

  test("rejects a token whose signature byte was flipped", async () => {
    const { gate } = setup();
    const m = decodeMacaroon(token(["op", "read"]));
    const signature = Uint8Array.from(m.signature);
    signature[5]! ^= 0x01;
    const forged = encodeMacaroon({ ...m, signature });
    expect(await verdict(gate, "GET", "/containers/json", { token: forged })).toEqual({
      allow: false,
      ruleId: "macaroon:signature",
      reason: "macaroon signature is not valid",
    });
  });

  test("rejects a token whose caveat was removed (the chain no longer matches)", async () => {
    const { gate } = setup();
    const m = decodeMacaroon(token(["op", "read"]));
    const stripped = encodeMacaroon({ ...m, caveats: [] });
    expect((await verdict(gate, "POST", "/volumes/create", { token: stripped, body: {} })).ruleId).toBe(
      "macaroon:signature",
    );
  });

  test("refuses 100 random single-byte corruptions of a valid token", async () => {
    const { gate } = setup();
    const valid = token(["op", "read"], ["container_id", WEB_ID]);
    const bytes = Uint8Array.from(atob(valid.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
    const next = seededRandom("flips");
    for (let round = 0; round < 100; round++) {
      const r = next(2);
      const copy = Uint8Array.from(bytes);
      copy[r[0]! % copy.length]! ^= 1 << (r[1]! % 8);
      const mutated = btoa(String.fromCharCode(...copy)).replace(/\+/g, "-").replace(/\//g, "_").replace(
        /=+$/,
        "",
      );
      const result = await verdict(gate, "GET", "/containers/web/json", { token: mutated });
      expect(result.allow).toBe(false);
    }
  });

  test("refuses text that is not a macaroon", async () => {
    const { gate } = setup();
    expect(await verdict(gate, "GET", "/containers/json", { token: "not-a-token!" })).toEqual({
      allow: false,
      ruleId: "macaroon:format",
      reason: "malformed macaroon",
    });
  });

  test("refuses a token minted by another agent's key", async () => {
    const { gate } = setup();
    const foreign = await initKeyring(undefined, seededRandom("other host"), clock);
    const t = mintToken(foreign, random, []).token;
    expect(await verdict(gate, "GET", "/containers/json", { token: t })).toEqual({
      allow: false,
      ruleId: "macaroon:key",
      reason: "macaroon root key is unknown or retired",
    });
  });

  test("refuses a macaroon with a foreign identifier", async () => {
    const { gate } = setup();
    const t = encodeMacaroon(mint(keyring.keys[0]!.key, "someone else's id"));
    expect(await verdict(gate, "GET", "/containers/json", { token: t })).toEqual({
      allow: false,
      ruleId: "macaroon:key",
      reason: "macaroon was not issued by this agent",
    });
  });

  test("refuses a revoked token", async () => {
    const minted = mintToken(keyring, random, []);
    const { gate } = setup({ revocations: revoke(emptyRevocations(), minted.nonce, clock) });
    expect(await verdict(gate, "GET", "/containers/json", { token: minted.token })).toEqual({
      allow: false,
      ruleId: "macaroon:revoked",
      reason: "macaroon has been revoked",
    });
  });

  test("refuses a token whose key was retired, and accepts it while the key is only rotated out", async () => {
    const old = mintToken(keyring, random, []).token;
    const rotated = rotate(keyring, random, clock);
    expect((await verdict(setup({ keyring: rotated }).gate, "GET", "/containers/json", { token: old })).allow)
      .toBe(true);
    const retired = retire(rotated, keyring.current, clock);
    expect(await verdict(setup({ keyring: retired }).gate, "GET", "/containers/json", { token: old }))
      .toEqual({
        allow: false,
        ruleId: "macaroon:key",
        reason: "macaroon root key is unknown or retired",
      });
  });

  test("refuses a token with a caveat it does not understand", async () => {
    const { gate } = setup();
    const m = addFirstPartyCaveat(decodeMacaroon(token()), "time < 2030-01-01");
    const result = await verdict(gate, "GET", "/containers/json", { token: encodeMacaroon(m) });
    expect(result.allow).toBe(false);
    expect(result.ruleId).toBe("caveat:invalid");
    expect(result.reason).toStartWith('macaroon caveat "time < 2030-01-01"');
    const unknown = addFirstPartyCaveat(decodeMacaroon(token()), "user = alice");
    const second = await verdict(gate, "GET", "/containers/json", { token: encodeMacaroon(unknown) });
    expect(second).toEqual({
      allow: false,
      ruleId: "caveat:unknown",
      reason: 'macaroon caveat "user = alice" not satisfied: unknown caveat "user"',
    });
  });

  test("refuses a known caveat with an invalid value", async () => {
    const { gate } = setup();
    const m = addFirstPartyCaveat(decodeMacaroon(token()), "op = admin");
    const result = await verdict(gate, "GET", "/containers/json", { token: encodeMacaroon(m) });
    expect(result.ruleId).toBe("caveat:op");
    expect(result.reason).toStartWith('macaroon caveat "op = admin" not satisfied: invalid op');
  });

  test("GET /version needs a valid token but ignores its caveats", async () => {
    const { gate } = setup();
    expect((await verdict(gate, "GET", "/version")).allow).toBe(false);
    const narrow = token(["op", "write"], ["container_id", DB_ID], ["ip", "10.0.0.1"]);
    expect((await verdict(gate, "GET", "/v1.41/version", { token: narrow })).allow).toBe(true);
  });

  test("never puts the token or its signature into a reason", async () => {
    const { gate } = setup();
    const t = token(["op", "read"]);
    const results = [
      await verdict(gate, "POST", "/volumes/create", { token: t, body: {} }),
      await verdict(gate, "GET", "/containers/json", { token: t.slice(0, -3) + "AAA" }),
    ];
    for (const r of results) {
      expect(r.allow).toBe(false);
      expect(r.reason).not.toContain(t.slice(10, 30));
    }
  });
});

describe("macaroon gate: op and expires", () => {
  test("op = read allows GET and HEAD and refuses writes, naming the caveat", async () => {
    const { gate } = setup();
    const t = token(["op", "read"]);
    expect((await verdict(gate, "GET", "/containers/json", { token: t })).allow).toBe(true);
    expect((await verdict(gate, "HEAD", "/containers/web/archive?path=/", { token: t })).allow).toBe(true);
    expect(await verdict(gate, "POST", "/volumes/create", { token: t, body: {} })).toEqual({
      allow: false,
      ruleId: "caveat:op",
      reason: 'macaroon caveat "op = read" not satisfied: volume:create (POST) is a write request',
    });
    expect((await verdict(gate, "DELETE", "/volumes/v1", { token: t })).reason).toContain(
      "volume:remove (DELETE) is a write",
    );
    expect((await verdict(gate, "PUT", "/containers/web/archive?path=/", { token: t })).allow).toBe(false);
  });

  test("op = read refuses the websocket attach: a GET that writes to the container's stdin", async () => {
    const { gate } = setup();
    const t = token(["op", "read"]);
    const uri = "/v1.41/containers/web/attach/ws?stream=1&stdin=1&stdout=1";
    expect(await verdict(gate, "GET", uri, { token: t })).toEqual({
      allow: false,
      ruleId: "caveat:op",
      reason: 'macaroon caveat "op = read" not satisfied: container:attach (GET) is a write request',
    });
    expect((await verdict(gate, "HEAD", uri, { token: t })).ruleId).toBe("caveat:op");
    const w = token(["op", "write"]);
    expect((await verdict(gate, "GET", uri, { token: w })).allow).toBe(true);
  });

  test("op = read refuses a read route asked for with a protocol upgrade", async () => {
    const { gate } = setup();
    const t = token(["op", "read"]);
    const upgrade = { "Connection": ["Upgrade"], "Upgrade": ["tcp"] };
    expect(await verdict(gate, "GET", "/containers/web/json", { token: t, headers: upgrade })).toEqual({
      allow: false,
      ruleId: "caveat:op",
      reason:
        'macaroon caveat "op = read" not satisfied: container:inspect (GET with an Upgrade header) is a write request',
    });
    expect((await verdict(gate, "GET", "/containers/web/json", { token: t })).allow).toBe(true);
  });

  test("op = write refuses reads; op = read,write allows both", async () => {
    const { gate } = setup();
    const w = token(["op", "write"]);
    expect(await verdict(gate, "GET", "/containers/json", { token: w })).toEqual({
      allow: false,
      ruleId: "caveat:op",
      reason: 'macaroon caveat "op = write" not satisfied: container:list (GET) is a read request',
    });
    expect((await verdict(gate, "POST", "/volumes/create", { token: w, body: {} })).allow).toBe(true);
    const rw = token(["op", "read,write"]);
    expect((await verdict(gate, "GET", "/containers/json", { token: rw })).allow).toBe(true);
    expect((await verdict(gate, "DELETE", "/volumes/v1", { token: rw })).allow).toBe(true);
  });

  test("layered op caveats intersect: read and write together allow nothing but ping and version", async () => {
    const { gate } = setup();
    const t = token(["op", "read"], ["op", "write"]);
    expect((await verdict(gate, "GET", "/containers/json", { token: t })).ruleId).toBe("caveat:op");
    expect((await verdict(gate, "POST", "/volumes/create", { token: t, body: {} })).ruleId).toBe("caveat:op");
    expect((await verdict(gate, "GET", "/version", { token: t })).allow).toBe(true);
  });

  test("expires holds before the instant and fails from it on, even for a cached token", async () => {
    const local = movableClock();
    const { gate } = setup({ clock: local });
    const t = mintToken(keyring, random, [expiresAfter(local(), 60)]).token;
    expect((await verdict(gate, "GET", "/containers/json", { token: t })).allow).toBe(true);
    local.advance(59);
    expect((await verdict(gate, "GET", "/containers/json", { token: t })).allow).toBe(true);
    local.advance(1);
    expect(await verdict(gate, "GET", "/containers/json", { token: t })).toEqual({
      allow: false,
      ruleId: "caveat:expires",
      reason:
        'macaroon caveat "expires = 2026-03-01T12:01:00Z" not satisfied: expired at 2026-03-01T12:01:00.000Z',
    });
    expect(gate.cacheStats()).toMatchObject({ hits: 2, misses: 1, size: 1 });
  });

  test("ip caveats fail: dockerd does not tell plugins the client address", async () => {
    const { gate } = setup();
    const t = token(["ip", "10.0.0.0/8"]);
    expect(await verdict(gate, "GET", "/containers/json", { token: t })).toEqual({
      allow: false,
      ruleId: "caveat:ip",
      reason:
        'macaroon caveat "ip = 10.0.0.0/8" not satisfied: ip caveat cannot be checked: dockerd does not tell plugins the client address',
    });
  });
});

describe("macaroon gate: container_id", () => {
  const web = () => token(["container_id", WEB_ID]);

  test("allows requests on the container by name, short id and full id", async () => {
    const { gate } = setup();
    const t = web();
    for (const ref of ["web", "3f2a9c", WEB_ID]) {
      expect((await verdict(gate, "GET", `/v1.41/containers/${ref}/logs?stdout=1`, { token: t })).allow).toBe(
        true,
      );
      expect((await verdict(gate, "POST", `/v1.41/containers/${ref}/stop`, { token: t })).allow).toBe(true);
    }
  });

  test("refuses requests on another container, by name and by id", async () => {
    const { gate } = setup();
    const t = web();
    expect(await verdict(gate, "POST", "/containers/db/stop", { token: t })).toEqual({
      allow: false,
      ruleId: "caveat:container_id",
      reason: `macaroon caveat "container_id = ${WEB_ID}" not satisfied: ` +
        'the request acts on container "db", not on this token\'s container',
    });
    expect((await verdict(gate, "DELETE", `/containers/${DB_ID}`, { token: t })).allow).toBe(false);
  });

  test("refuses a container the daemon does not know", async () => {
    const { gate } = setup();
    const result = await verdict(gate, "GET", "/containers/ghost/json", { token: web() });
    expect(result.reason).toEndWith('not satisfied: no such container "ghost" on this host');
  });

  test("resolves exec ids to their container for exec start, resize and inspect", async () => {
    const { gate } = setup();
    const t = web();
    expect((await verdict(gate, "POST", "/containers/web/exec", { token: t, body: { Cmd: ["ls"] } })).allow)
      .toBe(
        true,
      );
    expect((await verdict(gate, "POST", `/exec/${EXEC_IN_WEB}/start`, { token: t, body: {} })).allow).toBe(
      true,
    );
    expect((await verdict(gate, "POST", `/exec/${EXEC_IN_WEB}/resize?h=10&w=10`, { token: t })).allow).toBe(
      true,
    );
    expect((await verdict(gate, "GET", `/exec/${EXEC_IN_WEB}/json`, { token: t })).allow).toBe(true);
    const other = await verdict(gate, "POST", `/exec/${EXEC_IN_DB}/start`, { token: t, body: {} });
    expect(other.allow).toBe(false);
    expect(other.reason).toContain(`the request acts on container "exec ${EXEC_IN_DB}"`);
  });

  test("refuses container creation: a new container is not the token's container", async () => {
    const { gate } = setup();
    const result = await verdict(gate, "POST", "/containers/create?name=web", {
      token: web(),
      body: { Image: "tiny" },
    });
    expect(result.reason).toEndWith(
      "not satisfied: container creation does not act on an existing container",
    );
  });

  test("refuses requests that act on no container, except ping and version", async () => {
    const { gate } = setup();
    const t = web();
    for (
      const [method, uri] of [["GET", "/containers/json"], ["GET", "/images/json"], ["GET", "/info"]] as const
    ) {
      const result = await verdict(gate, method, uri, { token: t });
      expect(result.allow).toBe(false);
      expect(result.reason).toContain("does not act on a container");
    }
    expect((await verdict(gate, "HEAD", "/_ping", { token: t })).allow).toBe(true);
    expect((await verdict(gate, "GET", "/version", { token: t })).allow).toBe(true);
  });

  test("layers with op: a read-only container token reads logs but cannot stop it", async () => {
    const { gate } = setup();
    const t = token(["op", "read"], ["container_id", WEB_ID]);
    expect((await verdict(gate, "GET", "/containers/web/logs", { token: t })).allow).toBe(true);
    expect((await verdict(gate, "POST", "/containers/web/stop", { token: t })).ruleId).toBe("caveat:op");
  });

  test("checks cheap caveats before asking the daemon", async () => {
    const { gate, daemon } = setup();
    const t = token(["container_id", WEB_ID], ["op", "read"]);
    await verdict(gate, "POST", "/containers/web/stop", { token: t });
    expect(daemon.lookups).toBe(0);
  });

  test("denies, not hangs, when a lookup does not answer in time", async () => {
    const { gate, daemon } = setup({ timeoutMs: 30 });
    daemon.hang = true;
    const started = performance.now();
    const result = await verdict(gate, "GET", "/containers/web/json", { token: web() });
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(result).toEqual({
      allow: false,
      ruleId: "caveat:container_id",
      reason: `macaroon caveat "container_id = ${WEB_ID}" not satisfied: ` +
        "cannot be checked: the Docker daemon did not answer a lookup in time",
    });
  });

  test("denies when the daemon cannot be reached, without echoing the raw error", async () => {
    const { gate, daemon } = setup();
    daemon.down = true;
    const result = await verdict(gate, "GET", "/containers/web/json", { token: web() });
    expect(result.reason).toEndWith("not satisfied: cannot be checked: the lookup failed");
  });

  test("the response phase does not re-resolve: a container removed by the request still gets its answer", async () => {
    const { gate, daemon } = setup();
    const t = web();
    expect((await verdict(gate, "DELETE", "/containers/web?force=1", { token: t })).allow).toBe(true);
    daemon.removeContainer("web");
    expect((await verdict(gate, "DELETE", "/containers/web?force=1", { token: t, phase: "response" })).allow)
      .toBe(
        true,
      );
    expect((await verdict(gate, "DELETE", "/containers/web?force=1", { token: t })).allow).toBe(false);
  });
});

describe("macaroon gate: image_id", () => {
  const tiny = () => token(["image_id", TINY_ID]);

  test("allows requests on the image by name, tag and id", async () => {
    const { gate } = setup();
    const t = tiny();
    for (const ref of ["tiny:latest", "tiny", TINY_ID]) {
      expect((await verdict(gate, "GET", `/images/${ref}/json`, { token: t })).allow).toBe(true);
    }
    expect((await verdict(gate, "GET", "/images/other:1/json", { token: t })).reason).toContain(
      'the request acts on image "other:1"',
    );
  });

  test("allows creating a container from the image and refuses another image", async () => {
    const { gate } = setup();
    const t = tiny();
    expect(
      (await verdict(gate, "POST", "/containers/create", { token: t, body: { Image: "tiny:latest" } })).allow,
    )
      .toBe(true);
    const other = await verdict(gate, "POST", "/containers/create", { token: t, body: { Image: "other:1" } });
    expect(other.allow).toBe(false);
    expect(other.ruleId).toBe("caveat:image_id");
  });

  test("reads the create body's Image key the way Go does (any case), and every candidate must match", async () => {
    const { gate } = setup();
    const t = tiny();
    expect((await verdict(gate, "POST", "/containers/create", { token: t, body: { image: "tiny" } })).allow)
      .toBe(
        true,
      );
    const sneaky = await verdict(gate, "POST", "/containers/create", {
      token: t,
      body: { Image: "tiny", IMAGE: "other:1" },
    });
    expect(sneaky.allow).toBe(false);
    const dotless = await verdict(gate, "POST", "/containers/create", {
      token: t,
      body: { Image: "tiny", "\u0131mage": "other:1" },
    });
    expect(dotless.allow).toBe(false);
  });

  test("refuses a create with no image, and requests on no image", async () => {
    const { gate } = setup();
    const t = tiny();
    expect((await verdict(gate, "POST", "/containers/create", { token: t, body: { Cmd: ["ls"] } })).reason)
      .toEndWith("the container creation request names no image");
    expect((await verdict(gate, "POST", "/containers/create", { token: t, body: { Image: 7 } })).allow).toBe(
      false,
    );
    expect((await verdict(gate, "GET", "/containers/json", { token: t })).reason).toEndWith(
      "container:list does not act on an image",
    );
    expect((await verdict(gate, "POST", "/containers/web/start", { token: t })).allow).toBe(false);
  });
});

describe("macaroon gate: discharges, cache, reload", () => {
  test("enforces first-party caveats of a bound discharge", async () => {
    const { gate } = setup();
    const thirdKey = seededRandom("third")(32);
    const root = addThirdPartyCaveat(
      decodeMacaroon(token()),
      thirdKey,
      "user is alice",
      "https://auth",
      random,
    );
    const discharge = addFirstPartyCaveat(mint(thirdKey, "user is alice", "https://auth"), "op = read");
    const stack = encodeStack([root, bindForRequest(root, discharge)]);
    expect((await verdict(gate, "GET", "/containers/json", { token: stack })).allow).toBe(true);
    expect((await verdict(gate, "POST", "/volumes/create", { token: stack, body: {} })).ruleId).toBe(
      "caveat:op",
    );
    expect((await verdict(gate, "GET", "/containers/json", { token: encodeMacaroon(root) })).ruleId).toBe(
      "macaroon:discharge",
    );
  });

  test("verifies a repeated token once, and still checks its caveats against every request", async () => {
    const { gate } = setup();
    const t = token(["op", "read"]);
    for (let i = 0; i < 5; i++) {
      expect((await verdict(gate, "GET", "/containers/json", { token: t })).allow).toBe(true);
      expect((await verdict(gate, "POST", "/volumes/create", { token: t, body: {} })).allow).toBe(false);
    }
    expect(gate.cacheStats()).toEqual({ hits: 9, misses: 1, size: 1 });
  });

  test("caches failures too, and keeps oversized headers out of the cache", async () => {
    const { gate } = setup();
    await verdict(gate, "GET", "/containers/json", { token: "bogus" });
    await verdict(gate, "GET", "/containers/json", { token: "bogus" });
    expect(gate.cacheStats()).toEqual({ hits: 1, misses: 1, size: 1 });
    const huge = "A".repeat(20_000);
    expect((await verdict(gate, "GET", "/containers/json", { token: huge })).ruleId).toBe("macaroon:limit");
    expect(gate.cacheStats().size).toBe(1);
  });

  test("bounds the cache", async () => {
    const gate = macaroonGate({
      keyring,
      revocations: emptyRevocations(),
      resolver: fakeDaemon(),
      clock,
      cacheEntries: 3,
    });
    for (let i = 0; i < 10; i++) await gate.check(facts("GET", "/containers/json", { token: token() }));
    expect(gate.cacheStats().size).toBe(3);
  });

  test("the agent's internal token reads, cannot write, and is re-minted before it expires", async () => {
    const local = movableClock();
    const { gate } = setup({ clock: local });
    const first = gate.internalHeaders()["X-Macaroon"]!;
    expect((await verdict(gate, "GET", "/containers/web/json", { token: first })).allow).toBe(true);
    expect((await verdict(gate, "GET", "/events?filters=%7B%7D", { token: first })).allow).toBe(true);
    expect((await verdict(gate, "POST", "/containers/web/stop", { token: first })).ruleId).toBe("caveat:op");
    expect(gate.internalHeaders()["X-Macaroon"]).toBe(first);
    local.advance(61);
    const second = gate.internalHeaders()["X-Macaroon"]!;
    expect(second).not.toBe(first);
    expect((await verdict(gate, "GET", "/containers/json", { token: second })).allow).toBe(true);
    local.advance(120);
    expect((await verdict(gate, "GET", "/containers/json", { token: first })).ruleId).toBe("caveat:expires");
  });

  test("is ANDed with the other gates by decide()", async () => {
    const { gate } = setup();
    const allowAll = {
      name: "policy" as const,
      check: () => ({ allow: true, ruleId: "all", reason: "allowed by rule all" }),
    };
    const denied = await decide(facts("GET", "/containers/json"), [allowAll, gate]);
    expect(denied).toMatchObject({ allow: false, decidedBy: "macaroon", reason: MISSING_MACAROON });
    const allowed = await decide(facts("GET", "/containers/json", { token: token() }), [allowAll, gate]);
    expect(allowed).toMatchObject({ allow: true, ruleId: "all" });
  });
});

describe("macaroon gate from the state directory", () => {
  test("is off without a keyring, on with one, and a reload after revocation refuses the token", async () => {
    const dir = await mkdtemp(join(tmpdir(), "agent-gate-test-"));
    try {
      const layout = stateLayout(dir);
      expect(await loadMacaroonGate(nodeFileSystem, layout, clock)).toBeUndefined();
      expect((await extraGates(nodeFileSystem, layout, clock)).some(isMacaroonGate)).toBe(false);

      await saveKeyring(nodeFileSystem, layout, keyring, "create");
      const minted = mintToken(keyring, random, [dockerCaveat("op", "read") as DockerCaveat]);
      const gates = await extraGates(nodeFileSystem, layout, clock, { resolver: fakeDaemon() });
      const gate = gates.find(isMacaroonGate)!;
      expect(gate).toBeDefined();
      expect((await gate.check(facts("GET", "/containers/json", { token: minted.token }))).allow).toBe(true);

      await saveRevocations(nodeFileSystem, layout, revoke(emptyRevocations(), minted.nonce, clock));
      const reloaded = (await extraGates(nodeFileSystem, layout, clock)).find(isMacaroonGate)!;
      expect((await reloaded.check(facts("GET", "/containers/json", { token: minted.token }))).ruleId).toBe(
        "macaroon:revoked",
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("without a resolver, container and image caveats fail closed", async () => {
    const dir = await mkdtemp(join(tmpdir(), "agent-gate-test-"));
    try {
      const layout = stateLayout(dir);
      await saveKeyring(nodeFileSystem, layout, keyring, "create");
      const gate = (await loadMacaroonGate(nodeFileSystem, layout, clock))!;
      const result = await gate.check(
        facts("GET", "/containers/web/json", { token: token(["container_id", WEB_ID]) }),
      );
      expect(result.reason).toEndWith("cannot be checked: the agent has no connection to the Docker daemon");
      expect(gate.internalHeaders()).toEqual({});
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
