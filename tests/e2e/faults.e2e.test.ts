/**
 * Corrupt or unreadable state files, against the real `agent serve` process and the CLI: at start the
 * agent exits 1 naming the file (never its content); at reload it keeps the previous state and goes on
 * deciding as before; CLI commands fail with exit 1 naming the file. Root ignores file modes, so
 * "unreadable" is a directory where the file should be (EISDIR), which fails for root too.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  agentCli,
  type AgentProcess,
  e2eUnavailable,
  type GuardedHost,
  pluginCall,
  run,
  skipBanner,
  startAgent,
  startGuardedHost,
  tempDir,
  waitFor,
} from "./harness.ts";

const unavailable = e2eUnavailable();
if (unavailable) skipBanner("faults.e2e.test.ts", unavailable);
const maybe = unavailable ? describe.skip : describe;

const POLICY = `version: 1
rules:
  - id: alice-reads
    who: [alice]
    allow: [container:list]
`;

const LIST = { RequestMethod: "GET", RequestUri: "/v1.41/containers/json" };
const CREATE = { RequestMethod: "POST", RequestUri: "/v1.41/containers/create" };

interface Fixture {
  dir: string;
  state: string;
  policy: string;
  token: string;
  keysText: string;
}

/** A state dir with a macaroon keyring and a CA (alice has a certificate), and the root token. */
async function fixture(name: string): Promise<Fixture> {
  const dir = tempDir(`faults-${name}`);
  const state = join(dir, "state");
  const policy = join(dir, "policy.yaml");
  writeFileSync(policy, POLICY);
  const init = await agentCli(["id", "init", "--state-dir", state]);
  expect(init.code).toBe(0);
  const token = init.stdout.trim().split("\n").pop() ?? "";
  expect((await agentCli(["ca", "init", "--state-dir", state])).code).toBe(0);
  const cert = await agentCli([
    "ca",
    "create-api-certificate",
    "alice",
    "--out",
    join(dir, "alice"),
    "--state-dir",
    state,
  ]);
  expect(cert.code).toBe(0);
  const keysText = readFileSync(join(state, "macaroon", "keys.json"), "utf8");
  return { dir, state, policy, token, keysText };
}

function decide(agent: AgentProcess, body: Record<string, unknown>, token?: string) {
  return pluginCall(
    agent.socket,
    "/AuthZPlugin.AuthZReq",
    JSON.stringify({ ...body, User: "alice", ...(token ? { RequestHeaders: { "X-Macaroon": token } } : {}) }),
  );
}

/** The secret material of a keyring file: each key's base64url text. */
function keyStrings(keysText: string): string[] {
  const parsed = JSON.parse(keysText) as { keys: { key: string }[] };
  return parsed.keys.map((k) => k.key);
}

interface Corruption {
  readonly name: string;
  /** The file, relative to the state dir. */
  readonly file: string;
  /** What the error names. */
  readonly names: string;
  apply(f: Fixture): void | Promise<void>;
  /** A CLI command that reads the file and must fail naming it. */
  readonly cli: string[];
}

const otherCaCrl = async (f: Fixture) => {
  const other = join(f.dir, "other");
  expect((await agentCli(["ca", "init", "--name", "other", "--state-dir", other])).code).toBe(0);
  writeFileSync(join(f.state, "ca", "crl.pem"), readFileSync(join(other, "ca", "crl.pem")));
};

const CORRUPTIONS: readonly Corruption[] = [
  {
    name: "a truncated keys.json",
    file: "macaroon/keys.json",
    names: "macaroon/keys.json",
    apply: (f) =>
      writeFileSync(join(f.state, "macaroon", "keys.json"), f.keysText.slice(0, f.keysText.length / 2)),
    cli: ["id", "show"],
  },
  {
    name: "garbage in ca/index.json",
    file: "ca/index.json",
    names: "index.json",
    apply: (f) => writeFileSync(join(f.state, "ca", "index.json"), "\u0000\u0001garbage{{{"),
    cli: ["ca", "list"],
  },
  {
    name: "a crl.pem signed by another CA",
    file: "ca/crl.pem",
    names: "crl.pem",
    apply: otherCaCrl,
    cli: ["doctor"],
  },
  {
    name: "a directory in place of macaroon/revoked.json (unreadable, even for root)",
    file: "macaroon/revoked.json",
    names: "macaroon/revoked.json",
    apply: (f) => mkdirSync(join(f.state, "macaroon", "revoked.json")),
    cli: ["id", "revoke", "AAAAAAAAAAAAAAAAAAAAAA"],
  },
  {
    name: "a directory in place of macaroon/keys.json",
    file: "macaroon/keys.json",
    names: "macaroon/keys.json",
    apply: (f) => {
      rmSync(join(f.state, "macaroon", "keys.json"));
      mkdirSync(join(f.state, "macaroon", "keys.json"));
    },
    cli: ["id", "show"],
  },
];

