/**
 * The HTTPS API end to end: `agent serve --listen 127.0.0.1:PORT` beside the plugin of a private dockerd,
 * its certificate issued from the agent's CA, and curl with client certificates. The node list comes from
 * dockerd's /info through the plugin, which accepts the API's own call by its one-time proof (anonymous gets
 * no rule for system:info); revocation reaches the listener within a second; no certificate and another
 * CA's certificate are 401; every call is an audit event with the door and the client's address.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  agentCli,
  e2eUnavailable,
  freePort,
  type GuardedHost,
  opensslTls,
  run,
  skipBanner,
  startGuardedHost,
  tempDir,
  type TlsFiles,
  waitFor,
} from "./harness.ts";

const unavailable = e2eUnavailable() ?? (Bun.which("curl") ? undefined : "curl is not installed");
if (unavailable) skipBanner("api.e2e.test.ts", unavailable);
const maybe = unavailable ? describe.skip : describe;

const POLICY = `version: 1
rules:
  - id: ops-info            # alice's certificate carries OU=ops
    who: ["ou:ops"]
    allow: ["system:info"]
  - id: bob-info
    who: [bob]
    allow: ["system:info"]
  - id: dave-info           # dave has an API key, no certificate
    who: [dave]
    allow: ["system:info"]
  - id: local-list          # the unix socket may list containers, and nothing else
    who: [anonymous]
    allow: ["container:list"]
`;

interface AuditLine {
  readonly decisionId: string;
  readonly phase: string;
  readonly user: string | null;
  readonly method: string | null;
  readonly uri: string | null;
  readonly action: string | null;
  readonly allow: boolean;
  readonly decidedBy: string;
  readonly reason: string;
  readonly status: number | null;
  readonly door?: string;
  readonly clientAddress?: string;
  readonly apiDecisionId?: string;
}

maybe("the HTTPS API (agent serve --listen)", () => {
  const plugin = `agent-api-e2e-${process.pid}`;
  const port = freePort();
  const base = `https://127.0.0.1:${port}`;
  let dir: string;
  let state: string;
  let host: GuardedHost;
  let other: TlsFiles;

  /** curl as `user` (a directory with USER.crt and USER.key), or with no certificate; `extra` curl options. */
  const curl = async (path: string, user?: string, certDir?: string, extra: string[] = []) => {
    const cert = user === undefined ? [] : [
      "--cert",
      join(certDir ?? join(dir, user), certDir ? "cert.pem" : `${user}.crt`),
      "--key",
      join(certDir ?? join(dir, user), certDir ? "key.pem" : `${user}.key`),
    ];
    const r = await run([
      "curl",
      "-sS",
      "--max-time",
      "10",
      "--cacert",
      join(state, "ca", "cluster.crt"),
      ...cert,
      ...extra,
      "-w",
      "\n%{http_code}",
      `${base}${path}`,
    ]);
    const lines = r.stdout.trimEnd().split("\n");
    const status = Number(lines.pop());
    const text = lines.join("\n");
    return {
      status,
      body: text === "" ? undefined : (JSON.parse(text) as Record<string, unknown>),
      stderr: r.stderr,
    };
  };
  const auditLines = (): AuditLine[] =>
    readFileSync(join(state, "audit.log"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as AuditLine);

  beforeAll(async () => {
    dir = tempDir("api");
    state = join(dir, "state");
    for (
      const args of [
        ["init", "--name", "api-e2e"],
        ["create-api-certificate", "alice", "--ou", "ops", "--out", join(dir, "alice")],
        ["create-api-certificate", "bob", "--out", join(dir, "bob")],
        ["create-api-certificate", "carol", "--out", join(dir, "carol")],
      ]
    ) {
      const r = await agentCli(["ca", ...args, "--state-dir", state]);
      if (r.code !== 0) throw new Error(`agent ca ${args.join(" ")} failed: ${r.stderr}`);
    }
    other = await opensslTls(join(dir, "other"), ["alice"]);
    writeFileSync(join(dir, "policy.yaml"), POLICY);
    host = await startGuardedHost({
      dir,
      plugin,
      agent: {
        stateDir: state,
        policyFile: join(dir, "policy.yaml"),
        args: ["--listen", `127.0.0.1:${port}`, "--docker-socket", join(dir, "dockerd", "docker.sock")],
      },
    });
    await waitFor(
      "the HTTPS listener",
      async () => (await curl("/api/infra/v1/node/")).status === 401,
      20_000,
    );
  }, 120_000);

  afterAll(async () => {
    await host?.stop();
  }, 60_000);

  test("the listener's certificate was issued from the agent's CA and the log says where it listens", () => {
    const log = host.agent.log();
    expect(log).toContain("issued the HTTPS listener certificate");
    expect(log).toContain("(there was none yet)");
    expect(log).toContain(`HTTPS API listening on 127.0.0.1:${port}`);
  });

  test("a client certificate of the agent's CA gets the node list from dockerd's /info", async () => {
    const r = await curl("/api/infra/v1/node/", "alice");
    expect(r.status).toBe(200);
    const meta = r.body!["meta"];
    const objects = r.body!["objects"] as Record<string, unknown>[];
    expect(meta).toEqual({ limit: 25, offset: 0, next: null, previous: null, total_count: 1 });
    expect(objects).toHaveLength(1);
    const node = objects[0]!;
    expect(node).toMatchObject({ state: "Deployed", docker_graphdriver: "vfs", current_num_containers: 0 });
    expect(node["docker_version"]).toMatch(/^[0-9]+\.[0-9]+/);
    expect(node["uuid"]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(node["resource_uri"]).toBe(`/api/infra/v1/node/${node["uuid"]}/`);
    expect(node["cpu"]).toBeGreaterThan(0);
    const one = await curl(node["resource_uri"] as string, "alice");
    expect(one.status).toBe(200);
    expect(one.body).toEqual(node);
    expect((await curl(`/api/infra/v1/alice/node/${node["uuid"]}/`, "alice")).status).toBe(200);
  });

  test("the API's own dockerd call passed the plugin by its one-time proof, not by a rule for anonymous", async () => {
    // The same call from a local client is refused: there is no blanket allowance for anonymous.
    const denied = await run(["curl", "-sS", "--unix-socket", host.dockerd.socket, "http://docker/info"]);
    expect(JSON.parse(denied.stdout)).toEqual({
      message: expect.stringMatching(
        /^authorization denied by plugin agent-api-e2e-[0-9]+: no rule allows system:info for anonymous \(decision [0-9a-f]{12}\)$/,
      ),
    });
    await Bun.sleep(300); // the audit sink writes in batches
    const lines = auditLines();
    const api = lines.filter((l) => l.door === "api" && l.user === "alice" && l.status === 200);
    expect(api.length).toBeGreaterThan(0);
    for (const call of api) {
      const plugin = lines.filter((l) => l.apiDecisionId === call.decisionId);
      expect(plugin.map((l) => [l.phase, l.method, l.uri, l.allow, l.decidedBy, l.user])).toEqual([
        ["request", "GET", "/info", true, "api", null],
        ["response", "GET", "/info", true, "api", null],
      ]);
    }
  });

  test("no certificate, and a certificate from another CA, are 401 {error}", async () => {
    const none = await curl("/api/infra/v1/node/");
    expect(none.status).toBe(401);
    expect(none.body!["error"]).toMatch(/^authentication required/);
    const foreign = await curl("/api/infra/v1/node/", "alice", other.certPath("alice"));
    expect(foreign.status).toBe(401);
  });

  test("the policy's refusal is 403 {error}; unknown paths 404 and other methods 405", async () => {
    const carol = await curl("/api/infra/v1/node/", "carol");
    expect(carol.status).toBe(403);
    expect(carol.body!["error"]).toMatch(/^no rule allows system:info for carol \(decision [0-9a-f]{12}\)$/);
    expect((await curl("/api/app/v1/nothing/", "alice")).status).toBe(404);
    const post = await run([
      "curl",
      "-sS",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      "-X",
      "POST",
      "--cacert",
      join(state, "ca", "cluster.crt"),
      "--cert",
      join(dir, "alice", "alice.crt"),
      "--key",
      join(dir, "alice", "alice.key"),
      `${base}/api/infra/v1/node/`,
    ]);
    expect(post.stdout).toBe("405");
  });

  test("a revoked certificate gets 401 within a second", async () => {
    expect((await curl("/api/infra/v1/node/", "bob")).status).toBe(200);
    const revoked = await agentCli(["ca", "revoke", "bob", "--state-dir", state]);
    expect(revoked.code).toBe(0);
    const started = performance.now();
    let status = 0;
    while (performance.now() - started < 1_000) {
      status = (await curl("/api/infra/v1/node/", "bob")).status;
      if (status === 401) break;
      await Bun.sleep(50);
    }
    expect(status).toBe(401);
  });

  test("an API key over Basic auth gets the node list; a wrong one 401; a revoked one 401 at once", async () => {
    const created = await agentCli(["apikey", "create", "dave", "--name", "e2e", "--state-dir", state]);
    expect(created.code).toBe(0);
    const key = created.stdout.trim().split("\n").pop()!;
    expect(key).toMatch(/^agt_[0-9A-Za-z]{49}$/);
    expect(created.stderr).not.toContain(key);
    expect(created.stderr).toContain("now enforces the API keys");
    const ok = await curl("/api/infra/v1/node/", undefined, undefined, ["-u", `dave:${key}`]);
    expect(ok.status).toBe(200);
    expect((ok.body!["objects"] as unknown[]).length).toBe(1);
    const wrongUser = await curl("/api/infra/v1/node/", undefined, undefined, ["-u", `bob:${key}`]);
    expect(wrongUser.status).toBe(401);
    expect(wrongUser.body!["error"]).toBeString();
    const id = (JSON.parse((await agentCli(["apikey", "list", "--json", "--state-dir", state])).stdout) as {
      id: string;
    }[])[0]!.id;
    const revoked = await agentCli(["apikey", "revoke", id, "--state-dir", state]);
    expect(revoked.code).toBe(0);
    expect((await curl("/api/infra/v1/node/", undefined, undefined, ["-u", `dave:${key}`])).status).toBe(401);
    for (const line of auditLines()) expect(JSON.stringify(line)).not.toContain(key);
  });

  test("the client commands: agent node ls and inspect with AGENT_HOST, AGENT_CACERT and an API key", async () => {
    const created = await agentCli(["apikey", "create", "dave", "--name", "client", "--state-dir", state]);
    const key = created.stdout.trim().split("\n").pop()!;
    const env = {
      AGENT_HOST: base,
      AGENT_CACERT: join(state, "ca", "cluster.crt"),
      AGENT_USER: "dave",
      AGENT_APIKEY: key,
    };
    const table = await agentCli(["node", "ls"], env);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^UUID\s+NAME\s+STATE/);
    expect(table.stdout).toContain("Deployed");
    const json = await agentCli(["node", "ls", "--json"], env);
    const nodes = JSON.parse(json.stdout) as { uuid: string; resource_uri: string }[];
    expect(nodes.length).toBe(1);
    const one = await agentCli(["node", "inspect", nodes[0]!.uuid], env);
    expect(JSON.parse(one.stdout)).toMatchObject({ uuid: nodes[0]!.uuid, state: "Deployed" });
    // Without the CA to trust, the TLS handshake fails and the client says what to set.
    const untrusted = await agentCli(["node", "ls"], { ...env, AGENT_CACERT: "" });
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toContain("set AGENT_CACERT");
    for (const r of [table, json, one, untrusted]) expect(r.stdout + r.stderr).not.toContain(key);
  });

  test("an address that keeps sending wrong keys gets 429 with Retry-After", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const wrong = `agt_${"0".repeat(43)}${"0".repeat(6)}`;
      statuses.push(
        (await curl("/api/infra/v1/node/", undefined, undefined, ["-u", `dave:${wrong}`])).status,
      );
    }
    expect(statuses.slice(0, 5).every((s) => s === 401)).toBe(true);
    expect(statuses.at(-1)).toBe(429);
    const headers = join(dir, "limited-headers.txt");
    const wrong = `agt_${"0".repeat(49)}`;
    const limited = await curl("/api/infra/v1/node/", undefined, undefined, [
      "-u",
      `dave:${wrong}`,
      "-D",
      headers,
    ]);
    expect(limited.status).toBe(429);
    expect(readFileSync(headers, "utf8")).toMatch(/^retry-after: [1-9][0-9]*\r?$/im);
    // A client certificate is not an API key attempt: alice still gets in from the same address.
    expect((await curl("/api/infra/v1/node/", "alice")).status).toBe(200);
  });

  test("every API call is an audit event with door api and the client's address", async () => {
    await Bun.sleep(300);
    const api = auditLines().filter((l) => l.door === "api");
    expect(api.length).toBeGreaterThanOrEqual(8);
    for (const line of api) {
      expect(line.clientAddress).toBe("127.0.0.1");
      expect(line.phase).toBe("request");
    }
    const statuses = new Set(api.map((l) => l.status));
    for (const status of [200, 401, 403, 404, 405]) expect(statuses.has(status)).toBe(true);
    // A refused credential names no user; the audit reason says whose certificate it was.
    expect(api.find((l) => l.status === 401 && /for bob was revoked$/.test(l.reason))).toMatchObject({
      user: null,
      decidedBy: "authentication",
      allow: false,
    });
    expect(api.find((l) => l.user === "carol")).toMatchObject({ action: "system:info", decidedBy: "policy" });
  });
});
