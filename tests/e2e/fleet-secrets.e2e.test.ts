/**
 * No fleet secret leaks. A small fleet on a real etcd (one member, client TLS from the agent's CA, auth on
 * through `agent fleet init --setup-auth`): host A (the operator's: the CA, the root credential, the HTTPS
 * API) and host B (joined with the bundle from `agent fleet add-host`), each an `agent serve` shipping its
 * audit events to a real rsyslogd when one is installed. The session makes and uses every kind of fleet
 * secret: the fleet key (<state-dir>/fleet/fleet.key), the bundle's node private key, the etcd root
 * credential's key, the macaroon root keys (sealed into etcd), API keys made on A (followed by B) and
 * macaroons. Then every CLI stdout/stderr, both serve logs, both audit logs, every key and value in etcd (the
 * whole keyspace, read as root) and the syslog records are searched for each secret in every form it
 * could be printed in (base64url, base64, hex; a PEM key's body lines). A secret may appear only where it
 * is meant to: a token or an API key as the last stdout line of the command that made it (once), the
 * bundle file (mode 0600). The secret files' modes are checked too.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { EtcdClient } from "../../src/fleet/etcd.ts";
import {
  type EtcdCluster,
  etcdSkipBanner,
  etcdUnavailable,
  fleetInitArgs,
  startEtcdCluster,
} from "./etcd-harness.ts";
import {
  agentCli,
  type AgentProcess,
  freePort,
  inStateDir,
  pluginCall,
  type RunResult,
  startAgent,
  tempDir,
  waitFor,
} from "./harness.ts";
import { readSyslogRecords, type Rsyslog, startRsyslog, syslogUnavailable } from "./syslog-harness.ts";

const FILE = "fleet-secrets.e2e.test.ts";
const unavailable = etcdUnavailable();
if (unavailable !== undefined) etcdSkipBanner(FILE, unavailable);
const maybe = unavailable === undefined ? describe : describe.skip;
/** Shipping to rsyslog is scanned too where rsyslogd is installed (under CI it must be). */
const noSyslog = process.env["CI"] === "true" ? undefined : syslogUnavailable();

const LIST = { RequestMethod: "GET", RequestUri: "/v1.41/containers/json" };
const CREATE = { RequestMethod: "POST", RequestUri: "/v1.41/containers/create" };

interface Captured {
  readonly what: string;
  readonly text: string;
}

/** Base64url (as stored), standard base64 and lowercase hex of the same bytes. */
function encodings(b64url: string): string[] {
  const std = b64url.replaceAll("-", "+").replaceAll("_", "/");
  const bytes = Uint8Array.from(atob(std + "=".repeat((4 - (std.length % 4)) % 4)), (c) => c.charCodeAt(0));
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return [b64url, std.replace(/=+$/, ""), hex];
}

/** A PEM private key's body: each base64 line (long enough to mean something) and all of it joined. */
function pemBody(pem: string): string[] {
  const lines = pem.split("\n").map((l) => l.trim()).filter((l) => l.length > 0 && !l.startsWith("-----"));
  return [lines.join(""), ...lines.filter((l) => l.length >= 16)];
}

/** Checks a file's or directory's permission bits (the path in the message). */
function expectMode(path: string, wanted: number): void {
  const got = (statSync(path).mode & 0o777).toString(8).padStart(4, "0");
  expect(`${path} ${got}`).toBe(`${path} ${wanted.toString(8).padStart(4, "0")}`);
}

