/**
 * Load against the agent as dockerd's authorization plugin: docker CLI clients (alice allowed, bob mostly
 * denied) through a real dockerd with --tlsverify, and a direct generator of mixed AuthZReq payloads on the
 * agent's socket. Every answer is compared with the decision the policy must give.
 *
 *   node_modules/.bin/bun scripts/soak-load.ts [--minutes N]     (default 5; needs root and dockerd)
 *
 * The soak records the agent's RSS every 10 s, rotates a small audit log (--audit-max-bytes) many times and
 * checks that the rotated files stay bounded and that every line of every file parses. It prints a markdown
 * table and exits 1 on any wrong decision, error or corrupt audit line. tests/e2e/load.e2e.test.ts runs the
 * quick version with the same helpers.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  type Dockerd,
  e2eUnavailable,
  type GuardedHost,
  importTinyImage,
  opensslTls,
  startGuardedHost,
  tempDir,
  type TlsFiles,
} from "../tests/e2e/harness.ts";

export const LOAD_POLICY = `version: 1
administrators: [anonymous]
groups:
  ops: [alice]
rules:
  - id: local-admin
    who: [anonymous]
    allow: ["*"]
  - id: ops-all
    who: ["group:ops"]
    allow: ["*"]
  - id: bob-reads
    who: [bob]
    allow: ["container:list", "container:inspect", "image:*", "system:*"]
  - id: nobody-privileged
    who: ["*"]
    deny: ["container:create"]
    when: { privileged: true }
`;

// ---------------------------------------------------------------- the direct generator

interface DirectCase {
  readonly name: string;
  readonly payload: string;
  readonly allow: boolean;
}

const b64 = (text: string) => btoa(text);
const jsonHeaders = (length: number) => ({
  "Content-Type": ["application/json"],
  "Content-Length": [String(length)],
  "User-Agent": ["Docker-Client/20.10.24 (linux)"],
});
function call(user: string | undefined, method: string, uri: string, body?: string): string {
  return JSON.stringify({
    User: user ?? "",
    UserAuthNMethod: user ? "TLS" : "",
    RequestMethod: method,
    RequestUri: uri,
    RequestBody: body === undefined ? undefined : b64(body),
    RequestHeaders: body === undefined
      ? { "User-Agent": ["Docker-Client/20.10.24 (linux)"] }
      : jsonHeaders(body.length),
  });
}
const plainCreate = JSON.stringify({
  Image: "tiny:latest",
  Cmd: ["true"],
  HostConfig: { NetworkMode: "none" },
});
const privilegedCreate = JSON.stringify({
  Image: "tiny:latest",
  Cmd: ["true"],
  HostConfig: { Privileged: true },
});

/** Mixed plugin calls with the decision LOAD_POLICY must give each. */
export const DIRECT_CASES: readonly DirectCase[] = [
  {
    name: "alice lists containers",
    payload: call("alice", "GET", "/v1.41/containers/json?all=1"),
    allow: true,
  },
  { name: "bob lists containers", payload: call("bob", "GET", "/v1.41/containers/json"), allow: true },
  {
    name: "bob inspects an image",
    payload: call("bob", "GET", "/v1.41/images/tiny:latest/json"),
    allow: true,
  },
  {
    name: "alice creates a container",
    payload: call("alice", "POST", "/v1.41/containers/create?name=x", plainCreate),
    allow: true,
  },
  {
    name: "alice creates a privileged container",
    payload: call("alice", "POST", "/v1.41/containers/create", privilegedCreate),
    allow: false,
  },
  {
    name: "bob creates a volume",
    payload: call("bob", "POST", "/v1.41/volumes/create", '{"Name":"v"}'),
    allow: false,
  },
  {
    name: "bob creates a container through %2F",
    payload: call("bob", "POST", "/v1.41/containers%2Fcreate", plainCreate),
    allow: false,
  },
  { name: "carol (unknown) asks for info", payload: call("carol", "GET", "/v1.41/info"), allow: false },
  { name: "anonymous removes a volume", payload: call(undefined, "DELETE", "/v1.41/volumes/v"), allow: true },
  {
    name: "alice sends duplicate HostConfig keys",
    payload: call(
      "alice",
      "POST",
      "/v1.41/containers/create",
      '{"Image":"tiny","HostConfig":{"Privileged":true},"HostConfig":{}}',
    ),
    allow: false,
  },
];

