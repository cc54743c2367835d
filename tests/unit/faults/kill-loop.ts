/**
 * The kill -9 loop shared by tests/unit/faults/kill.test.ts (quick) and scripts/soak-faults.ts (long):
 * runs a state-writing command as a real process (`bun src/main.ts ...`), SIGKILLs it after a seeded
 * delay between 0 and its typical duration, then checks that every state file parses as the old or the
 * new version, that the plugin's loader reads the state, that a revocation the index records is
 * enforced, and that the next command succeeds.
 */
import "reflect-metadata";
import { readdir, readFile, rm } from "node:fs/promises";
import { join, relative } from "node:path";
import { readCaCertificate } from "../../../src/ca/authority.ts";
import { readCrlSerials } from "../../../src/ca/crl-serials.ts";
import {
  caFiles,
  loadCertificateGate,
  parsePeerCertificates,
  type PeerCertificate,
  readIndex,
} from "../../../src/ca/index.ts";
import { commandGroups } from "../../../src/cli/commands.ts";
import type { CliContext } from "../../../src/cli/context.ts";
import { runCli } from "../../../src/cli/index.ts";
import { loadKeyring } from "../../../src/macaroon/keyring.ts";
import { loadRevocations } from "../../../src/macaroon/revocations.ts";
import type { Platform } from "../../../src/ports.ts";
import { nodeFileSystem } from "../../../src/runtime/node-file-system.ts";
import { extraGates } from "../../helpers/state-gates.ts";
import { stateLayout } from "../../../src/store/layout.ts";

export const KILL_COMMANDS = [
  "id init",
  "ca create-api-certificate",
  "ca revoke",
  "id rotate",
  "id revoke",
] as const;
export type KillCommand = (typeof KILL_COMMANDS)[number];

export interface KillStats {
  command: KillCommand;
  iterations: number;
  /** Killed before the state changed / after it changed (the new version) / finished before the kill. */
  killedOld: number;
  killedNew: number;
  completed: number;
  /** Revocations found in index.json but not yet in crl.pem after a kill (ca revoke only), all enforced. */
  indexOnly: number;
  /** Leftover `*.tmp-*` files seen after kills (ignored by every reader). */
  tempFiles: number;
  typicalMs: number;
  failures: string[];
}

const ROOT = join(import.meta.dir, "..", "..", "..");
const MAIN = join(ROOT, "src", "main.ts");

/** mulberry32: a small seeded generator, so a failing delay sequence reproduces. */
export function seededDelays(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const noPlatform: Platform = new Proxy({} as Platform, {
  get(_, name) {
    throw new Error(`kill loop: command used the platform (${String(name)})`);
  },
});

interface Ran {
  code: number;
  out: string;
  err: string;
}

/** The next command, run in-process through the real CLI (same code as the binary, without its startup). */
async function agent(argv: readonly string[]): Promise<Ran> {
  const out: string[] = [];
  const err: string[] = [];
  const ctx: CliContext = {
    fs: nodeFileSystem,
    clock: () => new Date(),
    random: (n) => crypto.getRandomValues(new Uint8Array(n)),
    env: {},
    output: { out: (t) => void out.push(t), err: (t) => void err.push(t) },
    build: { version: "faults", commit: "faults" },
    platform: noPlatform,
  };
  const code = await runCli(argv, ctx, commandGroups);
  return { code, out: out.join(""), err: err.join("") };
}

async function must(argv: readonly string[]): Promise<Ran> {
  const ran = await agent(argv);
  if (ran.code !== 0) {
    throw new Error(`setup \`agent ${argv.slice(0, 3).join(" ")}\` failed: ${ran.err.trim()}`);
  }
  return ran;
}

interface Spawned {
  killed: boolean;
  code: number | null;
  err: string;
  ms: number;
}

/** Runs `bun src/main.ts argv`, SIGKILLed after `killAfterMs` (never killed when undefined). */
async function spawnAgent(argv: readonly string[], killAfterMs: number | undefined): Promise<Spawned> {
  const started = performance.now();
  const child = Bun.spawn([process.execPath, MAIN, ...argv], {
    cwd: ROOT,
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
    env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: process.env["HOME"] ?? "/root" },
  });
  // A hard bound too: no run may hang the loop.
  const bound = setTimeout(() => child.kill(9), 30_000);
  const timer = killAfterMs === undefined ? undefined : setTimeout(() => child.kill(9), killAfterMs);
  const err = await new Response(child.stderr).text();
  await child.exited;
  clearTimeout(bound);
  if (timer) clearTimeout(timer);
  return {
    killed: child.signalCode === "SIGKILL",
    code: child.exitCode,
    err,
    ms: performance.now() - started,
  };
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...await walk(path));
    else out.push(path);
  }
  return out;
}

