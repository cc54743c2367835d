/**
 * `agent doctor` on a host set up the way scripts/run sets up its demo: the agent's CA, a private
 * `dockerd --tlsverify` with the agent as its authorization plugin given on the command line
 * (`--authorization-plugin=NAME`, found through /etc/docker/plugins/NAME.spec, no daemon.json entry), the
 * demo policy, then macaroons. The doctor asks the running dockerd (GET /info) which plugins it uses, so a
 * healthy host exits 0.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  agentCli,
  e2eUnavailable,
  type GuardedHost,
  type RunResult,
  skipBanner,
  startGuardedHost,
  tempDir,
  waitFor,
} from "./harness.ts";

const unavailable = e2eUnavailable();
if (unavailable) skipBanner("doctor.e2e.test.ts", unavailable);
const maybe = unavailable ? describe.skip : describe;

interface Report {
  readonly status: string;
  readonly findings: { check: string; status: string; message: string }[];
}

maybe("agent doctor on a demo host (plugin on dockerd's command line)", () => {
  const plugin = `agent-doctor-${process.pid}`;
  let dir: string;
  let state: string;
  let policy: string;
  let host: GuardedHost;

  const cli = async (args: string[], env: Record<string, string> = {}): Promise<RunResult> => {
    const r = await agentCli(args, env);
    if (r.code !== 0) throw new Error(`agent ${args.join(" ")}: ${r.stderr}`);
    return r;
  };
  /** The flags scripts/run's demo uses for its agent, as doctor options. */
  const doctor = async (extra: string[] = [], env: Record<string, string> = {}) => {
    const r = await agentCli(
      [
        "doctor",
        "--json",
        "--state-dir",
        state,
        "--policy",
        policy,
        "--socket",
        join(dir, "agent.sock"),
        ...extra,
      ],
      env,
    );
    return { ...r, report: JSON.parse(r.stdout) as Report };
  };
  const docker = (report: Report) => report.findings.find((f) => f.check === "docker");
  const notOk = (report: Report) => report.findings.filter((f) => f.status !== "ok");
  const gates = async () => {
    const res = await fetch("http://plugin/", { unix: join(dir, "agent.sock") } as RequestInit);
    return ((await res.json()) as { gates: string[] }).gates;
  };

  beforeAll(async () => {
    dir = tempDir("doctor");
    state = join(dir, "state");
    policy = join(dir, "policy.yaml");
    await cli(["ca", "init", "--name", "doctor-e2e", "--state-dir", state]);
    await cli([
      "ca",
      "create-server-certificate",
      "localhost",
      "--out",
      join(dir, "server"),
      "--state-dir",
      state,
    ]);
    writeFileSync(policy, (await cli(["policy", "demo"])).stdout);
    host = await startGuardedHost({
      dir,
      plugin,
      agent: {
        stateDir: state,
        policyFile: policy,
        args: ["--docker-socket", join(dir, "dockerd", "docker.sock")],
      },
      tls: {
        ca: join(state, "ca", "cluster.crt"),
        cert: join(dir, "server", "localhost.crt"),
        key: join(dir, "server", "localhost.key"),
      },
    });
    // One decision, so the agent has created its audit log (0640 under this umask) before the doctor looks.
    const version = await host.dockerd.docker(["version"]);
    if (version.code !== 0) throw new Error(`docker version: ${version.stderr}`);
    await waitFor("the audit log", () => Promise.resolve(existsSync(join(state, "audit.log"))), 10_000);
  }, 180_000);

  afterAll(async () => {
    await host?.stop();
  }, 60_000);

  test("dockerd really runs with the plugin on its command line, and daemon.json does not name it", () => {
    expect(readFileSync(join(dir, "dockerd", "daemon.json"), "utf8")).toBe("{}\n");
    const cmdline = readFileSync(`/proc/${host.dockerd.pid}/cmdline`, "utf8").split("\0");
    expect(cmdline).toContain(`--authorization-plugin=${plugin}`);
  });

  test("doctor exits 0: the running dockerd's Plugins.Authorization names the plugin", async () => {
    const r = await doctor(["--docker-socket", host.dockerd.socket]);
    expect(notOk(r.report)).toEqual([]);
    expect([r.code, r.report.status]).toEqual([0, "ok"]);
    expect(docker(r.report)?.message).toBe(
      `the running dockerd at ${host.dockerd.socket} uses the plugin "${plugin}" (given on its command line; ` +
        "neither /etc/docker/daemon.json nor a docker.service unit names it).",
    );
    // The mode the agent gave its audit log is not something the doctor warns about.
    expect(statSync(join(state, "audit.log")).mode & 0o777).toBe(0o640);
  });

  test("doctor without a Docker socket to ask warns (exit 3) and says so, instead of failing", async () => {
    const r = await doctor(["--docker-socket", join(dir, "no-such-docker.sock")]);
    expect(docker(r.report)?.status).toBe("warn");
    expect(docker(r.report)?.message).toContain(
      `there is no Docker socket at ${join(dir, "no-such-docker.sock")}`,
    );
    expect(r.code).toBe(3);
  });

  test("with the macaroon gate on, doctor (DOCKER_HOST) still exits 0: the plugin's refusal of GET /info names it", async () => {
    await cli(["id", "init", "--state-dir", state]);
    await waitFor(
      "the agent to reload with the macaroon gate",
      async () => (await gates()).includes("macaroon"),
    );
    const r = await doctor([], { DOCKER_HOST: `unix://${host.dockerd.socket}` });
    expect(notOk(r.report)).toEqual([]);
    expect(r.code).toBe(0);
    expect(docker(r.report)?.message).toBe(
      `the running dockerd at ${host.dockerd.socket} uses the plugin "${plugin}" (given on its command line; ` +
        "neither /etc/docker/daemon.json nor a docker.service unit names it): it refused the doctor's own " +
        "GET /info, so dockerd asks it.",
    );
    // The refusal is the agent's: its audit log holds the denied GET /info.
    await waitFor("the denied GET /info in the audit log", () =>
      Promise.resolve(
        readFileSync(join(state, "audit.log"), "utf8").trim().split("\n").map((l) =>
          JSON.parse(l) as { uri: string; allow: boolean }
        ).some((e) => e.uri === "/info" && !e.allow),
      ), 10_000);
  });
});