function ok<T extends RunResult>(r: T, what: string): T {
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}): ${r.stdout}${r.stderr}`);
  return r;
}

function occurrences(text: string, value: string): number {
  return text.split(value).length - 1;
}

async function decide(
  socket: string,
  body: Record<string, unknown>,
  who: { user?: string; token?: string } = {},
): Promise<boolean> {
  const res = await pluginCall(
    socket,
    "/AuthZPlugin.AuthZReq",
    JSON.stringify({
      ...body,
      ...(who.user === undefined ? {} : { User: who.user }),
      ...(who.token === undefined ? {} : { RequestHeaders: { "X-Macaroon": who.token } }),
    }),
  );
  return res.json["Allow"] === true;
}

async function fleetStatus(socket: string): Promise<Record<string, unknown>> {
  const res = await fetch("http://plugin/", { unix: socket } as RequestInit);
  return ((await res.json()) as { fleet?: Record<string, unknown> }).fleet ?? {};
}

maybe("fleet secrets never appear in logs, audit events, etcd, syslog or CLI output", () => {
  let cluster: EtcdCluster;
  let root: EtcdClient;
  let rsyslog: Rsyslog | undefined;
  let dir: string;
  let stateA: string;
  let stateB: string;
  let bundle: string;
  let agentA: AgentProcess | undefined;
  let agentB: AgentProcess | undefined;
  const captured: Captured[] = [];
  /** Full tokens and API keys, each with the output it was printed in (once, as its last stdout line). */
  const tokens: string[] = [];
  const apiKeys: string[] = [];
  const nearMisses: string[] = [];
  /** The etcd root credential's private key (A's, given to `fleet init`). */
  let rootKeyPem = "";
  /** What the bundle held, read before it was deleted. */
  let bundleText = "";

  /**
   * `agent ARGS --state-dir STATE`, everything it printed kept; `secretOut` takes the documented secret
   * (the last stdout line) out of what is scanned, after checking it is printed there once and nowhere else.
   */
  const agent = async (
    state: string,
    args: string[],
    secretOut?: "token" | "apikey",
  ): Promise<RunResult & { secret: string }> => {
    const r = await agentCli(inStateDir(args, state));
    const what = `agent ${args.slice(0, 2).join(" ")} (${
      state === stateA ? "A" : state === stateB ? "B" : state
    })`;
    const lines = r.stdout.trimEnd().split("\n");
    const secret = secretOut !== undefined && r.code === 0 ? lines.pop()! : "";
    if (secret !== "") {
      (secretOut === "token" ? tokens : apiKeys).push(secret);
      expect(
        `${what}: ${occurrences(r.stdout, secret)} on stdout, ${occurrences(r.stderr, secret)} on stderr`,
      )
        .toBe(`${what}: 1 on stdout, 0 on stderr`);
    }
    captured.push({ what: `${what} stdout`, text: lines.join("\n") });
    captured.push({ what: `${what} stderr`, text: r.stderr });
    return { ...r, secret };
  };
  /** Every key in etcd seen so far. */
  const etcdKeys: string[] = [];
  /** The whole keyspace (not only the fleet's prefix), read as root: keys and values, to be scanned. */
  const captureEtcd = async (when: string): Promise<string[]> => {
    const { kvs } = await root.list("");
    const decoder = new TextDecoder();
    for (const kv of kvs) {
      captured.push({ what: `etcd ${kv.key} (${when})`, text: `${kv.key}\n${decoder.decode(kv.value)}` });
      etcdKeys.push(kv.key);
    }
    return kvs.map((kv) => kv.key);
  };
  const a = (args: string[], secretOut?: "token" | "apikey") => agent(stateA, args, secretOut);
  const b = (args: string[], secretOut?: "token" | "apikey") => agent(stateB, args, secretOut);

  beforeAll(async () => {
    cluster = await startEtcdCluster({ members: 1 });
    dir = tempDir("fleet-secrets");
    stateA = cluster.caStateDir;
    stateB = join(dir, "b");
    const rootCert = await cluster.clientCert("root");
    rootKeyPem = rootCert.keyPem;
    if (noSyslog === undefined) {
      const certs = join(dir, "certs");
      ok(await a(["ca", "create-server-certificate", "localhost", "--out", certs]), "server certificate");
      rsyslog = await startRsyslog({
        dir: join(dir, "rsyslog"),
        tls: {
          caFile: cluster.caFile,
          certFile: join(certs, "localhost.crt"),
          keyFile: join(certs, "localhost.key"),
        },
      });
    }
    ok(await a(await fleetInitArgs(cluster, "hosta")), "fleet init");
    root = await cluster.client("root");
    bundle = join(dir, "hostb.fleet.json");
    ok(await a(["fleet", "add-host", "hostb", "--out", bundle]), "fleet add-host");
  }, 120_000);

  afterAll(async () => {
    await agentB?.stop("SIGKILL").catch(() => 0);
    await agentA?.stop("SIGKILL").catch(() => 0);
    await rsyslog?.stop("SIGKILL");
    await cluster?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("the bundle holds B's keys by design, mode 0600; the fleet's secret files are private", async () => {
    expectMode(bundle, 0o600);
    bundleText = readFileSync(bundle, "utf8");
    const held = JSON.parse(bundleText) as { keyPem: string; fleetKey: string; name: string };
    expect(held.name).toBe("hostb");
    expect(held.keyPem).toContain("PRIVATE KEY-----");
    expect(held.fleetKey).toBe(readFileSync(join(stateA, "fleet", "fleet.key"), "utf8").trim());

    // A bundle that is broken (and holds the keys) is refused by name, never shown.
    const broken = join(dir, "broken");
    writeFileSync(join(dir, "cut.fleet.json"), bundleText.slice(0, bundleText.length - 80));
    writeFileSync(
      join(dir, "short-key.fleet.json"),
      JSON.stringify({ ...JSON.parse(bundleText), fleetKey: held.fleetKey.slice(0, 30) }),
    );
    for (const name of ["cut.fleet.json", "short-key.fleet.json"]) {
      const r = await agent(broken, ["fleet", "join", join(dir, name)]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(name);
      rmSync(join(dir, name));
    }

    ok(await b(["fleet", "join", bundle]), "fleet join");
    rmSync(bundle); // as the operator is told to
    expect(readFileSync(join(stateB, "fleet", "node.key"), "utf8")).toBe(held.keyPem);
    expect(readFileSync(join(stateB, "fleet", "fleet.key"), "utf8").trim()).toBe(held.fleetKey);
    for (const state of [stateA, stateB]) {
      const fleetDir = join(state, "fleet");
      expectMode(fleetDir, 0o700);
      expectMode(join(fleetDir, "fleet.key"), 0o600);
    }
    expectMode(join(stateB, "fleet", "node.key"), 0o600);
  });

  test("a session on both hosts: keys, API keys and tokens made on A, followed and used by B", async () => {
    ok(await a(["id", "init"], "token"), "id init");
    const bob = ok(await a(["apikey", "create", "bob"], "apikey"), "apikey create bob");
    expect(bob.secret).toMatch(/^agt_[0-9A-Za-z]{49}$/);
    ok(await a(["apikey", "create", "ci-bot", "--expires", "1h"], "apikey"), "apikey create ci-bot");
    ok(await a(["apikey", "list"]), "apikey list");

    const syslog = rsyslog === undefined ? [] : ["--audit-syslog", `tcp://127.0.0.1:${rsyslog.tcpPort}`];
    const port = freePort();
    const socketA = join(dir, "a.sock");
    const socketB = join(dir, "b.sock");
    [agentA, agentB] = await Promise.all([
      startAgent({
        stateDir: stateA,
        socket: socketA,
        args: ["--listen", `127.0.0.1:${port}`, "--docker-socket", join(dir, "no-docker.sock"), ...syslog],
      }),
      startAgent({ stateDir: stateB, socket: socketB, args: syslog }),
    ]);
    await waitFor(
      "both agents connected",
      async () =>
        (await fleetStatus(socketA)).connected === true && (await fleetStatus(socketB)).connected === true,
    );
    const keysA = () => readFileSync(join(stateA, "macaroon", "keys.json"), "utf8");
    await waitFor(
      "B's keyring from the fleet",
      () => Promise.resolve(readFileSync(join(stateB, "macaroon", "keys.json"), "utf8") === keysA()),
    );
    expect(readFileSync(join(stateB, "apikeys.json"), "utf8")).toBe(
      readFileSync(join(stateA, "apikeys.json"), "utf8"),
    );

    const token = tokens[0]!;
    for (const socket of [socketA, socketB]) {
      expect(await decide(socket, LIST, { token })).toBe(true);
      expect(await decide(socket, LIST)).toBe(false);
      expect(await decide(socket, CREATE, { user: "bob", token })).toBe(false);
      expect(await decide(socket, LIST, { token: token.slice(0, -4) })).toBe(false);
    }

    // A second root key, published sealed; a token of it verifies on B.
    ok(await a(["id", "rotate"], "token"), "id rotate");
    const made = ok(await a(["id", "create", "--op", "read"], "token"), "id create");
    const fresh = made.secret;
    await waitFor("B accepting a token of the new key", () => decide(socketB, LIST, { token: fresh }));
    // Revoked through B (a host's credential may): a revoked/ key in etcd, refused by A.
    const nonce = /agent id revoke (?:-- )?([A-Za-z0-9_-]{22})/.exec(made.stderr + made.stdout)?.[1];
    expect(nonce).toBeDefined();
    ok(await b(["id", "revoke", "--", nonce!]), "id revoke on B");
    await waitFor(
      "A refusing the revoked token",
      async () => !(await decide(socketA, LIST, { token: fresh })),
    );
    ok(await a(["id", "show"], "token"), "id show");

    // bob's key on A's HTTPS API, a near miss of it, and ci-bot's revoked by its display prefix.
    const caPem = readFileSync(join(stateA, "ca", "cluster.crt"), "utf8");
    const call = (user: string, key: string) =>
      fetch(`https://127.0.0.1:${port}/api/infra/v1/node/`, {
        headers: { authorization: `Basic ${btoa(`${user}:${key}`)}`, "x-macaroon": token },
        tls: { ca: caPem },
      } as RequestInit).then(async (res) => {
        await res.body?.cancel();
        return res.status;
      });
    // Authenticated (no dockerd behind this A, so the call itself fails after that).
    let good = 0;
    await waitFor("A's HTTPS API", async () => (good = await call("bob", bob.secret)) > 0);
    expect([401, 403]).not.toContain(good);
    const typo = bob.secret.slice(0, 30) + (bob.secret[30] === "a" ? "b" : "a") + bob.secret.slice(31);
    nearMisses.push(typo);
    expect(await call("bob", typo)).toBe(401);
    expect(await call("ci-bot", bob.secret)).toBe(401);
    const ci = apiKeys[1]!;
    expect((await a(["apikey", "revoke", typo])).code).toBe(1);
    ok(await a(["apikey", "revoke", ci.slice(0, 12)]), "apikey revoke");
    await waitFor("B's API keys following the revocation", () =>
      Promise.resolve(
        readFileSync(join(stateB, "apikeys.json"), "utf8") ===
          readFileSync(join(stateA, "apikeys.json"), "utf8"),
      ));
    await waitFor("A refusing the revoked key", async () => (await call("ci-bot", ci)) === 401);

    // A host's credential may not make keys; what it may do prints no secret either.
    const refused = await b(["apikey", "create", "mallory"]);
    expect(refused.code).toBe(1);
    expect((await b(["id", "rotate"])).code).toBe(1);
    ok(await b(["apikey", "list"]), "apikey list on B");
    for (const run of [a, b]) {
      ok(await run(["fleet", "status"]), "fleet status");
      ok(await run(["fleet", "status", "--json"]), "fleet status --json");
      await run(["doctor"]);
      await run(["audit", "tail", "-n", "1000", "--json"]);
    }
    await captureEtcd("with both agents running");
    // Stopped cleanly: the audit logs and the syslog queues are flushed.
    expect(await agentA.stop()).toBe(0);
    expect(await agentB.stop()).toBe(0);
    expect(tokens.length).toBeGreaterThanOrEqual(4);
    expect(apiKeys).toHaveLength(2);
  }, 120_000);

  test("no fleet key, private key, root key, API key or token appears anywhere else, etcd included", async () => {
    for (const [name, state] of [["A", stateA], ["B", stateB]] as const) {
      captured.push({ what: `${name}'s serve.log`, text: readFileSync(join(state, "serve.log"), "utf8") });
      for (const file of readdirSync(state).filter((n) => n.startsWith("audit.log"))) {
        captured.push({ what: `${name}'s ${file}`, text: readFileSync(join(state, file), "utf8") });
      }
      // The files that hold secrets by design are private.
      expectMode(join(state, "macaroon", "keys.json"), 0o600);
      expectMode(join(state, "fleet", "fleet.key"), 0o600);
    }
    expect(captured.filter((c) => c.what.includes("audit.log")).every((c) => c.text.length > 0)).toBe(true);
    const keys = await captureEtcd("after the agents stopped");
    expect(keys).toEqual(expect.arrayContaining(["/agent/keyring", "/agent/apikeys", "/agent/policy"]));
    expect(etcdKeys.some((k) => k.startsWith("/agent/revoked/"))).toBe(true);
    expect(etcdKeys).toEqual(expect.arrayContaining(["/agent/nodes/hosta", "/agent/nodes/hostb"]));
    const sealed = JSON.parse(
      new TextDecoder().decode((await root.get("/agent/keyring")).kv!.value),
    ) as Record<
      string,
      unknown
    >;
    expect(typeof sealed["sealed"]).toBe("string");
    if (rsyslog !== undefined) {
      const records = readSyslogRecords(rsyslog.tcpLog);
      expect(new Set(records.map((r) => r.hostname))).toEqual(new Set(["hosta", "hostb"]));
      captured.push({ what: "syslog records", text: readFileSync(rsyslog.tcpLog, "utf8") });
    }

    const fleetKey = readFileSync(join(stateA, "fleet", "fleet.key"), "utf8").trim();
    const held = JSON.parse(bundleText) as { keyPem: string };
    const ring = JSON.parse(readFileSync(join(stateA, "macaroon", "keys.json"), "utf8")) as {
      keys: { key: string }[];
    };
    expect(ring.keys.length).toBeGreaterThanOrEqual(2);
    const secrets: { what: string; value: string }[] = [
      ...encodings(fleetKey).map((value) => ({ what: "the fleet key", value })),
      ...ring.keys.flatMap((k) => encodings(k.key)).map((value) => ({ what: "a macaroon root key", value })),
      ...pemBody(held.keyPem).map((value) => ({ what: "B's node private key", value })),
      ...pemBody(rootKeyPem).map((value) => ({ what: "the etcd root credential's key", value })),
      ...tokens.map((value) => ({ what: "a full token", value })),
      ...apiKeys.map((value) => ({ what: "an API key", value })),
      ...apiKeys.map((value) => ({ what: "the secret part of an API key", value: value.slice(12) })),
      ...nearMisses.map((value) => ({ what: "a near-miss of an API key", value: value.slice(12) })),
    ];
    const leaks: string[] = [];
    let bytes = 0;
    for (const c of captured) {
      bytes += c.text.length;
      for (const s of secrets) if (c.text.includes(s.value)) leaks.push(`${s.what} in ${c.what}`);
      if (c.text.includes("PRIVATE KEY")) leaks.push(`a PEM private key in ${c.what}`);
    }
    console.log(
      `fleet secrets scan: ${captured.length} outputs, ${etcdKeys.length} etcd values, ${bytes} bytes, ${secrets.length} secret forms`,
    );
    expect(leaks).toEqual([]);
    expect(secrets.every((s) => s.value.length >= 16)).toBe(true);
  });
});
