/**
 * Macaroons end to end: `agent id` against a running `agent serve` that is dockerd's authorization plugin,
 * driven with the real docker CLI over TLS as the user dev, whom the policy allows everything. The policy
 * has no rule for the unix socket (anonymous) at all: the agent's own name lookups and event stream, and
 * those of `agent id create`, pass on builtin:agent-lookups with the agent's internal token. The tokens
 * travel as the docker client sends them: config.json HttpHeaders (`agent id set`) or a temporary config
 * (`agent id exec`).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  agentCli,
  type AgentProcess,
  type Dockerd,
  e2eUnavailable,
  type GuardedHost,
  importTinyImage,
  opensslTls,
  skipBanner,
  startGuardedHost,
  tempDir,
  type TlsFiles,
  waitFor,
} from "./harness.ts";

const unavailable = e2eUnavailable();
if (unavailable) skipBanner("macaroon.e2e.test.ts", unavailable);
const maybe = unavailable ? describe.skip : describe;

/** Only while the test host is set up (importing the image needs the unix socket). */
const SETUP_POLICY = `version: 1
rules:
  - id: setup
    who: [anonymous]
    allow: ["*"]
  - id: dev-all
    who: [dev]
    allow: ["*"]
`;

/** What the tests run under: no rule for anonymous (the unix socket), so none for the agent's own lookups. */
const POLICY = `version: 1
rules:
  - id: dev-all
    who: [dev]
    allow: ["*"]
`;
const POLICY_HASH = new Bun.CryptoHasher("sha256").update(POLICY).digest("hex");
const LOOKUPS = ["container:inspect", "image:inspect", "exec:inspect", "system:events"];

const MISSING = "this host requires a macaroon (X-Macaroon header)";

