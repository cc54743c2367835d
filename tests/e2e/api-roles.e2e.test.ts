/**
 * API roles end to end, against a real dockerd guarded by the agent and its real HTTPS listener: alice (an
 * API key) runs a service with `roles: ["global"]` and one with `["read"]`; each container's environment
 * (read with the docker CLI) holds AGENT_AUTH / DOCKERCLOUD_AUTH, the REST host and the CA; curl with
 * exactly that header has exactly its role's rights (global: alice's rights in her namespace only; read:
 * reads only); the API never shows the credential; after terminate it is 401. Nothing of it reaches the
 * audit log or the agent's log, and the role secret is 0600.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { e2eUnavailable, type GuardedHost, run, skipBanner, startApiHost, tempDir } from "./harness.ts";

const unavailable = e2eUnavailable() ?? (Bun.which("curl") ? undefined : "curl is not installed");
if (unavailable) skipBanner("api-roles.e2e.test.ts", unavailable);
const maybe = unavailable ? describe.skip : describe;

const POLICY = `version: 1
# The host's operator on the unix socket (the test's docker CLI) sees every namespace's containers: with
# --listen the plugin refuses other namespaces' objects to everyone else.
administrators: [anonymous]
rules:
  - id: local-reads          # the test's docker CLI (the unix socket) may look and import the image
    who: anonymous
    allow: [container:list, container:inspect, "image:*"]
  - id: nobody-privileged
    who: "*"
    deny: [container:create]
    when: { privileged: true }
  - id: alice
    who: [alice, bob]
    allow: ["container:*", "system:events"]
`;

interface Reply {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

maybe("API roles: the credential in a service's containers", () => {
  const plugin = `agent-api-roles-e2e-${process.pid}`;
  let port: number;
  let base: string;
  let dir: string;
  let state: string;
  let host: GuardedHost;
  let aliceKey: string;
  let bobKey: string;

  /** curl METHOD path [body] with an Authorization header value (or alice's key), the CA from `caFile`. */
  const curl = async (
    authorization: string,
    method: string,
    path: string,
    body?: unknown,
    caFile?: string,
  ) => {
    const data = body === undefined
      ? []
      : ["-H", "content-type: application/json", "-d", JSON.stringify(body)];
    const r = await run([
      "curl",
      "-sS",
      "--max-time",
      "30",
      "--cacert",
      caFile ?? join(state, "ca", "cluster.crt"),
      "-H",
      `authorization: ${authorization}`,
      "-X",
      method,
      ...data,
      "-w",
      "\n%{http_code}",
      `${base}${path}`,
    ]);
    const lines = r.stdout.trimEnd().split("\n");
    const status = Number(lines.pop());
    const text = lines.join("\n");
    return { status, body: text === "" ? {} : JSON.parse(text) } as Reply;
  };
  const basic = (user: string, key: string) => `Basic ${btoa(`${user}:${key}`)}`;
  const alice = (method: string, path: string, body?: unknown) =>
    curl(basic("alice", aliceKey), method, path, body);

  /** The environment dockerd holds for a container, as the docker CLI shows it. */
  const envOf = async (container: string): Promise<Record<string, string>> => {
    const r = await host.dockerd.docker(["inspect", container, "--format", "{{json .Config.Env}}"]);
    expect(r.code).toBe(0);
    const list = JSON.parse(r.stdout) as string[];
    return Object.fromEntries(list.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
  };

  const runService = async (name: string, roles: string[]): Promise<string> => {
    const created = await alice("POST", "/api/app/v1/service/", {
      image: "tiny:latest",
      name,
      run_command: "sleep 3600",
      roles,
    });
    expect(created.status).toBe(201);
    expect(created.body["roles"]).toEqual(roles);
    const uuid = created.body["uuid"] as string;
    expect((await alice("POST", `/api/app/v1/service/${uuid}/start/`)).status).toBe(202);
    return uuid;
  };

  beforeAll(async () => {
    dir = tempDir("api-roles");
    const api = await startApiHost({ dir, plugin, policy: POLICY, users: ["alice", "bob"] });
    ({ host, state, port, base } = api);
    aliceKey = api.keys["alice"]!;
    bobKey = api.keys["bob"]!;
  }, 180_000);

  afterAll(async () => {
    await host?.stop();
  }, 60_000);

  let globalUuid: string;
  let readUuid: string;
  let globalAuth: string;
  let readAuth: string;

  test(
    "each container gets the credential, the REST and stream hosts, the namespace and the CA",
    async () => {
      globalUuid = await runService("worker", ["global"]);
      readUuid = await runService("watcher", ["read"]);
      const env = await envOf("worker-1");
      globalAuth = env["AGENT_AUTH"]!;
      readAuth = (await envOf("watcher-1"))["AGENT_AUTH"]!;
      expect(globalAuth).toMatch(/^Basic [A-Za-z0-9+/]+=*$/);
      expect(env["DOCKERCLOUD_AUTH"]).toBe(globalAuth);
      expect(readAuth).not.toBe(globalAuth);
      expect(env).toMatchObject({
        AGENT_HOST: base,
        DOCKERCLOUD_REST_HOST: base,
        DOCKERCLOUD_STREAM_HOST: `wss://127.0.0.1:${port}`,
        AGENT_NAMESPACE: "alice",
        DOCKERCLOUD_NAMESPACE: "alice",
        DOCKERCLOUD_SERVICE_API_URI: `/api/app/v1/alice/service/${globalUuid}/`,
      });
      expect(env["AGENT_CACERT_PEM"]).toBe(readFileSync(join(state, "ca", "cluster.crt"), "utf8"));
      // The API never shows it: not in the service, not in the container.
      const key = atob(globalAuth.slice("Basic ".length)).split(":")[1]!;
      const service = await alice("GET", `/api/app/v1/service/${globalUuid}/`);
      expect(JSON.stringify(service.body)).not.toContain(key);
      const uri = (service.body["containers"] as string[])[0]!;
      const container = await alice("GET", uri);
      expect(JSON.stringify(container.body)).not.toContain(key);
      expect(container.body["container_envvars"]).toContainEqual({ key: "AGENT_AUTH", value: "[redacted]" });
    },
    90_000,
  );

  test("global: curl with the container's header and CA acts for alice, in her namespace only", async () => {
    const caFile = join(dir, "from-env-ca.pem");
    writeFileSync(caFile, (await envOf("worker-1"))["AGENT_CACERT_PEM"]!);
    const list = await curl(globalAuth, "GET", "/api/app/v1/service/", undefined, caFile);
    expect(list.status).toBe(200);
    expect((list.body["objects"] as { name: string }[]).map((o) => o.name).sort()).toEqual([
      "watcher",
      "worker",
    ]);
    // bob's namespace exists (bob has a key and a rule); alice's credential is not his.
    const bobs = await curl(basic("bob", bobKey), "POST", "/api/app/v1/service/", {
      image: "tiny:latest",
      name: "bobs",
    });
    expect(bobs.status).toBe(201);
    expect((await curl(globalAuth, "GET", `/api/app/v1/bob/service/`)).status).toBe(404);
    expect((await curl(globalAuth, "GET", `/api/app/v1/service/${bobs.body["uuid"]}/`)).status).toBe(404);
    // A write alice may make: stop the read-role service.
    const stop = await curl(globalAuth, "POST", `/api/app/v1/service/${readUuid}/stop/`);
    expect(stop.status).toBe(202);
    expect(stop.body["state"]).toBe("Stopped");
    // One the policy refuses alice is refused her role too.
    const privileged = await curl(globalAuth, "POST", "/api/app/v1/service/", {
      image: "tiny:latest",
      name: "root",
      privileged: true,
    });
    expect(privileged.status).toBe(403);
    expect((await alice("POST", `/api/app/v1/service/${readUuid}/start/`)).status).toBe(202);
  }, 60_000);

  test("read: reads only; a write is 403 and dockerd's containers do not change", async () => {
    expect((await curl(readAuth, "GET", `/api/app/v1/service/${globalUuid}/`)).status).toBe(200);
    const before = await host.dockerd.docker(["ps", "-a", "--format", "{{.Names}} {{.State}}"]);
    const stop = await curl(readAuth, "POST", `/api/app/v1/service/${globalUuid}/stop/`);
    expect(stop.status).toBe(403);
    expect(stop.body["error"]).toContain("the read API role allows reads only");
    expect((await curl(readAuth, "DELETE", `/api/app/v1/service/${readUuid}/`)).status).toBe(403);
    const after = await host.dockerd.docker(["ps", "-a", "--format", "{{.Names}} {{.State}}"]);
    expect(after.stdout).toBe(before.stdout);
  }, 60_000);

  test("terminate revokes it at once; nothing of it is in the logs; the role secret is 0600", async () => {
    expect((await alice("DELETE", `/api/app/v1/service/${globalUuid}/`)).status).toBe(202);
    const refused = await curl(globalAuth, "GET", "/api/app/v1/service/");
    expect(refused.status).toBe(401);
    expect((await curl(readAuth, "GET", "/api/app/v1/service/")).status).toBe(200);
    await Bun.sleep(300); // the audit sink writes in batches
    const keys = [globalAuth, readAuth].map((a) => atob(a.slice("Basic ".length)).split(":")[1]!);
    const audit = readFileSync(join(state, "audit.log"), "utf8");
    const roleEvents = audit.split("\n").filter((l) => l.includes('"authMethod":"role:'));
    expect(roleEvents.length).toBeGreaterThan(3);
    // The role secret the keys derive from is in its file only.
    const secret = readFileSync(join(state, "api-roles.key"), "utf8").trim();
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    for (const text of [audit, host.agent.log(), readFileSync(join(state, "services.json"), "utf8")]) {
      for (const key of [...keys, secret]) expect(text).not.toContain(key);
    }
    expect(statSync(join(state, "api-roles.key")).mode & 0o777).toBe(0o600);
  }, 60_000);
});
