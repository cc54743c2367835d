/**
 * Fleet mode on a real 3-member etcd cluster (tests/e2e/etcd-harness.ts: Debian's etcd, client TLS from the
 * agent's CA, auth on), beside the single host, in the same run. Needs etcd only (no dockerd, no root):
 * decisions are POSTs of AuthZReq to an agent's plugin socket, as dockerd would send them.
 * Host A is the operator's (the CA, the root etcd credential: `fleet init --setup-auth`); host B joined
 * with a bundle from `fleet add-host`; host S is a single host (a copy of B's state without fleet/, the
 * fleet's policy as --policy). Each is a separate `agent serve` process run from source with Bun.
 *  1. Propagation, a change made on A until B enforces it, B polled with AuthZReq every 1-2 ms from the
 *     moment the change starts: a macaroon revoked with `agent id revoke NONCE` (minted with `agent id
 *     create`), an api certificate with `agent ca revoke NAME`, a policy with `agent fleet publish-policy`;
 *     timed from the command's start and from its exit (a command on a member returns only after etcd took
 *     the change and this host's own agent confirmed it, so B often refuses before A's command is done: a
 *     negative figure). More precise: a revocation key put into etcd with the root client
 *     (/agent/revoked/NONCE, fleet/values.ts encodeRevoked), timed from the put and from its ack.
 *     Baselines on S: `agent id revoke` until S itself refuses, and revoked.json / the policy file written
 *     directly until S enforces it (S picks file changes up on its 0.5 s poll; B reloads on the watch event).
 *  2. Watch fan-out: BENCH_WATCHERS (default 1,000) watches on the fleet prefix of one member, from this one
 *     process (the project's connectEtcd clients, BENCH_WATCH_CLIENTS of them, default 20), each with the
 *     agent's own watch options; a key is put and the time until the first and the last watcher has the
 *     event is taken, BENCH_WATCH_ROUNDS times (default 20). Baseline: one watcher alone, same member.
 *     The last watcher's time includes this process handling the others' events before it.
 *  3. Memory: VmRSS of `agent serve` on B (fleet) and on S (same state, no fleet) after start and after
 *     BENCH_CALLS AuthZReq calls (default 2,000).
 * BENCH_REVOKES: macaroon revocations through the CLI (default 40, and as many on S); BENCH_CERT_REVOKES
 * (default 8); BENCH_POLICIES (default 8); BENCH_DIRECT: revocations put into etcd directly (default 100).
 * Everything started is stopped by pid; every directory made is removed (also on SIGINT and SIGTERM).
 */
import { cpSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import type { EtcdClient, EtcdEvent } from "../src/fleet/etcd.ts";
import { encodeRevoked } from "../src/fleet/values.ts";
import { loadKeyring, loadRevocations, mintToken, saveRevocations } from "../src/macaroon/index.ts";
import { DEMO_POLICY } from "../src/policy/index.ts";
import { connectEtcd } from "../src/runtime/etcd-grpc.ts";
import { nodeFileSystem } from "../src/runtime/node-file-system.ts";
import { stateLayout } from "../src/store/layout.ts";
import {
  type EtcdCluster,
  etcdUnavailable,
  fleetInitArgs,
  startEtcdCluster,
} from "../tests/e2e/etcd-harness.ts";
import {
  agentCli,
  type AgentProcess,
  pluginCall,
  type RunResult,
  startAgent,
  tempDir,
  waitFor,
} from "../tests/e2e/harness.ts";

function envInteger(name: string, fallback: number, min: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be a whole number >= ${min}`);
  return value;
}

const REVOKES = envInteger("BENCH_REVOKES", 40, 1);
const CERT_REVOKES = envInteger("BENCH_CERT_REVOKES", 8, 1);
const POLICIES = envInteger("BENCH_POLICIES", 8, 1);
const DIRECT = envInteger("BENCH_DIRECT", 100, 1);
const FILE_WRITES = 20;
const WATCHERS = envInteger("BENCH_WATCHERS", 1000, 1);
const WATCH_CLIENTS = envInteger("BENCH_WATCH_CLIENTS", 20, 1);
const WATCH_ROUNDS = envInteger("BENCH_WATCH_ROUNDS", 20, 1);
const CALLS = envInteger("BENCH_CALLS", 2000, 1);
const PROBE_TIMEOUT_MS = 15_000;
const PREFIX = "/agent/";

const LIST = { RequestMethod: "GET", RequestUri: "/v1.41/containers/json" };
/** The demo policy, and one that also refuses bob the container list (the published policy to see apply). */
const SECOND_POLICY = DEMO_POLICY.replace(
  "rules:\n",
  "rules:\n  - id: no-list-for-bob\n    who: [bob]\n    deny: [container:list]\n",
);

// ---------------------------------------------------------------- figures

/** Nearest rank: with fewer than 100 values p99 is the largest. */
function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(sorted.length * p) - 1))]!;
}

/** A pause out of step with an agent's 0.5 s file poll (so a baseline is not phase-locked to it). */
const outOfStep = () => Bun.sleep(Math.random() * 500);

interface Stats {
  readonly n: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly min: number;
}

function stats(values: readonly number[]): Stats {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    n: sorted.length,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    max: sorted.at(-1)!,
    min: sorted[0]!,
  };
}

const fmt = (n: number, digits = 1) => n.toFixed(digits);
const thousands = (n: number) => Math.round(n).toLocaleString("en-US");
const mib = (kib: number) => `${fmt(kib / 1024)} MiB`;

function rssKiB(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!match?.[1]) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]);
}

// ---------------------------------------------------------------- decisions

interface Who {
  readonly user?: string;
  readonly token?: string;
  readonly certPem?: string;
}

async function decide(socket: string, who: Who): Promise<{ allow: boolean; msg: string }> {
  const res = await pluginCall(
    socket,
    "/AuthZPlugin.AuthZReq",
    JSON.stringify({
      ...LIST,
      ...(who.user === undefined ? {} : { User: who.user }),
      ...(who.token === undefined ? {} : { RequestHeaders: { "X-Macaroon": who.token } }),
      ...(who.certPem === undefined ? {} : { RequestPeerCertificates: [btoa(who.certPem)] }),
    }),
  );
  return { allow: res.json["Allow"] === true, msg: String(res.json["Msg"] ?? "") };
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

/** `args` with --state-dir DIR before a `--` (a nonce may start with "-": it goes after `--`). */
function withStateDir(args: readonly string[], dir: string): string[] {
  const dashes = args.indexOf("--");
  const at = dashes < 0 ? args.length : dashes;
  return [...args.slice(0, at), "--state-dir", dir, ...args.slice(at)];
}

function tokenOf(r: RunResult): string {
  return r.stdout.trim().split("\n").pop()!;
}

// ---------------------------------------------------------------- a change, timed until it is enforced

/** Polls counted over the whole run: the mean interval between two probes of the same change. */
const polling = { probes: 0, ms: 0 };

interface Timed {
  /** From the change's start (spawn, put, write) to the first answer that shows it enforced. */
  readonly fromStart: number;
  /** From the change's end (the command's exit, the put's ack) to that answer (negative: enforced before). */
  readonly fromEnd: number;
  /** How long the change itself took (the command, the put). */
  readonly change: number;
}

/**
 * Starts `change` and, at the same moment, probes every ~1 ms (a probe is one AuthZReq) until `enforced`;
 * the time is when the first probe that saw it enforced was answered.
 */
async function timeUntil(change: () => Promise<void>, enforced: () => Promise<boolean>): Promise<Timed> {
  const start = performance.now();
  let end = Number.NaN;
  const changing = change().then(() => {
    end = performance.now();
  });
  let failed: unknown;
  changing.catch((err) => (failed = err));
  let probes = 0;
  let hit: number | undefined;
  while (hit === undefined) {
    if (failed !== undefined) throw failed;
    const seen = await enforced();
    probes++;
    const at = performance.now();
    if (seen) hit = at;
    else if (at - start > PROBE_TIMEOUT_MS) {
      throw new Error(`not enforced ${PROBE_TIMEOUT_MS} ms after the change started`);
    } else await Bun.sleep(1);
  }
  await changing;
  polling.probes += probes;
  polling.ms += hit - start;
  return { fromStart: hit - start, fromEnd: hit - end, change: end - start };
}

// ---------------------------------------------------------------- the bench

interface Series {
  readonly name: string;
  readonly timed: Timed[];
  /** What "end" means for this series. */
  readonly endIs: string;
}

interface WatchRound {
  readonly first: number;
  readonly last: number;
  readonly ack: number;
}

async function stopAgent(agent: AgentProcess | undefined): Promise<void> {
  if (agent === undefined) return;
  const timer = setTimeout(() => {
    try {
      process.kill(agent.pid, "SIGKILL");
    } catch {
      // gone already
    }
  }, 5_000);
  await agent.stop().catch(() => undefined);
  clearTimeout(timer);
}

async function bench(dir: string, cleanups: (() => Promise<void>)[]): Promise<void> {
  const t0 = performance.now();
  const loadAtStart = loadavg().map((l) => fmt(l, 2)).join(" ");
  const cluster: EtcdCluster = await startEtcdCluster({ members: 3 });
  cleanups.push(() => cluster.stop());
  const stateA = cluster.caStateDir;
  const stateB = join(dir, "b");
  const stateS = join(dir, "s");
  const a = (args: string[]) => agentCli(withStateDir(args, stateA));
  const b = (args: string[]) => agentCli(withStateDir(args, stateB));
  const s = (args: string[]) => agentCli(withStateDir(args, stateS));
  ok(await a(await fleetInitArgs(cluster, "hosta")), "fleet init");
  ok(await a(["id", "init"]), "id init");
  const bundle = join(dir, "hostb.fleet.json");
  ok(await a(["fleet", "add-host", "hostb", "--out", bundle]), "fleet add-host");
  ok(await b(["fleet", "join", bundle]), "fleet join");
  rmSync(bundle);
  const root = await cluster.client("root");

  const agents: AgentProcess[] = [];
  cleanups.push(async () => {
    for (const agent of agents.splice(0)) await stopAgent(agent);
  });
  const socketA = join(dir, "a.sock");
  const socketB = join(dir, "b.sock");
  const socketS = join(dir, "s.sock");
  const agentA = await startAgent({ stateDir: stateA, socket: socketA });
  agents.push(agentA);
  const agentB = await startAgent({ stateDir: stateB, socket: socketB });
  agents.push(agentB);
  await waitFor(
    "A and B connected to etcd",
    async () =>
      (await fleetStatus(socketA)).connected === true && (await fleetStatus(socketB)).connected === true,
    20_000,
  );
  const keysA = readFileSync(join(stateA, "macaroon", "keys.json"), "utf8");
  await waitFor(
    "B holding the fleet's keyring",
    () => Promise.resolve(readFileSync(join(stateB, "macaroon", "keys.json"), "utf8") === keysA),
    10_000,
  );

  // S: B's state without the fleet (same keyring, CA certificate, CRL, revocations), the fleet's policy.
  cpSync(stateB, stateS, { recursive: true });
  for (const gone of ["fleet", "serving.json", "serve.log", "audit.log"]) {
    rmSync(join(stateS, gone), { recursive: true, force: true });
  }
  const policyS = join(dir, "s-policy.yaml");
  writeFileSync(policyS, readFileSync(join(stateB, "fleet", "policy.yaml"), "utf8"));
  const agentS = await startAgent({ stateDir: stateS, socket: socketS, policyFile: policyS });
  agents.push(agentS);
  const setupMs = performance.now() - t0;

  const rootToken = tokenOf(ok(await a(["id", "show"]), "id show"));
  for (const [name, socket] of [["A", socketA], ["B", socketB], ["S", socketS]] as const) {
    const d = await decide(socket, { token: rootToken });
    if (!d.allow) throw new Error(`${name} refuses the root macaroon: ${d.msg}`);
  }

  // ---- 3. memory (first: both agents fresh)
  await Bun.sleep(2_000);
  const rss = {
    b: { start: rssKiB(agentB.pid), busy: 0 },
    s: { start: rssKiB(agentS.pid), busy: 0 },
  };
  for (const [side, socket] of [["b", socketB], ["s", socketS]] as const) {
    for (let i = 0; i < CALLS; i++) {
      if (!(await decide(socket, { token: rootToken })).allow) throw new Error(`${side} refused call ${i}`);
    }
  }
  await Bun.sleep(1_000);
  rss.b.busy = rssKiB(agentB.pid);
  rss.s.busy = rssKiB(agentS.pid);

  // ---- 1. propagation
  const series: Series[] = [];
  const refusesOn = (socket: string, who: Who, word: string) => async () => {
    const d = await decide(socket, who);
    if (!d.allow && !d.msg.includes(word)) throw new Error(`refused for another reason: ${d.msg}`);
    return !d.allow;
  };

  // Macaroons through the CLI on A, enforced on B.
  const cliMacaroon: Timed[] = [];
  let leftOut = 0;
  for (let i = 0; i < REVOKES; i++) {
    const made = ok(await a(["id", "create"]), "id create");
    const token = tokenOf(made);
    if (!(await decide(socketB, { token })).allow) throw new Error("B refuses a fresh token");
    const timed = await timeUntil(async () => {
      const r = ok(await a(["id", "revoke", "--", nonceOf(made)]), "id revoke");
      if (!r.stderr.includes("Published to the fleet")) leftOut++;
    }, refusesOn(socketB, { token }, "revoked"));
    cliMacaroon.push(timed);
    await outOfStep();
  }
  if (leftOut > 0) throw new Error(`${leftOut} revocations did not say they were published to the fleet`);
  series.push({ name: "macaroon: `agent id revoke` on A, B refuses", timed: cliMacaroon, endIs: "exit" });

  // Certificates through the CLI on A (a new api certificate for alice each time: ops, allowed).
  const certs: Timed[] = [];
  for (let i = 0; i < CERT_REVOKES; i++) {
    const out = join(dir, "certs", String(i));
    mkdirSync(out, { recursive: true });
    ok(await a(["ca", "create-api-certificate", "alice", "--out", out]), "create-api-certificate");
    const certPem = readFileSync(join(out, "alice.crt"), "utf8");
    const who = { user: "alice", certPem, token: rootToken };
    await waitFor(
      "B accepting alice's new certificate",
      async () => (await decide(socketB, who)).allow,
      10_000,
    );
    certs.push(
      await timeUntil(async () => {
        ok(await a(["ca", "revoke", "alice", "--kind", "api"]), "ca revoke");
      }, refusesOn(socketB, who, "revoked")),
    );
    await outOfStep();
  }
  series.push({ name: "certificate: `agent ca revoke` on A, B refuses", timed: certs, endIs: "exit" });

  // Policies through the CLI on A: the second policy (bob refused the list), then the demo again.
  const policyFiles = [join(dir, "second.yaml"), join(dir, "demo.yaml")];
  writeFileSync(policyFiles[0]!, SECOND_POLICY);
  writeFileSync(policyFiles[1]!, DEMO_POLICY);
  const bob = { user: "bob", token: rootToken };
  const policies: Timed[] = [];
  for (let i = 0; i < POLICIES; i++) {
    const refuse = i % 2 === 0;
    if ((await decide(socketB, bob)).allow !== refuse) throw new Error("B is not on the expected policy");
    policies.push(
      await timeUntil(async () => {
        ok(await a(["fleet", "publish-policy", policyFiles[i % 2]!]), "publish-policy");
      }, async () => (await decide(socketB, bob)).allow !== refuse),
    );
    await outOfStep();
  }
  if (!(await decide(socketB, bob)).allow) {
    ok(await a(["fleet", "publish-policy", policyFiles[1]!]), "publish-policy (back to the demo)");
  }
  series.push({
    name: "policy: `agent fleet publish-policy` on A, B applies",
    timed: policies,
    endIs: "exit",
  });

  // Revocations put into etcd directly (as root), enforced on B.
  const keyring = await loadKeyring(nodeFileSystem, stateLayout(stateA));
  if (keyring === undefined) throw new Error("A has no keyring");
  const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));
  const direct: Timed[] = [];
  for (let i = 0; i < DIRECT; i++) {
    const { token, nonce } = mintToken(keyring, random, []);
    if (!(await decide(socketB, { token })).allow) throw new Error("B refuses a token minted here");
    const value = encodeRevoked({ nonce, revokedAt: new Date().toISOString(), by: "bench" });
    direct.push(
      await timeUntil(async () => {
        await root.put(`${PREFIX}revoked/${nonce}`, value);
      }, refusesOn(socketB, { token }, "revoked")),
    );
    await Bun.sleep(10);
  }
  series.push({
    name: "macaroon: revocation key put into etcd (root client), B refuses",
    timed: direct,
    endIs: "ack",
  });

  // Baselines on the single host S.
  const single: Timed[] = [];
  for (let i = 0; i < REVOKES; i++) {
    const made = ok(await s(["id", "create"]), "id create on S");
    const token = tokenOf(made);
    if (!(await decide(socketS, { token })).allow) throw new Error("S refuses a fresh token");
    single.push(
      await timeUntil(async () => {
        ok(await s(["id", "revoke", "--", nonceOf(made)]), "id revoke on S");
      }, refusesOn(socketS, { token }, "revoked")),
    );
    await outOfStep();
  }
  series.push({
    name: "(baseline) single host: `agent id revoke` on S, S refuses",
    timed: single,
    endIs: "exit",
  });

  const layoutS = stateLayout(stateS);
  const keyringS = await loadKeyring(nodeFileSystem, layoutS);
  if (keyringS === undefined) throw new Error("S has no keyring");
  const fileWrites: Timed[] = [];
  for (let i = 0; i < FILE_WRITES; i++) {
    const { token, nonce } = mintToken(keyringS, random, []);
    if (!(await decide(socketS, { token })).allow) throw new Error("S refuses a token minted here");
    const before = await loadRevocations(nodeFileSystem, layoutS);
    fileWrites.push(
      await timeUntil(async () => {
        await saveRevocations(nodeFileSystem, layoutS, {
          revoked: [...before.revoked, { nonce, revokedAt: new Date().toISOString() }],
        });
      }, refusesOn(socketS, { token }, "revoked")),
    );
    await outOfStep();
  }
  series.push({
    name: "(baseline) single host: revoked.json written directly, S refuses",
    timed: fileWrites,
    endIs: "write",
  });

  const policyWrites: Timed[] = [];
  for (let i = 0; i < POLICIES; i++) {
    const refuse = i % 2 === 0;
    if ((await decide(socketS, bob)).allow !== refuse) throw new Error("S is not on the expected policy");
    policyWrites.push(
      await timeUntil(() => {
        const temp = `${policyS}.tmp`;
        writeFileSync(temp, refuse ? SECOND_POLICY : DEMO_POLICY);
        renameSync(temp, policyS);
        return Promise.resolve();
      }, async () => (await decide(socketS, bob)).allow !== refuse),
    );
    await outOfStep();
  }
  series.push({
    name: "(baseline) single host: --policy file replaced, S applies",
    timed: policyWrites,
    endIs: "write",
  });
  const pollMs = polling.ms / polling.probes;

  // ---- 2. watch fan-out (the agents stopped: etcd and this process alone)
  for (const agent of agents.splice(0)) await stopAgent(agent);
  const member = 0;
  const only = [cluster.endpoints[member]!];
  const options = await cluster.options("root", only);
  const writer = connectEtcd(options);
  const watchClients: EtcdClient[] = [writer];
  cleanups.push(() => {
    for (const c of watchClients.splice(0)) c.close();
    return Promise.resolve();
  });
  const watchKey = `${PREFIX}bench/watch`;
  const encoder = new TextEncoder();

  /** Opens `count` watches over `clients` fresh clients; resolves when each has heard from its member. */
  async function openWatchers(count: number, clients: number) {
    const made = Array.from({ length: clients }, () => connectEtcd(options));
    watchClients.push(...made);
    const received = new Float64Array(count);
    let round = "";
    let got = 0;
    let done: (() => void) | undefined;
    let heard = 0;
    const ended: string[] = [];
    for (let w = 0; w < count; w++) {
      let alive = false;
      made[w % clients]!.watch(PREFIX, 0, {
        onEvents(events: readonly EtcdEvent[]) {
          const at = performance.now();
          if (!alive) (alive = true, heard++);
          for (const e of events) {
            if (e.kv.key === watchKey && new TextDecoder().decode(e.kv.value) === round) {
              received[w] = at;
              if (++got === count) done?.();
            }
          }
        },
        onProgress() {
          if (!alive) (alive = true, heard++);
        },
        onEnd(error) {
          ended.push(error?.message ?? "closed");
        },
      });
    }
    await waitFor(`${count} watches answering`, () => {
      if (ended.length > 0) throw new Error(`a watch ended: ${ended[0]}`);
      return Promise.resolve(heard === count);
    }, 30_000);
    return {
      close: () => {
        for (const c of made) c.close();
      },
      async round(r: number): Promise<WatchRound> {
        round = `round-${r}-${Math.random()}`;
        got = 0;
        received.fill(0);
        const all = new Promise<void>((resolve) => (done = resolve));
        const start = performance.now();
        await writer.put(watchKey, encoder.encode(round));
        const ack = performance.now() - start;
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          all,
          new Promise((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`only ${got} of ${count} watchers had round ${r}`)),
              20_000,
            );
          }),
        ]);
        clearTimeout(timer);
        if (ended.length > 0) throw new Error(`a watch ended: ${ended[0]}`);
        let first = Infinity;
        let last = 0;
        for (const at of received) {
          first = Math.min(first, at);
          last = Math.max(last, at);
        }
        return { first: first - start, last: last - start, ack };
      },
    };
  }

  async function watchRounds(count: number, clients: number) {
    const before = etcdConnections(cluster.endpoints[member]!);
    const watchers = await openWatchers(count, clients);
    const after = etcdConnections(cluster.endpoints[member]!);
    const connections = before === undefined || after === undefined ? undefined : after - before;
    const rounds: WatchRound[] = [];
    await watchers.round(-1); // warm-up
    for (let r = 0; r < WATCH_ROUNDS; r++) {
      rounds.push(await watchers.round(r));
      await Bun.sleep(100);
    }
    watchers.close();
    return { rounds, connections };
  }
  const rssBeforeWatches = rssKiB(process.pid);
  const alone = await watchRounds(1, 1);
  const many = await watchRounds(WATCHERS, WATCH_CLIENTS);
  const leader = cluster.leader();

  // ---- report
  console.log(
    `\n## Fleet mode on a 3-member etcd cluster (${new Date().toISOString().slice(0, 10)}; setup ${
      fmt(setupMs / 1000)
    } s)`,
  );
  console.log(
    "etcd " + etcdVersion() +
      " x 3 on loopback (client TLS from the agent's CA, auth on); agents A (operator," +
      " CA), B (joined) and S (single host: B's state without fleet/) each `agent serve` from source with Bun " +
      `${Bun.version}; decisions are AuthZReq POSTs to the plugin socket, polled from the change's start ` +
      `(mean ${fmt(pollMs, 2)} ms between probes). "end" is the command's exit, the put's ack or the` +
      " file's rename: a negative figure means the change was enforced before that.",
  );
  console.log(
    "\n| change, until enforced | n | from start p50 | p99 | max | end = | from end p50 | p99 | max |" +
      " the change itself p50 |\n|---|---|---|---|---|---|---|---|---|---|",
  );
  for (const row of series) {
    const from = stats(row.timed.map((t) => t.fromStart));
    const end = stats(row.timed.map((t) => t.fromEnd));
    const change = stats(row.timed.map((t) => t.change));
    console.log(
      `| ${row.name} | ${from.n} | ${fmt(from.p50)} ms | ${fmt(from.p99)} ms | ${
        fmt(from.max)
      } ms | ${row.endIs} | ${fmt(end.p50)} ms | ${fmt(end.p99)} ms | ${fmt(end.max)} ms | ${
        fmt(change.p50)
      } ms |`,
    );
  }
  console.log(
    "(percentiles by nearest rank: with fewer than 100 values p99 is the largest; B and S poll their files" +
      " every 0.5 s, B also reloads at once on a fleet change it wrote)",
  );

  console.log(
    `\n## Watch fan-out: one process, watches on ${PREFIX} of member ${member + 1}${
      leader === member
        ? " (the leader)"
        : leader === undefined
        ? ""
        : ` (not the leader: member ${leader + 1})`
    }, a key put on the same member, ${WATCH_ROUNDS} rounds after one; times from the put's start`,
  );
  console.log(
    "| watchers | clients (gRPC channels) | their TCP connections to the member | first watcher p50 | p99 |" +
      " last watcher p50 | p99 | max | put ack p50 |\n|---|---|---|---|---|---|---|---|---|",
  );
  for (const [count, clients, run] of [[1, 1, alone], [WATCHERS, WATCH_CLIENTS, many]] as const) {
    const first = stats(run.rounds.map((r) => r.first));
    const last = stats(run.rounds.map((r) => r.last));
    const ack = stats(run.rounds.map((r) => r.ack));
    console.log(
      `| ${thousands(count)} | ${clients} | ${run.connections ?? "?"} | ${fmt(first.p50, 2)} ms | ${
        fmt(first.p99, 2)
      } ms | ${fmt(last.p50, 2)} ms | ${fmt(last.p99, 2)} ms | ${fmt(last.max, 2)} ms | ${
        fmt(ack.p50, 2)
      } ms |`,
    );
  }
  console.log(
    `(each watch is its own gRPC bidi stream with the agent's options, a progress request every 1 s; the` +
      " put's ack is read by this same process, behind the watchers' events; this process grew from" +
      ` ${mib(rssBeforeWatches)} to ${mib(rssKiB(process.pid))} RSS)`,
  );

  console.log(`\n## Memory: \`agent serve\` VmRSS, fleet member B beside single host S (same state)`);
  console.log("| | B (fleet) | S (single host) | B - S |\n|---|---|---|---|");
  console.log(
    `| 2 s after start | ${mib(rss.b.start)} | ${mib(rss.s.start)} | ${mib(rss.b.start - rss.s.start)} |`,
  );
  console.log(
    `| after ${thousands(CALLS)} AuthZReq calls (+1 s) | ${mib(rss.b.busy)} | ${mib(rss.s.busy)} | ${
      mib(rss.b.busy - rss.s.busy)
    } |`,
  );

  const row = (name: string) => {
    const found = series.find((x) => x.name.startsWith(name))!;
    return {
      start: stats(found.timed.map((t) => t.fromStart)),
      end: stats(found.timed.map((t) => t.fromEnd)),
    };
  };
  const cli = row("macaroon: `agent id revoke`");
  const put = row("macaroon: revocation key");
  const cert = row("certificate");
  const pol = row("policy");
  const base = row("(baseline) single host: `agent id revoke`");
  const baseFile = row("(baseline) single host: revoked.json");
  const basePolicy = row("(baseline) single host: --policy");
  const manyLast = stats(many.rounds.map((r) => r.last));
  const manyFirst = stats(many.rounds.map((r) => r.first));
  const aloneFirst = stats(alone.rounds.map((r) => r.first));
  console.log("\n## Fleet summary");
  console.log(
    `  macaroon revoked on A -> refused on B:  p50 ${fmt(cli.start.p50)} ms / p99 ${
      fmt(cli.start.p99)
    } ms from \`agent id revoke\` starting (single host S: ${fmt(base.start.p50)} / ${
      fmt(base.start.p99)
    } ms);` +
      ` from its exit p50 ${fmt(cli.end.p50)} ms (S ${fmt(base.end.p50)} ms; negative: before it returned)`,
  );
  console.log(
    `  revocation key put into etcd -> B:    p50 ${fmt(put.end.p50)} ms / p99 ${fmt(put.end.p99)} ms / max ${
      fmt(put.end.max)
    } ms from the ack (${fmt(put.start.p50)} ms from the put); single host, revoked.json written: p50 ${
      fmt(baseFile.start.p50)
    } ms / max ${fmt(baseFile.start.max)} ms (its 0.5 s poll)`,
  );
  console.log(
    `  certificate revoked on A -> B:         p50 ${fmt(cert.start.p50)} ms / max ${
      fmt(cert.start.max)
    } ms from \`agent ca revoke\` starting`,
  );
  console.log(
    `  policy published on A -> B:           p50 ${fmt(pol.start.p50)} ms / max ${
      fmt(pol.start.max)
    } ms from \`agent fleet publish-policy\` starting (single host, policy file replaced: p50 ${
      fmt(basePolicy.start.p50)
    } ms)`,
  );
  console.log(
    `  ${thousands(WATCHERS)} watchers on one member (${WATCH_CLIENTS} clients): last has the event p50 ${
      fmt(manyLast.p50, 2)
    } ms / p99 ${fmt(manyLast.p99, 2)} ms, first p50 ${fmt(manyFirst.p50, 2)} ms (1 watcher alone: p50 ${
      fmt(aloneFirst.p50, 2)
    } ms)`,
  );
  console.log(
    `  agent serve RSS on a fleet member: +${mib(rss.b.start - rss.s.start)} after start, +${
      mib(rss.b.busy - rss.s.busy)
    } after ${thousands(CALLS)} calls (B ${mib(rss.b.busy)}, S ${mib(rss.s.busy)})`,
  );
  console.log(
    `  whole bench ${fmt((performance.now() - t0) / 1000)} s; load average ${
      loadavg().map((l) => fmt(l, 2)).join(" ")
    } at the end (${loadAtStart} at the start, ${cpus().length} cores)`,
  );
}