maybe("agent id with a running plugin and dockerd", () => {
  const plugin = `agent-id-e2e-${process.pid}`;
  let dir: string;
  let state: string;
  let config: string;
  let tls: TlsFiles;
  let agent: AgentProcess;
  let dockerd: Dockerd;
  let host: GuardedHost;
  let root = "";
  let svcId = "";

  const id = async (args: string[]) => {
    const r = await agentCli(["id", ...args, "--state-dir", state], {
      DOCKER_CONFIG: config,
      DOCKER_HOST: `unix://${dockerd.socket}`,
    });
    if (r.code !== 0) throw new Error(`agent id ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
    return r.stdout.trimEnd().split("\n").at(-1)!;
  };
  /** The docker CLI as dev over TLS, with the client default from config.json (what `agent id set` wrote). */
  const docker = (args: string[]) => dockerd.dockerTls(tls.certPath("dev"), args);
  /** One docker command with a token, through `agent id exec` (config.json untouched). */
  const withToken = (token: string, args: string[]) =>
    agentCli([
      "id",
      "exec",
      "--state-dir",
      state,
      token,
      "--",
      "docker",
      "-H",
      `tcp://127.0.0.1:${dockerd.tcpPort}`,
      "--tlsverify",
      ...args,
    ], {
      DOCKER_CONFIG: config,
      DOCKER_CERT_PATH: tls.certPath("dev"),
    });

  beforeAll(async () => {
    dir = tempDir("macaroon");
    state = join(dir, "state");
    tls = await opensslTls(join(dir, "tls"), ["dev"]);
    writeFileSync(join(dir, "policy.yaml"), SETUP_POLICY);
    const dockerdDir = join(dir, "dockerd");
    config = join(dockerdDir, "docker-config");
    host = await startGuardedHost({
      dir,
      plugin,
      dockerdDir,
      agent: {
        stateDir: state,
        policyFile: join(dir, "policy.yaml"),
        args: ["--docker-socket", join(dockerdDir, "docker.sock")],
      },
      tls: { ca: tls.ca, cert: tls.serverCert, key: tls.serverKey },
    });
    ({ agent, dockerd } = host);
    await importTinyImage(dockerd, dir);
    for (const name of ["svc", "other"]) {
      const r = await docker([
        "run",
        "-d",
        "--name",
        name,
        "--network",
        "none",
        "tiny:latest",
        "sleep",
        "600",
      ]);
      if (r.code !== 0) throw new Error(`docker run ${name}: ${r.stderr}`);
      if (name === "svc") svcId = r.stdout.trim();
    }
    // From here on the unix socket has no rule: the agent reloads the policy within a second.
    writeFileSync(join(dir, "policy.yaml"), POLICY);
    await waitFor("the policy without an anonymous rule", async () => {
      const r = await dockerd.docker(["ps"]);
      return r.code !== 0 && r.stderr.includes("no rule allows container:list for anonymous");
    }, 10_000);
  }, 120_000);

  afterAll(async () => {
    await host?.stop();
  }, 60_000);

  test("agent id init while serve runs: a request without a token is refused within a second", async () => {
    expect((await docker(["ps"])).code).toBe(0);
    root = await id(["init"]);
    expect(root).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    await Bun.sleep(1_000);
    const r = await docker(["ps"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`authorization denied by plugin ${plugin}: ${MISSING}`);
    expect(agent.log()).toContain("gates: policy, macaroon");
  });

  test("a read-only token set as the client default lists containers and cannot create a volume", async () => {
    const read = await id(["create", "--op", "read"]);
    await id(["set", read]);
    expect(JSON.parse(readFileSync(join(config, "config.json"), "utf8")).HttpHeaders["X-Macaroon"]).toBe(
      read,
    );
    const ps = await docker(["ps", "--format", "{{.Names}}"]);
    expect(ps.code).toBe(0);
    expect(ps.stdout).toContain("svc");
    const denied = await docker(["volume", "create", "v1"]);
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain(
      'macaroon caveat "op = read" not satisfied: volume:create (POST) is a write request',
    );
    expect((await withToken(root, ["volume", "ls", "-q"])).stdout).not.toContain("v1");
  });

  test(
    "a container-scoped token works on that container by name and short id, and nowhere else",
    async () => {
      const scoped = await id(["create", "--container-id", "svc"]);
      const logs = await withToken(scoped, ["logs", "svc"]);
      expect(logs.stderr).toBe("");
      expect(logs.code).toBe(0);
      expect((await withToken(scoped, ["logs", svcId.slice(0, 12)])).code).toBe(0);
      const exec = await withToken(scoped, ["exec", "svc", "echo", "inside"]);
      expect(exec.stderr).toBe("");
      expect(exec.stdout.trim()).toBe("inside");
      const elsewhere = await withToken(scoped, ["logs", "other"]);
      expect(elsewhere.code).not.toBe(0);
      expect(elsewhere.stderr).toContain(
        'the request acts on container "other", not on this token\'s container',
      );
      expect((await withToken(scoped, ["exec", "other", "true"])).code).not.toBe(0);
      expect((await withToken(scoped, ["ps"])).stderr).toContain(
        "container:list does not act on a container",
      );
      const stop = await withToken(scoped, ["stop", "-t", "1", svcId.slice(0, 12)]);
      expect(stop.stderr).toBe("");
      expect(stop.code).toBe(0);
    },
    60_000,
  );

  test("a name reused by a new container does not inherit the old container's token", async () => {
    const scoped = await id(["create", "--container-id", "other"]);
    expect((await withToken(scoped, ["logs", "other"])).code).toBe(0);
    expect((await withToken(root, ["rm", "-f", "other"])).code).toBe(0);
    const again = await withToken(root, [
      "run",
      "-d",
      "--name",
      "other",
      "--network",
      "none",
      "tiny:latest",
      "sleep",
      "600",
    ]);
    expect(again.code).toBe(0);
    await Bun.sleep(300); // the daemon's events reach the agent's resolver cache
    const r = await withToken(scoped, ["logs", "other"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("not on this token's container");
  }, 60_000);

  test("an expired token is refused", async () => {
    const brief = await id(["create", "--expires", "1"]);
    await Bun.sleep(2_000);
    const r = await withToken(brief, ["ps"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/macaroon caveat "expires = [0-9T:-]+Z" not satisfied: expired at/);
  });

  test("a tampered token is refused", async () => {
    const token = await id(["create", "--op", "read"]);
    const i = token.length - 6;
    const tampered = token.slice(0, i) + (token[i] === "A" ? "B" : "A") + token.slice(i + 1);
    const r = await withToken(tampered, ["ps"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("macaroon signature is not valid");
    expect(r.stderr).not.toContain(tampered);
  });

  test("a revoked token is refused within a second", async () => {
    const token = await id(["create"]);
    expect((await withToken(token, ["ps"])).code).toBe(0);
    await id(["revoke", token]);
    await Bun.sleep(1_000);
    expect((await withToken(token, ["ps"])).stderr).toContain("macaroon has been revoked");
  });

  test("agent id exec runs docker with a token without touching the client config", async () => {
    const before = readFileSync(join(config, "config.json"), "utf8");
    const r = await withToken(root, ["volume", "create", "made-with-root"]);
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe("made-with-root");
    expect(readFileSync(join(config, "config.json"), "utf8")).toBe(before);
  });

  test("the audit log names the failing caveat and never holds a token", () => {
    const log = readFileSync(join(state, "audit.log"), "utf8");
    const events = log.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events.some((e) => e["ruleId"] === "caveat:op" && e["decidedBy"] === "macaroon")).toBe(true);
    expect(events.some((e) => e["ruleId"] === "caveat:container_id")).toBe(true);
    // The agent's own event stream and name lookups (for its name cache and the container_id caveats, and
    // those of `agent id create`) passed with its internal token, under a policy without an anonymous rule.
    const own = events.filter((e) => e["policyHash"] === POLICY_HASH && e["user"] === null && e["allow"]);
    expect(new Set(own.map((e) => e["ruleId"]))).toEqual(new Set(["builtin:agent-lookups"]));
    expect(own.every((e) => LOOKUPS.includes(String(e["action"])) && e["method"] === "GET")).toBe(true);
    for (const action of ["system:events", "container:inspect", "exec:inspect"]) {
      expect({ action, seen: own.some((e) => e["action"] === action) }).toEqual({ action, seen: true });
    }
    expect(log).not.toContain(root);
    expect(log).not.toContain(root.slice(-20));
  });

  test("with macaroons on, the plugin stops promptly and restarts with the gate on", async () => {
    const started = performance.now();
    expect(await agent.stop()).toBe(0);
    expect(performance.now() - started).toBeLessThan(5_000);
    agent = await host.restartAgent();
    expect(agent.log()).toContain("gates: policy, macaroon");
    expect((await withToken(root, ["ps"])).code).toBe(0);
    const scoped = await id(["create", "--container-id", "svc"]);
    expect((await withToken(scoped, ["logs", "svc"])).code).toBe(0);
  }, 60_000);

  test("agent id destroy (with the root macaroon) turns the requirement off", async () => {
    await id(["set", "--clear"]);
    expect((await docker(["ps"])).stderr).toContain(MISSING);
    await id(["destroy", "--id", root]);
    await Bun.sleep(1_000);
    const ps = await docker(["ps"]);
    expect(ps.stderr).toBe("");
    expect(ps.code).toBe(0);
    expect((await docker(["volume", "create", "after-destroy"])).code).toBe(0);
    expect(agent.log()).not.toContain("docker event stream unavailable");
  });
});
