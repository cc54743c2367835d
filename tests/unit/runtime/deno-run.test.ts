/**
 * The source under `deno run` with scripts/run-deno's permission set: it starts offline, and what lies
 * outside the permissions is refused rather than read. (tests/e2e/deno.e2e.test.ts serves dockerd.)
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..", "..", "..");
const RUN_DENO = join(ROOT, "scripts", "run-deno");
const dir = mkdtempSync(join(tmpdir(), "run-deno-"));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

// As root, run in a fresh network namespace (no interfaces but a downed loopback): truly offline.
const OFFLINE_PREFIX = process.getuid?.() === 0 && Bun.which("unshare") ? ["unshare", "--net"] : [];

function runDeno(args: string[], env: Record<string, string> = {}) {
  // Otherwise an unroutable proxy: any attempt to reach the network fails the run instead of passing it.
  const result = Bun.spawnSync([...OFFLINE_PREFIX, RUN_DENO, ...args], {
    env: { ...process.env, HTTPS_PROXY: "http://127.0.0.1:9", HTTP_PROXY: "http://127.0.0.1:9", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

describe("scripts/run-deno", () => {
  test("runs the agent from source under Deno without the network", () => {
    const r = runDeno(["--version"]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/^agent \S+ \(\S+\)\n$/);
    expect(r.code).toBe(0);
  });

  test("checks the policy named by $AGENT_POLICY, which the permission set lets it read", () => {
    const policy = join(dir, "policy.yaml");
    writeFileSync(
      policy,
      'version: 1\nrules:\n  - id: r\n    who: [anonymous]\n    allow: ["system:ping"]\n',
    );
    const r = runDeno(["policy", "check"], { AGENT_POLICY: policy });
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain(`${policy}: ok, 1 rules`);
    expect(r.code).toBe(0);
  });

  test("refuses to read a file outside the state dir and the policy", () => {
    const r = runDeno(["policy", "check", "/etc/hostname"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("agent: cannot use /etc/hostname: outside the paths Deno may read or write");
  });

  test("treats environment variables outside --allow-env as unset instead of failing", () => {
    const r = runDeno(["--version"], { AGENT_UNLISTED: "x" });
    expect(r.code).toBe(0);
  });

  test("rejects a path containing a comma, which would corrupt the permission lists", () => {
    const r = runDeno(["serve", "--state-dir", "/tmp/a,/"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("run-deno: paths containing a comma are not supported: /tmp/a,/");
  });
});
