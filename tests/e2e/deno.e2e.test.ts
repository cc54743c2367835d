/**
 * The same source under Deno: scripts/run-deno serves the plugin (explicit permissions, offline) for a
 * private dockerd, and the docker CLI sees one command allowed and one denied. The Deno platform's
 * unixFetch is exercised against the daemon by tests/e2e/deno-probe.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  type AgentProcess,
  type Dockerd,
  e2eUnavailable,
  type GuardedHost,
  ROOT,
  run,
  skipBanner,
  startGuardedHost,
  tempDir,
} from "./harness.ts";

const unavailable = e2eUnavailable();
if (unavailable) skipBanner("deno.e2e.test.ts", unavailable);
const maybe = unavailable ? describe.skip : describe;

const RUN_DENO = join(ROOT, "scripts", "run-deno");
const DENO = join(ROOT, "node_modules", ".bin", "deno");

const POLICY = `version: 1
rules:
  - id: host-reads
    who: [anonymous]
    allow: ["system:*", "volume:list", "volume:inspect", "container:inspect"]
`;

maybe("the agent under Deno as dockerd's authorization plugin", () => {
  const plugin = `agent-deno-e2e-${process.pid}`;
  let dir: string;
  let agent: AgentProcess;
  let dockerd: Dockerd;
  let host: GuardedHost;

  beforeAll(async () => {
    dir = tempDir("deno");
    const policyFile = join(dir, "policy.yaml");
    writeFileSync(policyFile, POLICY);
    host = await startGuardedHost({
      dir,
      plugin,
      agent: {
        stateDir: join(dir, "state"),
        policyFile,
        command: [RUN_DENO],
        // Deno's own update check would be network access; run-deno turns it off, and so does the test.
        env: { DENO_NO_UPDATE_CHECK: "1" },
      },
    });
    ({ agent, dockerd } = host);
  }, 120_000);

  afterAll(async () => {
    await host?.stop();
  }, 60_000);

  test("the plugin process is Deno, not Bun", () => {
    expect(readlinkSync(`/proc/${agent.pid}/exe`)).toEndWith("/deno");
    expect(agent.log()).toContain("listening on");
  });

  test("an allowed docker command passes through the Deno-served plugin", async () => {
    const r = await dockerd.docker(["volume", "ls"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  });

  test("a command the policy does not allow is denied with the plugin's reason", async () => {
    const r = await dockerd.docker(["volume", "create", "deno-denied"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`authorization denied by plugin ${plugin}:`);
    expect(r.stderr).toContain("volume:create");
    expect(r.stderr).toMatch(/decision [0-9a-f]{12}/);
    const list = await dockerd.docker(["volume", "ls", "-q"]);
    expect(list.stdout).not.toContain("deno-denied");
  });

  test("the Deno platform's unixFetch reads, streams and aborts against the daemon's socket", async () => {
    const socket = dockerd.socket;
    const r = await run([
      DENO,
      "run",
      "--no-prompt",
      "--cached-only",
      "--no-remote",
      "--config",
      join(ROOT, "deno.json"),
      `--allow-net=unix:${socket}`,
      `--allow-read=${socket}`,
      `--allow-write=${socket}`,
      join(ROOT, "tests", "e2e", "deno-probe.ts"),
      socket,
    ], { env: { DENO_NO_UPDATE_CHECK: "1" } });
    expect(r.stderr).toBe("");
    const found = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(found["apiVersion"]).toMatch(/^1\.\d+$/);
    expect(found["missingIsUndefined"]).toBe(true);
    expect(found["bounded"]).toBe("ended");
    expect(found["open"]).toBe("aborted");
  });

  test("the permission set refuses files outside the state dir and the policy", async () => {
    const r = await run([RUN_DENO, "policy", "check", "/etc/hostname"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("agent: cannot use /etc/hostname: outside the paths Deno may read or write");
  });

  test("SIGTERM stops the Deno agent cleanly and removes its socket", async () => {
    expect(await agent.stop()).toBe(0);
    expect(agent.log()).toContain("stopped");
    const sock = await run(["test", "-e", join(dir, "agent.sock")]);
    expect(sock.code).toBe(1);
  });
});
