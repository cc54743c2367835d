/**
 * A fleet on a real 3-member etcd cluster (Debian's etcd-server, client TLS from the agent's own CA, etcd
 * auth on): host A (the operator's: the CA, the root credential, a private dockerd it guards, the HTTPS
 * API) and host B (joined with a bundle from `agent fleet add-host`), each a separate `agent serve` process
 * with its own state directory. Changes made through either are enforced by the other; members are killed
 * and frozen, all of etcd goes away, a revision is compacted, hostile values are written: nothing is lost,
 * nothing bad is applied, and every delay is printed.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEMO_POLICY } from "../../src/policy/index.ts";
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
  e2eUnavailable,
  freePort,
  type GuardedHost,
  inStateDir,
  pluginCall,
  type RunResult,
  skipBanner,
  startAgent,
  startGuardedHost,
  tempDir,
  waitFor,
} from "./harness.ts";

const FILE = "fleet.e2e.test.ts";
const unavailable = e2eUnavailable() ?? etcdUnavailable();
if (unavailable !== undefined) {
  if (e2eUnavailable() === undefined) etcdSkipBanner(FILE, unavailable);
  else skipBanner(FILE, unavailable);
}
const maybe = unavailable === undefined ? describe : describe.skip;

const LIST = { RequestMethod: "GET", RequestUri: "/v1.41/containers/json" };
const CREATE = { RequestMethod: "POST", RequestUri: "/v1.41/containers/create" };
/** The demo policy, and one that also refuses bob the container list (to see a published policy apply). */
const SECOND_POLICY = DEMO_POLICY.replace(
  "rules:\n",
  "rules:\n  - id: no-list-for-bob\n    who: [bob]\n    deny: [container:list]\n",
);

interface Decision {
  readonly allow: boolean;
  readonly msg: string;
}

async function decide(
  socket: string,
  body: Record<string, unknown>,
  who: { user?: string; token?: string; certPem?: string } = {},
): Promise<Decision> {
  const res = await pluginCall(
    socket,
    "/AuthZPlugin.AuthZReq",
    JSON.stringify({
      ...body,
      ...(who.user === undefined ? {} : { User: who.user }),
      ...(who.token === undefined ? {} : { RequestHeaders: { "X-Macaroon": who.token } }),
      ...(who.certPem === undefined ? {} : { RequestPeerCertificates: [btoa(who.certPem)] }),
    }),
  );
  return { allow: res.json["Allow"] === true, msg: String(res.json["Msg"] ?? "") };
}

/** Milliseconds until `probe` holds (polled every 5 ms), failing after `timeoutMs`. */
async function msUntil(what: string, probe: () => Promise<boolean>, timeoutMs = 15_000): Promise<number> {
  const start = performance.now();
  await waitForFast(what, probe, timeoutMs);
  return Math.round(performance.now() - start);
}