function etcdVersion(): string {
  const r = Bun.spawnSync(["/usr/bin/etcd", "--version"]);
  return /etcd Version: (\S+)/.exec(r.stdout.toString())?.[1] ?? "?";
}

/** Established TCP connections from this process to `endpoint`'s port (from ss), or undefined without ss. */
function etcdConnections(endpoint: string): number | undefined {
  if (!Bun.which("ss")) return undefined;
  const port = new URL(endpoint).port;
  const r = Bun.spawnSync(["ss", "-Htnp", "state", "established", `( dport = :${port} )`]);
  if (r.exitCode !== 0) return undefined;
  return r.stdout.toString().split("\n").filter((line) => line.includes(`pid=${process.pid},`)).length;
}

const why = etcdUnavailable();
if (why) {
  console.log(`\n(skipping the fleet figures: ${why})`);
} else {
  const dir = tempDir("bench-fleet");
  const cleanups: (() => Promise<void>)[] = [];
  let stopping: Promise<void> | undefined;
  const cleanup = () =>
    stopping ??= (async () => {
      for (const undo of cleanups.splice(0).reverse()) await undo().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    })();
  const onSignal = (signal: NodeJS.Signals) => {
    void cleanup().finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    await bench(dir, cleanups);
  } finally {
    await cleanup();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