maybe("corrupt or unreadable state", () => {
  const dirs: string[] = [];
  const agents: AgentProcess[] = [];
  afterAll(async () => {
    for (const a of agents) await a.stop("SIGKILL").catch(() => 0);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  for (const c of CORRUPTIONS) {
    describe(c.name, () => {
      let f: Fixture;
      beforeAll(async () => {
        f = await fixture(c.name.split(" ").slice(-1)[0]?.replace(/\W/g, "") ?? "x");
        dirs.push(f.dir);
      });

      test("`agent serve` at start exits 1 naming the file, never a key", async () => {
        const good = await startAgent({
          stateDir: f.state,
          socket: join(f.dir, "a.sock"),
          policyFile: f.policy,
        });
        await good.stop();
        await c.apply(f);
        const started = await agentCli([
          "serve",
          "--state-dir",
          f.state,
          "--socket",
          join(f.dir, "b.sock"),
          "--policy",
          f.policy,
        ]);
        expect(started.code).toBe(1);
        expect(started.stderr).toContain("cannot start:");
        expect(started.stderr).toContain(c.names);
        for (const key of keyStrings(f.keysText)) expect(started.stderr).not.toContain(key);
        expect(started.stderr).not.toContain(f.token);
      }, 60_000);

      test("the CLI fails with exit 1 and names the file", async () => {
        const ran = await agentCli([...c.cli, "--state-dir", f.state]);
        expect(ran.code).toBe(1);
        expect(ran.stderr + ran.stdout).toContain(c.names);
        for (const key of keyStrings(f.keysText)) expect(ran.stderr + ran.stdout).not.toContain(key);
      }, 60_000);
    });
  }

  test(
    "at reload every corruption keeps the previous state: same decisions, a logged reason, no crash",
    async () => {
      const f = await fixture("reload");
      dirs.push(f.dir);
      const agent = await startAgent({
        stateDir: f.state,
        socket: join(f.dir, "agent.sock"),
        policyFile: f.policy,
      });
      agents.push(agent);
      const expectDecisions = async () => {
        expect((await decide(agent, LIST, f.token)).json["Allow"]).toBe(true);
        expect((await decide(agent, LIST)).json["Allow"]).toBe(false); // the macaroon gate stays on
        expect((await decide(agent, CREATE, f.token)).json["Allow"]).toBe(false);
      };
      await expectDecisions();
      const pristine = new Map<string, string>();
      for (const file of ["macaroon/keys.json", "ca/index.json", "ca/crl.pem"]) {
        pristine.set(file, readFileSync(join(f.state, file), "utf8"));
      }
      /** Waits for a log line, written after `from`, that contains every one of `parts`; returns it. */
      const logLine = async (from: number, parts: readonly string[]) => {
        let found = "";
        await waitFor(`a log line with ${parts.join(" + ")}`, () => {
          found = agent.log().slice(from).split("\n").find((l) => parts.every((p) => l.includes(p))) ?? "";
          return Promise.resolve(found !== "");
        }, 20_000).catch((err) => {
          throw new Error(`${(err as Error).message}; the log after it:\n${agent.log().slice(from)}`);
        });
        return found;
      };
      for (const c of CORRUPTIONS) {
        let from = agent.log().length;
        await c.apply(f);
        process.kill(agent.pid, "SIGHUP"); // a directory in place of a file changes no file's fingerprint
        const line = await logLine(from, ["cannot reload", c.names]);
        expect(line).toContain("keeping the previous version");
        await expectDecisions();
        // Put the file back as it was, and wait until the agent has reloaded the good state.
        rmSync(join(f.state, c.file), { recursive: true, force: true });
        const original = pristine.get(c.file);
        if (original !== undefined) writeFileSync(join(f.state, c.file), original, { mode: 0o600 });
        from = agent.log().length;
        process.kill(agent.pid, "SIGHUP");
        await logLine(from, ["reloaded the", "(SIGHUP)"]);
        await expectDecisions();
      }
      for (const key of keyStrings(f.keysText)) expect(agent.log()).not.toContain(key);
      expect(agent.log()).not.toContain(f.token);
    },
    180_000,
  );
});

const RESTART_POLICY = `version: 1
rules:
  - id: local-reads
    who: [anonymous]
    allow: [container:list, image:list, system:version, network:list]
  - id: no-networks          # "*" is every TLS user; the unix socket's user is anonymous
    who: ["*", anonymous]
    deny: [network:list]
`;

/** Allowed by RESTART_POLICY, and refused by it (volume:list by default, network:list by a deny rule). */
const ALLOWED_COMMANDS = [["ps"], ["images"], ["version"]];
const DENIED_COMMANDS = [["volume", "ls"], ["network", "ls"]];

maybe("the agent restarted while docker commands run", () => {
  let host: GuardedHost;
  let dir: string;

  beforeAll(async () => {
    dir = tempDir("faults-restart");
    writeFileSync(join(dir, "policy.yaml"), RESTART_POLICY);
    host = await startGuardedHost({
      dir,
      plugin: `agent-faults-${process.pid}`,
      agent: { stateDir: join(dir, "state"), policyFile: join(dir, "policy.yaml") },
    });
  }, 120_000);
  afterAll(async () => {
    await host?.stop();
  }, 60_000);

  test(
    "4 clients, 5 kills (SIGKILL and SIGTERM): nothing denied is ever allowed, and dockerd recovers",
    async () => {
      const dockerdPid = host.dockerd.pid;
      const outcomes = { allowedOk: 0, allowedFailed: 0, deniedRefused: 0, deniedAllowed: [] as string[] };
      let running = true;
      const deadline = Date.now() + 150_000;
      const client = async (n: number) => {
        for (let i = 0; running && i < 2_000 && Date.now() < deadline; i++) {
          const denied = (i + n) % 2 === 1;
          const list = denied ? DENIED_COMMANDS : ALLOWED_COMMANDS;
          const args = list[(i + n) % list.length] ?? ["ps"];
          const r = await host.dockerd.docker(args);
          if (denied) {
            if (r.code === 0) outcomes.deniedAllowed.push(`client ${n}: docker ${args.join(" ")}`);
            else outcomes.deniedRefused++;
          } else if (r.code === 0) outcomes.allowedOk++;
          else outcomes.allowedFailed++;
        }
      };
      const clients = [0, 1, 2, 3].map(client);
      const signals: ("SIGKILL" | "SIGTERM")[] = ["SIGKILL", "SIGTERM", "SIGKILL", "SIGTERM", "SIGKILL"];
      const downtimes: number[] = [];
      try {
        for (const signal of signals) {
          await Bun.sleep(1_500);
          const stoppedAt = performance.now();
          await host.agent.stop(signal);
          await Bun.sleep(500); // commands now meet a dead plugin socket
          await host.restartAgent();
          downtimes.push(performance.now() - stoppedAt);
        }
        await Bun.sleep(1_500);
      } finally {
        running = false;
        await Promise.all(clients);
      }
      // dockerd was never restarted, and commands succeed again now that the agent is back.
      expect(host.dockerd.pid).toBe(dockerdPid);
      for (const args of ALLOWED_COMMANDS) expect((await host.dockerd.docker(args)).code).toBe(0);
      for (const args of DENIED_COMMANDS) {
        const r = await host.dockerd.docker(args);
        if (r.code === 0) outcomes.deniedAllowed.push(`after: docker ${args.join(" ")}: ${r.stdout}`);
      }
      expect(outcomes.deniedAllowed).toEqual([]);
      expect(outcomes.deniedRefused).toBeGreaterThan(20);
      expect(outcomes.allowedOk).toBeGreaterThan(20);
      // The audit log (across the restarts) never allowed a denied action.
      const audit = readFileSync(join(dir, "state", "audit.log"), "utf8").trim().split("\n").map((l) =>
        JSON.parse(l) as { allow: boolean; action: string | null; phase: string }
      );
      const wrongly = audit.filter((e) =>
        e.allow && (e.action === "volume:list" || e.action === "network:list")
      );
      expect(wrongly).toEqual([]);
      expect(audit.filter((e) => !e.allow && e.phase === "request").length).toBeGreaterThan(20);
      console.log(
        `restart: ${outcomes.allowedOk} allowed ok, ${outcomes.allowedFailed} allowed failed during outages, ` +
          `${outcomes.deniedRefused} denied refused, 0 denied allowed; ${audit.length} audit events; ` +
          `downtime per restart ${downtimes.map((d) => Math.round(d)).join("/")} ms`,
      );
    },
    200_000,
  );
});

maybe("the audit log's disk is full", () => {
  let dir: string;
  let auditDir: string;
  let mounted = false;
  let agent: AgentProcess | undefined;

  beforeAll(async () => {
    dir = tempDir("faults-diskfull");
    auditDir = join(dir, "audit");
    mkdirSync(auditDir);
    const mount = await run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", auditDir]);
    if (mount.code !== 0) throw new Error(`mount tmpfs: ${mount.stderr}`);
    mounted = true;
    writeFileSync(join(dir, "policy.yaml"), RESTART_POLICY);
  });
  afterAll(async () => {
    await agent?.stop("SIGKILL").catch(() => 0);
    if (mounted) {
      const r = await run(["umount", auditDir]);
      if (r.code !== 0) await run(["umount", "-l", auditDir]);
    }
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  test(
    "decisions go on, the failure is reported once a minute, and the log recovers when space frees",
    async () => {
      const auditLog = join(auditDir, "audit.log");
      agent = await startAgent({
        stateDir: join(dir, "state"),
        socket: join(dir, "agent.sock"),
        policyFile: join(dir, "policy.yaml"),
        args: ["--audit-log", auditLog],
      });
      const a = agent;
      const call = async (uri: string) => {
        const r = await pluginCall(
          a.socket,
          "/AuthZPlugin.AuthZReq",
          JSON.stringify({ RequestMethod: "GET", RequestUri: uri }),
        );
        return r.json["Allow"];
      };
      for (let i = 0; i < 10; i++) expect(await call("/v1.41/containers/json?before=full")).toBe(true);
      await waitFor(
        "the first events on disk",
        () => Promise.resolve().then(() => readFileSync(auditLog, "utf8").includes("before=full")),
      );
      // Fill the file system (dd stops at ENOSPC).
      await run(["dd", "if=/dev/zero", `of=${join(auditDir, "filler")}`, "bs=1k", "count=256"]);
      const started = performance.now();
      let answered = 0;
      // 100 held events (~40 KB) fit in the space that frees up below; the unit test covers larger backlogs.
      for (let i = 0; i < 50; i++) {
        expect(await call(`/v1.41/containers/json?full=${i}`)).toBe(true);
        expect(await call(`/v1.41/volumes?full=${i}`)).toBe(false);
        answered += 2;
      }
      const fullMs = performance.now() - started;
      await waitFor(
        "the report on stderr",
        () => Promise.resolve(a.log().includes("audit: cannot write audit log")),
      );
      await Bun.sleep(500);
      const reports = a.log().split("\n").filter((l) => l.includes("audit: cannot write audit log"));
      expect(reports.length).toBe(1); // at most once a minute
      expect(reports[0]).toContain(auditLog);
      // Space frees: the held events and new ones reach the log, and every line is whole JSON.
      rmSync(join(auditDir, "filler"));
      for (let i = 0; i < 5; i++) {
        expect(await call("/v1.41/containers/json?after=free")).toBe(true);
      }
      await waitFor(
        "events after the space freed",
        () => Promise.resolve().then(() => readFileSync(auditLog, "utf8").includes("after=free")),
      );
      const lines = readFileSync(auditLog, "utf8").trimEnd().split("\n");
      const broken = lines.filter((l) => {
        try {
          JSON.parse(l);
          return false;
        } catch {
          return true;
        }
      });
      // The write that hit ENOSPC may leave one cut line; everything after it is whole, and every event
      // held while the disk was full is in the log whole (re-written after the cut).
      expect(broken.length).toBeLessThanOrEqual(1);
      const whole = lines.filter((l) => !broken.includes(l)).map((l) =>
        JSON.parse(l) as { uri: string | null }
      );
      const held = new Set(whole.map((e) => e.uri ?? "").filter((u) => u.includes("full="))).size;
      expect(held).toBe(100);
      console.log(
        `disk full: ${answered} decisions answered correctly in ${
          Math.round(fullMs)
        } ms with the audit disk full; ` +
          `${reports.length} report(s) on stderr; ${held} held events written after space freed; ${lines.length} lines, ${broken.length} broken`,
      );
    },
    120_000,
  );
});
