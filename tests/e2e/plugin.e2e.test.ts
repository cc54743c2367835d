/**
 * The agent as dockerd's authorization plugin, end to end: a private dockerd with --tlsverify, the real
 * docker CLI as alice, bob and the anonymous unix-socket user, and raw curl for the gotchas in
 * shared/design/docker-authz.md (encoded paths, withheld bodies, exec decided at create).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
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
  type TlsFiles,
} from "./harness.ts";

const unavailable = e2eUnavailable();
if (unavailable) skipBanner("plugin.e2e.test.ts", unavailable);
const maybe = unavailable ? describe.skip : describe;

const POLICY = `version: 1
administrators: [anonymous]
groups:
  ops: [alice]
rules:
  - id: local-admin          # the unix socket (no user) is the host's own administrator
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

maybe("agent as dockerd's authorization plugin", () => {
  const plugin = `agent-e2e-${process.pid}`;
  let dir: string;
  let tls: TlsFiles;
  let agent: AgentProcess;
  let dockerd: Dockerd;
  let host: GuardedHost;
  let policyFile: string;
  const socket = () => join(dir, "agent.sock");
  const alice = (args: string[]) => dockerd.dockerTls(tls.certPath("alice"), args);
  const bob = (args: string[]) => dockerd.dockerTls(tls.certPath("bob"), args);
  const curl = (user: string, method: string, path: string, extra: string[] = []) =>
    run([
      "curl",
      "-sS",
      "-o",
      "-",
      "-w",
      "\n%{http_code}",
      "-X",
      method,
      "--cacert",
      tls.ca,
      "--cert",
      join(tls.certPath(user), "cert.pem"),
      "--key",
      join(tls.certPath(user), "key.pem"),
      ...extra,
      `https://127.0.0.1:${dockerd.tcpPort}${path}`,
    ]);
  const auditEvents = () =>
    readFileSync(join(dir, "state", "audit.log"), "utf8").trim().split("\n").map((l) =>
      JSON.parse(l) as Record<string, unknown>
    );

  beforeAll(async () => {
    dir = tempDir("plugin");
    tls = await opensslTls(join(dir, "tls"), ["alice", "bob", "carol"]);
    policyFile = join(dir, "policy.yaml");
    writeFileSync(policyFile, POLICY);
    host = await startGuardedHost({
      dir,
      plugin,
      agent: { stateDir: join(dir, "state"), socket: socket(), policyFile },
      tls: { ca: tls.ca, cert: tls.serverCert, key: tls.serverKey },
    });
    ({ agent, dockerd } = host);
    await importTinyImage(dockerd, dir);
  }, 120_000);

  afterAll(async () => {
    await host?.stop();
  }, 60_000);

  test("alice (ops) runs a container through the plugin", async () => {
    const r = await alice(["run", "--rm", "--network", "none", "tiny:latest", "echo", "hello from alice"]);
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe("hello from alice");
  });

  test("bob may list containers but is refused a create, with the reason and a decision id", async () => {
    const ps = await bob(["ps", "-a"]);
    expect(ps.code).toBe(0);
    const denied = await bob(["run", "--rm", "--network", "none", "tiny:latest", "true"]);
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain(`authorization denied by plugin ${plugin}:`);
    expect(denied.stderr).toContain("container:create");
    expect(denied.stderr).toMatch(/decision [0-9a-f]{12}/);
  });

  test("a privileged container is refused even to alice", async () => {
    const r = await alice(["run", "--rm", "--privileged", "--network", "none", "tiny:latest", "true"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("nobody-privileged");
  });

  test("the lower-case key spelling Go accepts does not dodge the privileged rule", async () => {
    const body = JSON.stringify({
      Image: "tiny:latest",
      Cmd: ["true"],
      hostconfig: { privileged: true, NetworkMode: "none" },
    });
    const r = await curl("alice", "POST", "/v1.41/containers/create", [
      "-H",
      "Content-Type: application/json",
      "-d",
      body,
    ]);
    expect(r.stdout.trim().split("\n").at(-1)).toBe("403");
    expect(r.stdout).toContain("nobody-privileged");
  });

  test("percent-encoded and unversioned paths are judged like the plain path", async () => {
    const body = JSON.stringify({ Image: "tiny:latest", Cmd: ["true"] });
    for (const path of ["/v1.41/containers%2Fcreate", "/v1.41/%63ontainers/create", "/containers/create"]) {
      const r = await curl("bob", "POST", path, ["-H", "Content-Type: application/json", "-d", body]);
      expect(r.stdout.trim().split("\n").at(-1)).toBe("403");
      expect(r.stdout).toContain("container:create");
    }
  });

  test("a JSON body dockerd withholds (over 1 MiB) is denied, not executed unseen", async () => {
    const file = join(dir, "big.json");
    writeFileSync(
      file,
      JSON.stringify({ Image: "tiny:latest", Cmd: ["true"], Labels: { pad: "x".repeat(1_200_000) } }),
    );
    const r = await curl("alice", "POST", "/v1.41/containers/create?name=big", [
      "-H",
      "Content-Type: application/json",
      "--data-binary",
      `@${file}`,
    ]);
    expect(r.stdout.trim().split("\n").at(-1)).toBe("403");
    expect(r.stdout).toContain("not forwarded");
    const inspect = await dockerd.docker(["inspect", "big"]);
    expect(inspect.code).not.toBe(0);
  });

  test("exec is decided at POST /containers/{id}/exec: bob cannot exec into alice's container", async () => {
    const started = await alice([
      "run",
      "-d",
      "--name",
      "svc",
      "--network",
      "none",
      "tiny:latest",
      "sleep",
      "300",
    ]);
    expect(started.code).toBe(0);
    const ex = await bob(["exec", "svc", "echo", "nope"]);
    expect(ex.code).not.toBe(0);
    expect(ex.stderr).toContain("container:exec");
    const ok = await alice(["exec", "svc", "echo", "yes"]);
    expect(ok.stdout.trim()).toBe("yes");
    await dockerd.docker(["rm", "-f", "svc"]);
  });

  test("plugin management is refused to non-administrators, even with allow *", async () => {
    const r = await alice(["plugin", "disable", plugin]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("authorization denied by plugin");
    expect(r.stderr).toContain("only policy administrators may change plugins");
  });

  test("ping stays reachable for bob, and an unknown user gets nothing", async () => {
    const ping = await curl("bob", "GET", "/_ping");
    expect(ping.stdout.trim().split("\n").at(-1)).toBe("200");
    // carol holds a valid certificate from dockerd's CA but is named nowhere in the policy.
    const carol = await dockerd.dockerTls(tls.certPath("carol"), ["ps"]);
    expect(carol.code).not.toBe(0);
    expect(carol.stderr).toContain("authorization denied by plugin");
  });

  test("the audit log records both phases with user, action, rule and decision id, but no body", () => {
    const events = auditEvents();
    const denied = events.find((e) =>
      e["user"] === "bob" && e["action"] === "container:create" && e["allow"] === false
    );
    expect(denied).toBeDefined();
    expect(denied!["decisionId"]).toMatch(/^[0-9a-f]{12}$/);
    expect(denied!["authMethod"]).toBe("TLS");
    expect(
      events.some((e) =>
        e["phase"] === "response" && e["user"] === "alice" && typeof e["status"] === "number"
      ),
    ).toBe(true);
    const text = readFileSync(join(dir, "state", "audit.log"), "utf8");
    expect(text).not.toContain("hello from alice");
    expect(text).not.toContain("xxxxxxxxxx");
  });

  test("a policy edit applies while dockerd runs; a broken edit keeps the previous policy", async () => {
    writeFileSync(
      policyFile,
      POLICY.replace(
        'allow: ["container:list"',
        'allow: ["container:create", "container:start", "container:attach", "container:wait", "container:remove", "container:list"',
      ),
    );
    await Bun.sleep(1500);
    const allowed = await bob(["run", "--rm", "--network", "none", "tiny:latest", "echo", "bob ran"]);
    expect(allowed.stdout.trim()).toBe("bob ran");

    writeFileSync(policyFile, "version: 1\nrules: [ this is not yaml");
    await Bun.sleep(1500);
    expect(agent.log()).toContain("cannot reload the policy, keeping the previous version");
    const still = await bob(["run", "--rm", "--network", "none", "tiny:latest", "echo", "still"]);
    expect(still.stdout.trim()).toBe("still");
    writeFileSync(policyFile, POLICY);
    await Bun.sleep(1500);
    const back = await bob(["run", "--rm", "--network", "none", "tiny:latest", "true"]);
    expect(back.code).not.toBe(0);
  });

  test("the plugin restarts under a running dockerd and decisions resume", async () => {
    expect(await agent.stop()).toBe(0);
    expect(agent.log()).toContain("stopped");
    agent = await host.restartAgent();
    const r = await alice(["ps"]);
    expect(r.code).toBe(0);
    const denied = await bob(["volume", "create", "v1"]);
    expect(denied.stderr).toContain("authorization denied by plugin");
  });
});