export interface DirectResult {
  readonly requests: number;
  readonly wrong: number;
  readonly errors: number;
  readonly ms: number;
  readonly perSecond: number;
  readonly firstProblem: string | undefined;
}

/** `requests` plugin calls at `concurrency`, stopping early at `deadlineMs` (epoch ms). */
export async function directLoad(
  socket: string,
  options: { requests: number; concurrency: number; deadlineMs: number },
): Promise<DirectResult> {
  let next = 0;
  let wrong = 0;
  let errors = 0;
  let firstProblem: string | undefined;
  const started = performance.now();
  const worker = async () => {
    while (next < options.requests && Date.now() < options.deadlineMs) {
      const c = DIRECT_CASES[next++ % DIRECT_CASES.length]!;
      try {
        const res = await fetch("http://plugin/AuthZPlugin.AuthZReq", {
          method: "POST",
          body: c.payload,
          unix: socket,
        } as RequestInit);
        const answer = (await res.json()) as { Allow?: unknown };
        if (res.status !== 200 || answer.Allow !== c.allow) {
          wrong++;
          firstProblem ??= `${c.name}: HTTP ${res.status} ${JSON.stringify(answer)}`;
        }
      } catch (err) {
        errors++;
        firstProblem ??= `${c.name}: ${(err as Error).message}`;
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const ms = performance.now() - started;
  const requests = Math.min(next, options.requests);
  return { requests, wrong, errors, ms, perSecond: requests / (ms / 1000), firstProblem };
}

// ---------------------------------------------------------------- docker CLI clients

interface CliStep {
  readonly args: (tag: string) => string[];
  readonly allow: boolean;
}

const ALICE_STEPS: readonly CliStep[] = [
  { args: () => ["ps", "-a", "-q"], allow: true },
  { args: (t) => ["volume", "create", `la-${t}`], allow: true },
  { args: (t) => ["volume", "rm", `la-${t}`], allow: true },
  { args: () => ["run", "--rm", "--privileged", "--network", "none", "tiny:latest", "true"], allow: false },
  { args: (t) => ["create", "--network", "none", "--name", `lc-${t}`, "tiny:latest", "true"], allow: true },
  { args: (t) => ["rm", `lc-${t}`], allow: true },
];
const BOB_STEPS: readonly CliStep[] = [
  { args: () => ["ps", "-a", "-q"], allow: true },
  { args: (t) => ["volume", "create", `lb-${t}`], allow: false },
  { args: () => ["images", "-q"], allow: true },
  { args: () => ["volume", "ls", "-q"], allow: false },
  { args: () => ["run", "--rm", "--network", "none", "tiny:latest", "true"], allow: false },
];

export interface CliResult {
  readonly commands: number;
  readonly denied: number;
  readonly wrong: number;
  readonly ms: number;
  readonly perSecond: number;
  readonly firstProblem: string | undefined;
}

/** `clients` concurrent docker CLI loops (even: alice, odd: bob) until `durationMs` has passed. */
export async function cliLoad(
  dockerd: Dockerd,
  tls: TlsFiles,
  options: { clients: number; durationMs: number; maxCommandsPerClient?: number },
): Promise<CliResult> {
  let commands = 0;
  let denied = 0;
  let wrong = 0;
  let firstProblem: string | undefined;
  const started = performance.now();
  const end = Date.now() + options.durationMs;
  const limit = options.maxCommandsPerClient ?? 10_000;
  const client = async (i: number) => {
    const user = i % 2 === 0 ? "alice" : "bob";
    const steps = user === "alice" ? ALICE_STEPS : BOB_STEPS;
    for (let n = 0; n < limit && Date.now() < end; n++) {
      // Whole rounds only, so every create is followed by its remove.
      for (const step of steps) {
        const args = step.args(`${process.pid}-${i}-${n}`);
        const r = await dockerd.dockerTls(tls.certPath(user), args);
        commands++;
        const deniedByPlugin = r.code !== 0 && r.stderr.includes("authorization denied by plugin");
        if (deniedByPlugin) denied++;
        if (step.allow ? r.code !== 0 : !deniedByPlugin) {
          wrong++;
          firstProblem ??= `${user} docker ${args.join(" ")}: exit ${r.code}: ${
            r.stderr.trim().slice(0, 300)
          }`;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: options.clients }, (_, i) => client(i)));
  const ms = performance.now() - started;
  return { commands, denied, wrong, ms, perSecond: commands / (ms / 1000), firstProblem };
}

// ---------------------------------------------------------------- audit log and memory

export interface AuditScan {
  readonly files: string[];
  readonly lines: number;
  readonly corrupt: number;
  readonly denied: number;
}

/** Every audit file (audit.log and its rotations), every line parsed. */
export function scanAudit(stateDir: string): AuditScan {
  const files = readdirSync(stateDir).filter((f) => /^audit\.log(\.\d+)?$/.test(f)).sort();
  let lines = 0;
  let corrupt = 0;
  let denied = 0;
  for (const f of files) {
    const text = readFileSync(join(stateDir, f), "utf8");
    for (const line of text.split("\n")) {
      if (line === "") continue;
      lines++;
      try {
        const e = JSON.parse(line) as Record<string, unknown>;
        if (typeof e["decisionId"] !== "string") corrupt++;
        if (e["allow"] === false && e["phase"] === "request") denied++;
      } catch {
        corrupt++;
      }
    }
  }
  return { files, lines, corrupt, denied };
}

/** Waits until the audit log stops growing (the sink batches writes every 20 ms). */
export async function settleAudit(stateDir: string, timeoutMs = 15_000): Promise<AuditScan> {
  const deadline = Date.now() + timeoutMs;
  let last = scanAudit(stateDir);
  while (Date.now() < deadline) {
    await Bun.sleep(300);
    const now = scanAudit(stateDir);
    if (now.lines === last.lines) return now;
    last = now;
  }
  return last;
}

/** Resident set size of a process in KiB, from /proc. */
export function rssKiB(pid: number): number {
  const status = existsSync(`/proc/${pid}/status`) ? readFileSync(`/proc/${pid}/status`, "utf8") : "";
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? "0");
}

/** A guarded host (TLS dockerd + agent from source) with alice and bob, and the tiny image imported. */
export async function startLoadHost(
  prefix: string,
  agentArgs: string[] = [],
): Promise<{ host: GuardedHost; tls: TlsFiles; dir: string; stateDir: string }> {
  const dir = tempDir(prefix);
  const tls = await opensslTls(join(dir, "tls"), ["alice", "bob"]);
  writeFileSync(join(dir, "policy.yaml"), LOAD_POLICY);
  const stateDir = join(dir, "state");
  const host = await startGuardedHost({
    dir,
    plugin: `agent-${prefix}-${process.pid}`,
    agent: { stateDir, policyFile: join(dir, "policy.yaml"), args: agentArgs },
    tls: { ca: tls.ca, cert: tls.serverCert, key: tls.serverKey },
  });
  try {
    await importTinyImage(host.dockerd, dir);
  } catch (err) {
    await host.stop();
    throw err;
  }
  return { host, tls, dir, stateDir };
}

// ---------------------------------------------------------------- the soak

async function soak(minutes: number): Promise<boolean> {
  const AUDIT_MAX_BYTES = 256 * 1024;
  const { host, tls, stateDir } = await startLoadHost("soak-load", [
    "--audit-max-bytes",
    String(AUDIT_MAX_BYTES),
  ]);
  const samples: number[] = [];
  let direct = { requests: 0, wrong: 0, errors: 0, ms: 0 };
  let cli = { commands: 0, denied: 0, wrong: 0, ms: 0 };
  const problems: string[] = [];
  let maxFiles = 0;
  const end = Date.now() + minutes * 60_000;
  const sampler = setInterval(() => samples.push(rssKiB(host.agent.pid)), 10_000);
  samples.push(rssKiB(host.agent.pid));
  try {
    while (Date.now() < end) {
      const left = end - Date.now();
      const [d, c] = await Promise.all([
        directLoad(host.agent.socket, {
          requests: 20_000,
          concurrency: 16,
          deadlineMs: Date.now() + Math.min(left, 8_000),
        }),
        cliLoad(host.dockerd, tls, { clients: 4, durationMs: Math.min(left, 8_000) }),
      ]);
      direct = {
        requests: direct.requests + d.requests,
        wrong: direct.wrong + d.wrong,
        errors: direct.errors + d.errors,
        ms: direct.ms + d.ms,
      };
      cli = {
        commands: cli.commands + c.commands,
        denied: cli.denied + c.denied,
        wrong: cli.wrong + c.wrong,
        ms: cli.ms + c.ms,
      };
      for (const p of [d.firstProblem, c.firstProblem]) if (p && problems.length < 5) problems.push(p);
      const files = readdirSync(stateDir).filter((f) => /^audit\.log(\.\d+)?$/.test(f));
      maxFiles = Math.max(maxFiles, files.length);
    }
  } finally {
    clearInterval(sampler);
  }
  samples.push(rssKiB(host.agent.pid));
  const audit = await settleAudit(stateDir);

  // Every direct call is one event; the CLI adds more. Rotations = bytes written / rotation size.
  const keptBytes = audit.files.reduce((sum, f) => sum + readFileSync(join(stateDir, f)).length, 0);
  const averageLine = audit.lines > 0 ? keptBytes / audit.lines : 0;
  const rotations = Math.floor((direct.requests * averageLine) / AUDIT_MAX_BYTES);
  const mib = (kib: number) => (kib / 1024).toFixed(1);
  const first = samples[0] ?? 0;
  const last = samples.at(-1) ?? 0;
  const max = Math.max(...samples);
  // Flat: after the first half (warm-up: JIT, caches, allocator pools) memory must not keep climbing.
  const half = Math.ceil(samples.length / 2);
  const firstHalfMax = Math.max(...samples.slice(0, half));
  const secondHalfMax = Math.max(...samples.slice(half));
  const flat = samples.length < 6 || secondHalfMax <= firstHalfMax * 1.25;
  const ok = flat && direct.wrong === 0 && direct.errors === 0 && cli.wrong === 0 && audit.corrupt === 0 &&
    maxFiles <= 6 && audit.files.length <= 6;
  console.log(`\n### soak-load: ${minutes} min, audit rotated at ${AUDIT_MAX_BYTES} bytes\n`);
  console.log("| figure | value |\n|---|---|");
  console.log(`| direct AuthZReq calls (c=16, mixed allow/deny) | ${direct.requests} |`);
  console.log(
    `| direct throughput (while the CLI load ran) | ${Math.round(direct.requests / (direct.ms / 1000))}/s |`,
  );
  console.log(`| direct wrong decisions / errors | ${direct.wrong} / ${direct.errors} |`);
  console.log(`| docker CLI commands (4 clients) | ${cli.commands} (${cli.denied} denied as expected) |`);
  console.log(`| docker CLI wrong outcomes | ${cli.wrong} |`);
  console.log(
    `| agent RSS first / max / last (MiB, ${samples.length} samples) | ${mib(first)} / ${mib(max)} / ${
      mib(last)
    } |`,
  );
  console.log(
    `| RSS max, first half / second half (MiB) | ${mib(firstHalfMax)} / ${mib(secondHalfMax)} ${
      flat ? "(flat)" : "(GROWING)"
    } |`,
  );
  console.log(`| audit rotations (at least: direct events x line size / limit) | ${rotations} |`);
  console.log(`| audit files at most / at end | ${maxFiles} / ${audit.files.length} |`);
  console.log(`| audit lines kept / corrupt | ${audit.lines} / ${audit.corrupt} |`);
  await host.stop();
  for (const p of problems) console.log(`\nproblem: ${p}`);
  console.log(ok ? "\nsoak-load: OK" : "\nsoak-load: FAILED");
  return ok;
}

if (import.meta.main) {
  const at = process.argv.indexOf("--minutes");
  const minutes = at >= 0 ? Number(process.argv[at + 1]) : 5;
  if (!Number.isFinite(minutes) || minutes <= 0) {
    console.error("usage: bun scripts/soak-load.ts [--minutes N]");
    process.exit(2);
  }
  const why = e2eUnavailable();
  if (why) {
    console.log(`soak-load: SKIP (${why})`);
    process.exit(0);
  }
  process.exit((await soak(minutes)) ? 0 : 1);
}
