/**
 * The certificate authority end to end: `agent ca` issues dockerd's server certificate and the users'
 * client certificates; dockerd --tlsverify reports each CN to the agent as the user; revocation, which
 * dockerd lacks, is enforced by the agent's certificate gate within a second.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  agentCli,
  type AgentProcess,
  type Dockerd,
  e2eUnavailable,
  type GuardedHost,
  importTinyImage,
  opensslTls,
  run,
  skipBanner,
  startGuardedHost,
  tempDir,
} from "./harness.ts";

const unavailable = e2eUnavailable();
if (unavailable) skipBanner("ca.e2e.test.ts", unavailable);
const maybe = unavailable ? describe.skip : describe;

const POLICY = `version: 1
administrators: [anonymous]
rules:
  - id: local-admin
    who: [anonymous]
    allow: ["*"]
  - id: ops-by-ou           # alice's certificate carries OU=ops (agent ca create-api-certificate --ou ops)
    who: ["ou:ops"]
    allow: ["*"]
  - id: bob-reads
    who: [bob]
    allow: ["container:list", "container:inspect", "image:*", "system:*"]
`;

maybe("agent ca with dockerd --tlsverify", () => {
  const plugin = `agent-ca-e2e-${process.pid}`;
  let dir: string;
  let state: string;
  let agent: AgentProcess;
  let dockerd: Dockerd;
  let host: GuardedHost;
  const ca = (args: string[]) => agentCli(["ca", ...args, "--state-dir", state]);
  const as = (user: string, args: string[]) => dockerd.dockerTls(join(dir, user), args);

  beforeAll(async () => {
    dir = tempDir("ca");
    state = join(dir, "state");
    for (
      const args of [
        ["init", "--name", "e2e-cluster"],
        ["create-server-certificate", "localhost", "--out", join(dir, "server")],
        ["create-api-certificate", "alice", "--ou", "ops", "--docker-layout", "--out", join(dir, "alice")],
        ["create-api-certificate", "bob", "--docker-layout", "--out", join(dir, "bob")],
      ]
    ) {
      const r = await ca(args);
      if (r.code !== 0) throw new Error(`agent ca ${args.join(" ")} failed: ${r.stderr}`);
    }
    writeFileSync(join(dir, "policy.yaml"), POLICY);
    host = await startGuardedHost({
      dir,
      plugin,
      agent: { stateDir: state, policyFile: join(dir, "policy.yaml") },
      tls: {
        ca: join(state, "ca", "cluster.crt"),
        cert: join(dir, "server", "localhost.crt"),
        key: join(dir, "server", "localhost.key"),
      },
    });
    ({ agent, dockerd } = host);
    await importTinyImage(dockerd, dir);
  }, 120_000);

  afterAll(async () => {
    await host?.stop();
  }, 60_000);

  test("the certificate gate is on once a CA exists", () => {
    expect(agent.log()).toContain("certificate");
  });

  test("alice (OU=ops) is allowed what the ops rule allows", async () => {
    const r = await as("alice", [
      "run",
      "--rm",
      "--network",
      "none",
      "tiny:latest",
      "echo",
      "alice via agent ca",
    ]);
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe("alice via agent ca");
  });

  test("bob's certificate gets bob's rights: reads yes, writes no", async () => {
    expect((await as("bob", ["ps"])).code).toBe(0);
    const denied = await as("bob", ["volume", "create", "bobs"]);
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain("no rule allows volume:create for bob");
  });

  test("dockerd reports the CN unchanged as the user (seen in the audit log)", async () => {
    const r = await agentCli(["audit", "tail", "-n", "200", "--json", "--state-dir", state]);
    const users = new Set(
      r.stdout.trim().split("\n").map((l) => (JSON.parse(l) as { user: string | null }).user),
    );
    expect(users.has("alice")).toBe(true);
    expect(users.has("bob")).toBe(true);
  });

  test("a certificate from another CA fails the TLS handshake", async () => {
    const other = await opensslTls(join(dir, "other"), ["mallory"]);
    // mallory trusts our server's CA but holds a client certificate from another CA.
    await run(["cp", join(state, "ca", "cluster.crt"), join(other.certPath("mallory"), "ca.pem")]);
    const r = await dockerd.dockerTls(other.certPath("mallory"), ["ps"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/certificate|tls|remote error/i);
  });

  test("a server certificate without the local SANs fails the docker CLI's host check", async () => {
    const out = join(dir, "nosan");
    const made = await ca([
      "create-server-certificate",
      "docker1.example.com",
      "--no-local-sans",
      "--out",
      out,
    ]);
    expect(made.code).toBe(0);
    const port = 20000 + (process.pid % 20000);
    const server = Bun.spawn([
      "openssl",
      "s_server",
      "-quiet",
      "-accept",
      String(port),
      "-cert",
      join(out, "docker1.example.com.crt"),
      "-key",
      join(out, "docker1.example.com.key"),
      "-www",
    ], { stdout: "ignore", stderr: "ignore" });
    try {
      await Bun.sleep(500);
      const r = await run(["docker", "-H", `tcp://127.0.0.1:${port}`, "--tlsverify", "version"], {
        env: { DOCKER_CERT_PATH: join(dir, "alice"), DOCKER_CONFIG: join(dir, "cfg") },
      });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/doesn't contain any IP SANs|not valid for|x509/);
    } finally {
      server.kill();
      await server.exited;
    }
  });

  test("revoking alice refuses her next command with a readable reason, while bob still works", async () => {
    const revoked = await ca(["revoke", "alice", "--reason", "keyCompromise"]);
    expect(revoked.code).toBe(0);
    await Bun.sleep(1200);
    const r = await as("alice", ["ps"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`authorization denied by plugin ${plugin}`);
    expect(r.stderr).toContain("for alice was revoked");
    expect((await as("bob", ["ps"])).code).toBe(0);
  });

  test("a fresh certificate for alice works after the revocation; renew refuses a revoked one", async () => {
    const renew = await ca(["renew", "alice", "--out", join(dir, "renewed")]);
    expect(renew.code).toBe(1);
    const issued = await ca([
      "create-api-certificate",
      "alice",
      "--ou",
      "ops",
      "--docker-layout",
      "--out",
      join(dir, "alice2"),
    ]);
    expect(issued.code).toBe(0);
    const r = await as("alice2", ["ps"]);
    expect(r.code).toBe(0);
  });

  test("a broken policy file holds back no other state: revoking bob and `id init` still take effect, and say so", async () => {
    const policy = join(dir, "policy.yaml");
    writeFileSync(policy, POLICY + "  - id: broken\n    allow: [\n");
    await Bun.sleep(1200); // the agent has seen the broken policy and kept the previous one
    expect(agent.log()).toContain("cannot reload the policy, keeping the previous version");
    // No AGENT_SOCKET: the commands find the agent through the serving.json it keeps in the state dir.
    const env = {};
    const revoked = await agentCli(["ca", "revoke", "bob", "--state-dir", state], env);
    expect(revoked.code).toBe(0);
    expect(revoked.stderr).toContain(
      `The running agent on ${agent.socket} now enforces the certificate authority's`,
    );
    const bob = await as("bob", ["ps"]);
    expect(bob.code).not.toBe(0);
    expect(bob.stderr).toContain("for bob was revoked");

    const init = await agentCli(["id", "init", "--state-dir", state], env);
    expect(init.code).toBe(0);
    expect(init.stderr).toContain(`The running agent on ${agent.socket} now enforces the macaroon keyring.`);
    const noToken = await as("alice2", ["ps"]);
    expect(noToken.code).not.toBe(0);
    expect(noToken.stderr).toContain("macaroon");

    const destroyed = await agentCli(
      ["id", "destroy", "--state-dir", state, "--id", init.stdout.trim().split("\n").pop()!],
      env,
    );
    expect(destroyed.code).toBe(0);
    writeFileSync(policy, POLICY);
    await Bun.sleep(1200);
    expect((await as("alice2", ["ps"])).code).toBe(0);
  });
});