async function waitForFast(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (await probe().catch(() => false)) return;
    await Bun.sleep(5);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

async function fleetStatus(socket: string): Promise<Record<string, unknown>> {
  const res = await fetch("http://plugin/", { unix: socket } as RequestInit);
  const body = (await res.json()) as { fleet?: Record<string, unknown> };
  return body.fleet ?? {};
}

function ok(r: RunResult, what: string): RunResult {
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}): ${r.stdout}${r.stderr}`);
  return r;
}

/** A token's nonce, as `agent id create` prints it in its revoke hint. */
function nonceOf(r: RunResult): string {
  const m = /agent id revoke (?:-- )?([A-Za-z0-9_-]{22})/.exec(r.stderr + r.stdout);
  if (m === null) throw new Error(`no nonce in: ${r.stderr}`);
  return m[1]!;
}

function tokenOf(r: RunResult): string {
  return r.stdout.trim().split("\n").pop()!;
}

maybe("a fleet of two agents on a 3-member etcd cluster", () => {
  let cluster: EtcdCluster;
  let root: EtcdClient;
  let dir: string;
  let hostA: GuardedHost;
  let agentB: AgentProcess;
  let stateA: string;
  let stateB: string;
  let socketB: string;
  let argsB: string[];
  let listenPort: number;
  let bobKey: string;
  const delays: Record<string, number> = {};

  const socketA = () => hostA.agent.socket;
  const a = (args: string[]) => agentCli(inStateDir(args, stateA));
  const b = (args: string[]) => agentCli(inStateDir(args, stateB));

  beforeAll(async () => {
    cluster = await startEtcdCluster({ members: 3 });
    dir = tempDir("fleet");
    stateA = cluster.caStateDir;
    stateB = join(dir, "b");
    ok(await a(await fleetInitArgs(cluster, "hosta")), "fleet init");
    root = await cluster.client("root");
    const bundle = join(dir, "hostb.fleet.json");
    ok(await a(["fleet", "add-host", "hostb", "--out", bundle]), "fleet add-host");
    ok(await b(["fleet", "join", bundle]), "fleet join");
    rmSync(bundle);
    // The macaroon keyring and an API key, made on A after init: published to the fleet by the commands.
    ok(await a(["id", "init"]), "id init");
    bobKey = tokenOf(ok(await a(["apikey", "create", "bob"]), "apikey create"));
    listenPort = freePort();
    const dirA = join(dir, "a");
    mkdirSync(dirA, { recursive: true });
    hostA = await startGuardedHost({
      dir: dirA,
      plugin: "agent-fleet-a",
      agent: {
        stateDir: stateA,
        args: [
          "--listen",
          `127.0.0.1:${listenPort}`,
          "--docker-socket",
          join(dirA, "dockerd", "docker.sock"),
        ],
      },
    });
    socketB = join(dir, "b.sock");
    argsB = ["--fleet-max-stale", "3s"];
    agentB = await startAgent({ stateDir: stateB, socket: socketB, args: argsB });
    await waitFor(
      "both agents connected",
      async () =>
        (await fleetStatus(socketA())).connected === true && (await fleetStatus(socketB)).connected === true,
    );
  }, 120_000);

  /** The docker CLI on A's dockerd with a macaroon in config.json (as `agent id set` writes it). */
  function withToken(
    args: string[],
    token: string,
    options: { env?: Record<string, string>; stdin?: string } = {},
  ) {
    const config = join(dir, `docker-config-${token.slice(-8)}`);
    mkdirSync(config, { recursive: true });
    writeFileSync(join(config, "config.json"), JSON.stringify({ HttpHeaders: { "X-Macaroon": token } }));
    return hostA.dockerd.docker(args, { ...options, env: { ...options.env, DOCKER_CONFIG: config } });
  }

  afterAll(async () => {
    console.log(`fleet e2e delays (ms): ${JSON.stringify(delays)}`);
    await agentB?.stop();
    await hostA?.stop();
    await cluster?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("both hosts follow the fleet: the keyring, the API key and the registry", async () => {
    const token = tokenOf(ok(await a(["id", "create"]), "id create"));
    // B never ran `agent id init`: the keyring came from the fleet, sealed with the fleet key.
    expect((await decide(socketB, LIST, { token })).allow).toBe(true);
    expect((await decide(socketB, LIST)).msg).toContain("macaroon");
    expect(readFileSync(join(stateB, "macaroon", "keys.json"), "utf8")).toBe(
      readFileSync(join(stateA, "macaroon", "keys.json"), "utf8"),
    );
    // The keyring in etcd is sealed: no root key in the clear.
    const keys = JSON.parse(readFileSync(join(stateA, "macaroon", "keys.json"), "utf8")) as {
      keys: { key: string }[];
    };
    const stored = new TextDecoder().decode((await root.get("/agent/keyring")).kv!.value);
    for (const k of keys.keys) expect(stored).not.toContain(k.key);
    // bob's API key (made on A) lists the fleet's nodes on A's HTTPS API: A live from its dockerd, and B.
    await waitFor("both nodes in the registry", async () => {
      const r = await b(["fleet", "status", "--json"]);
      const nodes = (JSON.parse(r.stdout) as { nodes: { name: string }[] }).nodes.map((n) => n.name);
      return nodes.includes("hosta") && nodes.includes("hostb");
    });
    const caPem = readFileSync(join(stateA, "ca", "cluster.crt"), "utf8");
    // Macaroons are on in this fleet: the API's callers send one too.
    const res = await fetch(`https://127.0.0.1:${listenPort}/api/infra/v1/node/`, {
      headers: { authorization: `Basic ${btoa(`bob:${bobKey}`)}`, "x-macaroon": token },
      tls: { ca: caPem },
    } as RequestInit);
    expect(res.status).toBe(200);
    const list = (await res.json()) as {
      objects: { name: string; agent_name: string; docker_version: string }[];
    };
    expect(list.objects.map((n) => n.agent_name).sort()).toEqual(["hosta", "hostb"]);
    expect(list.objects.find((n) => n.agent_name === "hosta")!.docker_version).not.toBe("");
  });

  test("a certificate revoked through A is refused by B", async () => {
    ok(
      await a(["ca", "create-api-certificate", "alice", "--out", join(dir, "alice")]),
      "create-api-certificate",
    );
    const certPem = readFileSync(join(dir, "alice", "alice.crt"), "utf8");
    expect(
      (await decide(socketB, LIST, { user: "alice", certPem, token: tokenOf(await a(["id", "show"])) }))
        .allow,
    )
      .toBe(true);
    const token = tokenOf(await a(["id", "show"]));
    const revoke = ok(await a(["ca", "revoke", "alice"]), "ca revoke");
    expect(revoke.stderr).toContain("Published to the fleet");
    delays.certificateRevokedAtoB = await msUntil(
      "B refusing alice's certificate",
      async () => !(await decide(socketB, LIST, { user: "alice", certPem, token })).allow,
    );
    expect((await decide(socketB, LIST, { user: "alice", certPem, token })).msg).toContain("revoked");
  });

  test("a macaroon revoked through B (a host's credential) is refused by A and A's dockerd", async () => {
    const made = ok(await a(["id", "create"]), "id create");
    const token = tokenOf(made);
    expect((await withToken(["ps", "-q"], token)).code).toBe(0);
    const revoke = ok(await b(["id", "revoke", "--", nonceOf(made)]), "id revoke on B");
    expect(revoke.stderr).toContain("Published to the fleet");
    delays.macaroonRevokedBtoA = await msUntil(
      "A refusing the token",
      async () => !(await decide(socketA(), LIST, { token })).allow,
    );
    const ps = await withToken(["ps", "-q"], token);
    expect(ps.code).not.toBe(0);
    expect(ps.stderr).toContain("revoked");
  });

  test("a key rotated on A verifies on B", async () => {
    ok(await a(["id", "rotate"]), "id rotate");
    const token = tokenOf(ok(await a(["id", "create"]), "id create"));
    delays.keyRotatedAtoB = await msUntil(
      "B accepting a token of the new key",
      async () => (await decide(socketB, LIST, { token })).allow,
    );
  });

  test("a host's credential cannot publish a policy or make keys; an operator's policy is in force on both", async () => {
    const token = tokenOf(await a(["id", "show"]));
    const refused = await b(["fleet", "publish-policy", writePolicy("second.yaml", SECOND_POLICY)]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("ERR_FLEET_REFUSED");
    const keysBefore = readFileSync(join(stateB, "apikeys.json"), "utf8");
    const key = await b(["apikey", "create", "mallory"]);
    expect(key.code).toBe(1);
    expect(key.stderr).toContain("Nothing changed");
    expect(readFileSync(join(stateB, "apikeys.json"), "utf8")).toBe(keysBefore);
    const rotate = await b(["id", "rotate"]);
    expect(rotate.code).toBe(1);
    // A policy that does not compile is never written.
    const broken = await a([
      "fleet",
      "publish-policy",
      writePolicy("broken.yaml", "version: 1\nrules: [{id: x, allow: nope}]\n"),
    ]);
    expect(broken.code).not.toBe(0);
    expect((await root.get("/agent/policy")).kv!.value.length).toBeGreaterThan(0);
    // bob may list containers until the operator publishes the second policy.
    expect((await decide(socketB, LIST, { user: "bob", token })).allow).toBe(true);
    ok(await a(["fleet", "publish-policy", join(dir, "second.yaml")]), "publish-policy");
    delays.policyPublishedToB = await msUntil(
      "B refusing bob's list",
      async () => !(await decide(socketB, LIST, { user: "bob", token })).allow,
    );
    await msUntil(
      "A refusing bob's list",
      async () => !(await decide(socketA(), LIST, { user: "bob", token })).allow,
    );
    expect((await decide(socketA(), LIST, { user: "bob", token })).msg).toContain("no-list-for-bob");
  });

  function writePolicy(name: string, text: string): string {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  }

  test("hostile values in etcd are refused by every agent; the last good state keeps deciding", async () => {
    const token = tokenOf(await a(["id", "show"]));
    const enc = new TextEncoder();
    const goodPolicy = (await root.get("/agent/policy")).kv!.value;
    const hostile: [string, Uint8Array][] = [
      ["/agent/policy", enc.encode("{not json")],
      [
        "/agent/policy",
        enc.encode(JSON.stringify({ version: 1, text: "rules: [", sha256: "0".repeat(64) })),
      ],
      ["/agent/apikeys", enc.encode(JSON.stringify({ version: 1, file: "x".repeat(1_200_000) }))],
      ["/agent/revoked/not-a-nonce", enc.encode("{}")],
      ["/agent/keyring", enc.encode(JSON.stringify({ version: 1, sealed: "AAAA" }))],
    ];
    for (const [key, value] of hostile) {
      const logA = hostA.agent.log().length;
      const logB = agentB.log().length;
      await root.put(key, value);
      for (const [agent, from] of [[hostA.agent, logA], [agentB, logB]] as const) {
        await waitFor(
          `a refusal of ${key} in the log`,
          () => Promise.resolve(agent.log().slice(from).includes("fleet: refusing")),
          10_000,
        );
      }
    }
    // Still deciding with the last good policy (bob refused the list, the token accepted).
    expect((await decide(socketB, LIST, { token })).allow).toBe(true);
    expect((await decide(socketB, LIST, { user: "bob", token })).allow).toBe(false);
    expect((await decide(socketA(), LIST, { token })).allow).toBe(true);
    // The operator puts things right: a good policy and keyring apply again.
    await root.put("/agent/policy", goodPolicy);
    ok(await a(["id", "rotate"]), "id rotate after the hostile keyring");
    const fresh = tokenOf(ok(await a(["id", "create"]), "id create"));
    await msUntil(
      "B accepting a token after the keyring is repaired",
      async () => (await decide(socketB, LIST, { token: fresh })).allow,
    );
    await root.delete("/agent/revoked/not-a-nonce");
  });

  test("the member B watches is killed, then frozen: no change is lost", async () => {
    for (const how of ["killed", "frozen"] as const) {
      const endpoint = String((await fleetStatus(socketB)).endpoint);
      const index = cluster.endpoints.indexOf(endpoint);
      expect(index).toBeGreaterThanOrEqual(0);
      const member = cluster.member(index);
      const made = ok(await a(["id", "create"]), "id create");
      const token = tokenOf(made);
      expect((await decide(socketB, LIST, { token })).allow).toBe(true);
      if (how === "killed") await member.kill();
      else member.stop();
      try {
        // The revocation goes through A (its client moves to a live member itself).
        ok(await a(["id", "revoke", "--", nonceOf(made)]), `id revoke with the member ${how}`);
        delays[`revokedWithMember${how === "killed" ? "Killed" : "Frozen"}`] = await msUntil(
          `B refusing the token with its member ${how}`,
          async () => !(await decide(socketB, LIST, { token })).allow,
        );
        expect(String((await fleetStatus(socketB)).endpoint)).not.toBe(endpoint);
      } finally {
        if (how === "killed") await member.start();
        else member.cont();
      }
    }
    // Every revocation made through A is on B.
    const revokedA = JSON.parse(readFileSync(join(stateA, "macaroon", "revoked.json"), "utf8")) as {
      revoked: { nonce: string }[];
    };
    const revokedB = new Set(
      (JSON.parse(readFileSync(join(stateB, "macaroon", "revoked.json"), "utf8")) as {
        revoked: { nonce: string }[];
      }).revoked
        .map((r) => r.nonce),
    );
    for (const r of revokedA.revoked) expect(revokedB.has(r.nonce)).toBe(true);
  }, 90_000);

  test("B cut off while revisions are compacted: it lists again and misses nothing", async () => {
    // B's member is frozen and so is B: the changes below never reach B's watch. Then that member dies, so
    // B's watch ends with nothing buffered, and B resumes from a revision etcd has compacted away.
    const endpoint = String((await fleetStatus(socketB)).endpoint);
    const member = cluster.member(cluster.endpoints.indexOf(endpoint));
    const tokens: string[] = [];
    const nonces: string[] = [];
    member.stop();
    process.kill(agentB.pid, "SIGSTOP");
    try {
      for (let i = 0; i < 3; i++) {
        const made = ok(await a(["id", "create"]), "id create");
        tokens.push(tokenOf(made));
        nonces.push(nonceOf(made));
        ok(await a(["id", "revoke", "--", nonceOf(made)]), "id revoke");
      }
      // The compaction must come after all three are in etcd, or B simply watches the late ones arrive (seen
      // once in CI: the last revocations reached etcd after the compaction).
      await waitFor("the three revocations in etcd", async () => {
        for (const nonce of nonces) {
          if ((await root.get(`/agent/revoked/${nonce}`)).kv === undefined) return false;
        }
        return true;
      }, 20_000);
      const { revision } = await root.get("/agent/policy");
      await cluster.compact(revision);
      // Killed while still frozen: a member let run first could deliver the changes to B's socket.
      await member.kill();
    } finally {
      process.kill(agentB.pid, "SIGCONT");
    }
    try {
      delays.reListAfterCompaction = await msUntil(
        "B refusing every token revoked while it was away",
        async () => {
          for (const token of tokens) if ((await decide(socketB, LIST, { token })).allow) return false;
          return true;
        },
        20_000,
      );
      expect(agentB.log()).toContain("listing everything again");
    } finally {
      await member.start();
    }
  }, 90_000);

  test(
    "all of etcd away: B decides from its snapshot, says how stale, queues a revocation; all applied after",
    async () => {
      const made = ok(await a(["id", "create"]), "id create");
      const token = tokenOf(made);
      const keysBefore = readFileSync(join(stateA, "macaroon", "keys.json"), "utf8");
      for (let i = 0; i < 3; i++) await cluster.member(i).kill();
      try {
        await waitFor(
          "B saying it lost etcd",
          async () => (await fleetStatus(socketB)).connected === false,
          15_000,
        );
        expect((await decide(socketB, LIST, { token })).allow).toBe(true);
        // An operator's change is refused while etcd is away, and nothing changes here.
        const rotate = await a(["id", "rotate"]);
        expect(rotate.code).toBe(1);
        expect(rotate.stderr).toContain("Nothing changed");
        expect(readFileSync(join(stateA, "macaroon", "keys.json"), "utf8")).toBe(keysBefore);
        // A revocation on B applies here at once and is queued for the fleet.
        const revoke = ok(await b(["id", "revoke", "--", nonceOf(made)]), "id revoke with etcd away");
        expect(revoke.stderr).toContain("queued");
        await msUntil(
          "B refusing the token it revoked",
          async () => !(await decide(socketB, LIST, { token })).allow,
        );
        expect((await decide(socketA(), LIST, { token })).allow).toBe(true);
        // Past --fleet-max-stale (3 s here) B refuses writes and goes on reading.
        await waitFor(
          "B past its staleness limit",
          async () => Number((await fleetStatus(socketB)).staleSeconds) > 3,
          15_000,
        );
        const other = tokenOf(await a(["id", "show"]));
        const create = await decide(socketB, CREATE, { token: other });
        expect(create.allow).toBe(false);
        expect(create.msg).toContain("not heard from the fleet");
        expect((await decide(socketB, LIST, { token: other })).allow).toBe(true);
        const doctor = await b(["doctor", "--socket", socketB]);
        expect(doctor.stdout + doctor.stderr).toMatch(
          /fleet +member hostb of the fleet \/agent\/: etcd unreachable for \d+ s/,
        );
        expect(doctor.stdout + doctor.stderr).toContain("writes are refused");
        // A restart with etcd away starts from the snapshot.
        await agentB.stop();
        agentB = await startAgent({ stateDir: stateB, socket: socketB, args: argsB });
        expect(agentB.log()).toContain("starting from the snapshot");
        expect((await decide(socketB, LIST, { token })).allow).toBe(false);
      } finally {
        // Together: one member alone has no quorum and never becomes ready.
        await Promise.all(
          [0, 1, 2].filter((i) => !cluster.member(i).running).map((i) => cluster.member(i).start()),
        );
      }
      delays.queuedRevocationToA = await msUntil(
        "A refusing the token B revoked while etcd was away",
        async () => !(await decide(socketA(), LIST, { token })).allow,
        30_000,
      );
      await waitFor("B connected again", async () => (await fleetStatus(socketB)).connected === true, 15_000);
      const other = tokenOf(await a(["id", "show"]));
      expect((await decide(socketB, CREATE, { token: other })).allow).toBe(true);
    },
    120_000,
  );
});