const STATE_FILES = new Set([
  "macaroon/keys.json",
  "macaroon/revoked.json",
  "ca/cluster.crt",
  "ca/cluster.key",
  "ca/index.json",
  "ca/crl.pem",
]);

/** A fingerprint of the state files' contents, to tell "old" from "new". */
async function snapshot(state: string): Promise<string> {
  const parts: string[] = [];
  for (const name of STATE_FILES) {
    parts.push(`${name}=${await readFile(join(state, name), "utf8").catch(() => "-")}`);
  }
  return parts.join("\n");
}

/**
 * Every state file parses; every other file under the state dir is a known output or a `.tmp-` leftover;
 * the plugin's gate loader reads it all. Returns problems (empty when consistent) and the temp count.
 */
async function checkState(state: string): Promise<{ problems: string[]; temps: number }> {
  const problems: string[] = [];
  let temps = 0;
  for (const path of await walk(state)) {
    const name = relative(state, path);
    if (name.includes(".tmp-")) {
      temps++;
      continue;
    }
    if (!STATE_FILES.has(name) && !name.startsWith("out/")) problems.push(`unexpected file ${name}`);
  }
  const layout = stateLayout(state);
  const files = caFiles(layout.caDir);
  const attempt = async (what: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
    } catch (err) {
      problems.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  await attempt("keys.json", () => loadKeyring(nodeFileSystem, layout));
  await attempt("revoked.json", () => loadRevocations(nodeFileSystem, layout));
  await attempt("index.json", () => readIndex(nodeFileSystem, files.index));
  await attempt("cluster.crt + crl.pem", async () => {
    const ca = await readCaCertificate(nodeFileSystem, files);
    if (ca) await readCrlSerials(nodeFileSystem, files.crl, ca);
  });
  await attempt("plugin state", () => extraGates(nodeFileSystem, layout, () => new Date()));
  return { problems, temps };
}

function leafOf(pem: string): PeerCertificate {
  const [leaf] = parsePeerCertificates([btoa(pem)]);
  if (!leaf) throw new Error("no leaf certificate");
  return leaf;
}

/** The per-command parts: prepare an iteration, the argv to kill, and what must hold afterwards. */
interface Scenario {
  setup(state: string): Promise<void>;
  prepare(
    state: string,
    i: number,
  ): Promise<{ argv: string[]; after: (killed: boolean) => Promise<string[]> }>;
}

function scenario(command: KillCommand, stats: KillStats): Scenario {
  const dirArgs = (state: string) => ["--state-dir", state];
  switch (command) {
    case "id init":
      return {
        setup: async () => {},
        prepare: async (state) => {
          await rm(join(state, "macaroon"), { recursive: true, force: true });
          return {
            argv: ["id", "init", ...dirArgs(state)],
            after: async () => {
              const had = await loadKeyring(nodeFileSystem, stateLayout(state));
              const next = await agent(
                had ? ["id", "show", ...dirArgs(state)] : ["id", "init", ...dirArgs(state)],
              );
              return next.code === 0 ? [] : [`next command failed: ${next.err.trim()}`];
            },
          };
        },
      };
    case "ca create-api-certificate":
      return {
        setup: async (state) => void await must(["ca", "init", ...dirArgs(state)]),
        prepare: (state, i) => {
          const out = join(state, "out", `u${i}`);
          return Promise.resolve({
            argv: ["ca", "create-api-certificate", `u${i}`, "--out", out, ...dirArgs(state)],
            after: async () => {
              const problems: string[] = [];
              const index = await readIndex(nodeFileSystem, caFiles(join(state, "ca")).index);
              const crt = await readFile(join(out, `u${i}.crt`), "utf8").catch(() => undefined);
              // Every certificate handed out is in the index, so it can be revoked.
              if (crt !== undefined && !index.certificates.some((c) => c.serial === leafOf(crt).serial)) {
                problems.push("an issued certificate is missing from index.json");
              }
              const key = await readFile(join(out, `u${i}.key`), "utf8").catch(() => undefined);
              if (key !== undefined && !key.includes("-----END PRIVATE KEY-----")) {
                problems.push("partial key file");
              }
              const next = await agent([
                "ca",
                "create-api-certificate",
                `u${i}`,
                "--out",
                `${out}b`,
                ...dirArgs(state),
              ]);
              if (next.code !== 0) problems.push(`next command failed: ${next.err.trim()}`);
              return problems;
            },
          });
        },
      };
    case "ca revoke":
      return {
        setup: async (state) => void await must(["ca", "init", ...dirArgs(state)]),
        prepare: async (state, i) => {
          const out = join(state, "out", `r${i}`);
          await must(["ca", "create-api-certificate", `r${i}`, "--out", out, ...dirArgs(state)]);
          const leaf = leafOf(await readFile(join(out, `r${i}.crt`), "utf8"));
          const files = caFiles(join(state, "ca"));
          const crlLists = async () => {
            const ca = await readCaCertificate(nodeFileSystem, files);
            return ca !== undefined &&
              (await readCrlSerials(nodeFileSystem, files.crl, ca))?.has(leaf.serial) === true;
          };
          return {
            argv: ["ca", "revoke", `r${i}`, ...dirArgs(state)],
            after: async () => {
              const problems: string[] = [];
              const index = await readIndex(nodeFileSystem, files.index);
              const inIndex = index.certificates.some((c) =>
                c.serial === leaf.serial && c.revokedAt !== undefined
              );
              const inCrl = await crlLists();
              if (inCrl && !inIndex) problems.push("crl.pem revokes a certificate index.json does not");
              if (inIndex && !inCrl) stats.indexOnly++;
              // What the plugin would do now: a revocation the index holds must be enforced.
              const gate = await loadCertificateGate(nodeFileSystem, files.dir, () => new Date());
              const verdict = gate?.check(leaf, `r${i}`);
              if (inIndex && verdict?.allow !== false) {
                problems.push("revoked in index.json but the gate allows it");
              }
              if (!inIndex && verdict?.allow !== true) problems.push("not revoked yet the gate refuses it");
              const next = await agent(["ca", "revoke", `r${i}`, ...dirArgs(state)]);
              const alreadyDone = next.code === 1 && next.err.includes("ERR_CA_REVOKED") && inCrl;
              if (next.code !== 0 && !alreadyDone) problems.push(`next command failed: ${next.err.trim()}`);
              if (!(await crlLists())) problems.push("after the next revoke crl.pem still does not list it");
              return problems;
            },
          };
        },
      };
    case "id rotate":
      return {
        setup: async (state) => void await must(["id", "init", ...dirArgs(state)]),
        prepare: async (state) => {
          const layout = stateLayout(state);
          // The keyring holds at most 64 keys: start over well before that.
          if (((await loadKeyring(nodeFileSystem, layout))?.keys.length ?? 0) > 50) {
            await rm(join(state, "macaroon"), { recursive: true, force: true });
            await must(["id", "init", ...dirArgs(state)]);
          }
          const before = (await loadKeyring(nodeFileSystem, layout))?.keys.length ?? 0;
          return {
            argv: ["id", "rotate", ...dirArgs(state)],
            after: async () => {
              const problems: string[] = [];
              const now = (await loadKeyring(nodeFileSystem, layout))?.keys.length ?? 0;
              if (now !== before && now !== before + 1) {
                problems.push(`keyring went from ${before} to ${now} keys`);
              }
              const next = await agent(["id", "rotate", ...dirArgs(state)]);
              if (next.code !== 0) problems.push(`next command failed: ${next.err.trim()}`);
              return problems;
            },
          };
        },
      };
    case "id revoke":
      return {
        setup: async (state) => void await must(["id", "init", ...dirArgs(state)]),
        prepare: async (state) => {
          const layout = stateLayout(state);
          const minted = await must(["id", "create", "--op", "read", ...dirArgs(state)]);
          const token = minted.out.trim().split("\n").pop() ?? "";
          const before = (await loadRevocations(nodeFileSystem, layout)).revoked.length;
          return {
            argv: ["id", "revoke", token, ...dirArgs(state)],
            after: async () => {
              const problems: string[] = [];
              const now = (await loadRevocations(nodeFileSystem, layout)).revoked.length;
              if (now !== before && now !== before + 1) {
                problems.push(`revoked.json went from ${before} to ${now}`);
              }
              const next = await agent(["id", "revoke", token, ...dirArgs(state)]);
              if (next.code !== 0) problems.push(`next command failed: ${next.err.trim()}`);
              const final = (await loadRevocations(nodeFileSystem, layout)).revoked.length;
              if (final !== before + 1) {
                problems.push(`after the next revoke revoked.json has ${final}, not ${before + 1}`);
              }
              return problems;
            },
          };
        },
      };
  }
}

export interface KillLoopOptions {
  readonly iterations: number;
  readonly seed: number;
  /** Stop early (counting what ran) once this much time has passed. */
  readonly deadlineMs: number;
  /** A fresh, empty directory owned by the caller (removed by the caller). */
  readonly workDir: string;
}

export async function killLoop(command: KillCommand, options: KillLoopOptions): Promise<KillStats> {
  const stats: KillStats = {
    command,
    iterations: 0,
    killedOld: 0,
    killedNew: 0,
    completed: 0,
    indexOnly: 0,
    tempFiles: 0,
    typicalMs: 0,
    failures: [],
  };
  const started = performance.now();
  const state = join(options.workDir, command.replaceAll(" ", "-"));
  const steps = scenario(command, stats);
  await steps.setup(state);
  // Typical duration: one run to the end (startup included; that is what a kill interrupts).
  const durations: number[] = [];
  for (let p = 0; p < 3; p++) {
    const probe = await steps.prepare(state, -1 - p);
    const first = await spawnAgent(probe.argv, undefined);
    if (first.code !== 0) stats.failures.push(`unkilled run failed: ${first.err.trim()}`);
    durations.push(first.ms);
    await probe.after(false);
  }
  stats.typicalMs = durations.sort((a, b) => a - b)[1] ?? 0;
  const random = seededDelays(options.seed);
  for (let i = 1; i <= options.iterations; i++) {
    if (performance.now() - started > options.deadlineMs) break;
    const { argv, after } = await steps.prepare(state, i);
    const before = await snapshot(state);
    // Odd iterations: anywhere in the run. Even ones: its last part, where the writes are (most of a
    // run is start-up, so uniform delays alone rarely land between two writes).
    const fraction = i % 2 === 1 ? random() : 0.6 + 0.7 * random();
    const run = await spawnAgent(argv, fraction * stats.typicalMs);
    stats.iterations++;
    if (!run.killed && run.code !== 0) {
      stats.failures.push(`#${i} exited ${run.code}: ${run.err.trim().slice(0, 200)}`);
    }
    const changed = (await snapshot(state)) !== before;
    if (!run.killed) stats.completed++;
    else if (changed) stats.killedNew++;
    else stats.killedOld++;
    const checked = await checkState(state);
    stats.tempFiles += checked.temps;
    const problems = [...checked.problems, ...await after(run.killed)];
    const again = await checkState(state);
    problems.push(...again.problems.map((p) => `after the next command: ${p}`));
    for (const p of problems) stats.failures.push(`#${i}: ${p}`);
    // Leftover temp files are harmless but would pile up over a long soak.
    for (const path of await walk(state)) if (path.includes(".tmp-")) await rm(path, { force: true });
  }
  return stats;
}

/** The figures as a markdown table. */
export function killTable(all: readonly KillStats[]): string {
  const rows = all.map((s) =>
    `| ${s.command} | ${s.iterations} | ${s.killedOld} | ${s.killedNew} | ${s.completed} | ${s.indexOnly} | ${s.tempFiles} | ${
      Math.round(s.typicalMs)
    } | ${s.failures.length} |`
  );
  return [
    "| command | kills | killed, old state | killed, new state | finished first | index only (revoke) | temp files left | typical ms | failures |",
    "|---|---|---|---|---|---|---|---|---|",
    ...rows,
  ].join("\n");
}
