/** The client commands: configuration read like Docker Cloud's tools, lists followed page by page, errors named. */
import { afterAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { CliContext } from "../../../src/cli/context.ts";
import type { CommandGroup } from "../../../src/cli/group.ts";
import { runCli } from "../../../src/cli/index.ts";
import { nodeCommands } from "../../../src/cli/node.ts";
import { clientConfig } from "../../../src/client/config.ts";
import { apiClient } from "../../../src/client/rest.ts";
import type { Env, Platform } from "../../../src/ports.ts";
import { nodeFileSystem } from "../../../src/runtime/node-file-system.ts";
import { removeTempDirs, tempDir } from "../../helpers/fixtures.ts";

afterAll(removeTempDirs);

const KEY = `agt_${"a".repeat(49)}`;
const ENV: Env = { AGENT_HOST: "https://docker1:8443", AGENT_USER: "alice", AGENT_APIKEY: KEY };

interface Call {
  readonly url: string;
  readonly authorization: string | null;
  readonly caPem: string | undefined;
}

function fakeApi(pages: Record<string, { status?: number; body: unknown }>) {
  const calls: Call[] = [];
  const platform = {
    httpsFetch(url: string, init: RequestInit, trust: { caPem?: string }) {
      calls.push({ url, authorization: new Headers(init.headers).get("authorization"), caPem: trust.caPem });
      const page = pages[new URL(url).pathname + new URL(url).search];
      if (page === undefined) return Promise.reject(new Error("connect ECONNREFUSED"));
      return Promise.resolve(new Response(JSON.stringify(page.body), { status: page.status ?? 200 }));
    },
  } as unknown as Platform;
  return { platform, calls };
}

const node = (n: number) => ({
  uuid: `0000000${n}-0000-4000-8000-000000000000`,
  resource_uri: `/api/infra/v1/node/0000000${n}-0000-4000-8000-000000000000/`,
  name: `host-${n}\u001b[2J`,
  state: "Deployed",
  docker_version: "20.10.24",
  cpu: 2,
  memory: 1024,
  current_num_containers: 3,
  running_num_containers: 1,
});

function run(argv: string[], env: Env, platform: Platform) {
  return runGroup(argv, nodeCommands, platform, env);
}

describe("the client configuration", () => {
  test("AGENT_* names first, DOCKERCLOUD_* as well; AGENT_AUTH is used verbatim and wins", async () => {
    const basic = await clientConfig(ENV, nodeFileSystem);
    expect(basic).toEqual({
      baseUrl: "https://docker1:8443",
      authorization: `Basic ${btoa(`alice:${KEY}`)}`,
      namespace: undefined,
      caPem: undefined,
    });
    const cloud = await clientConfig(
      {
        DOCKERCLOUD_REST_HOST: "docker1:8443",
        DOCKERCLOUD_USER: "bob",
        DOCKERCLOUD_APIKEY: KEY,
        DOCKERCLOUD_NAMESPACE: "ops",
      },
      nodeFileSystem,
    );
    expect(cloud).toMatchObject({ baseUrl: "https://docker1:8443", namespace: "ops" });
    expect((await clientConfig({ ...ENV, AGENT_AUTH: "Basic xyz" }, nodeFileSystem)).authorization).toBe(
      "Basic xyz",
    );
  });

  test("refuses plain HTTP, credentials or a path in AGENT_HOST, a bad namespace, and no credentials", async () => {
    const cases: [Env, string][] = [
      [{}, "set AGENT_HOST"],
      [{ ...ENV, AGENT_HOST: "http://docker1:8443" }, "must be https://HOST:PORT"],
      [{ ...ENV, AGENT_HOST: `https://alice:${KEY}@docker1:8443` }, "must not carry credentials"],
      [{ ...ENV, AGENT_HOST: "https://docker1:8443/api/" }, "without a path or query"],
      [{ AGENT_HOST: "https://docker1:8443" }, "no credentials"],
      [{ ...ENV, AGENT_NAMESPACE: "../x" }, "AGENT_NAMESPACE is not a valid namespace"],
    ];
    for (const [env, message] of cases) {
      await expect(clientConfig(env, nodeFileSystem)).rejects.toThrow(message);
      await expect(clientConfig(env, nodeFileSystem)).rejects.not.toThrow(KEY);
    }
  });

  test("AGENT_CACERT is read as the CA to trust, and must be PEM", async () => {
    const dir = await tempDir("agent-client-");
    const pem = join(dir, "cluster.crt");
    writeFileSync(pem, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    expect((await clientConfig({ ...ENV, AGENT_CACERT: pem }, nodeFileSystem)).caPem).toContain(
      "BEGIN CERTIFICATE",
    );
    writeFileSync(pem, "not pem");
    await expect(clientConfig({ ...ENV, AGENT_CACERT: pem }, nodeFileSystem)).rejects.toThrow(
      "holds no PEM certificate",
    );
  });
});

describe("the REST client", () => {
  test("follows meta.next on the same agent, sends the key only in the header, and names the namespace", async () => {
    const api = fakeApi({
      "/api/infra/v1/ops/node/?limit=100": {
        body: {
          meta: { next: "/api/infra/v1/ops/node/?limit=100&offset=1", total_count: 2 },
          objects: [node(1)],
        },
      },
      "/api/infra/v1/ops/node/?limit=100&offset=1": { body: { meta: { next: null }, objects: [node(2)] } },
    });
    const config = {
      ...(await clientConfig({ ...ENV, AGENT_NAMESPACE: "ops" }, nodeFileSystem)),
      caPem: "PEM",
    };
    const nodes = await apiClient(api.platform, config).list("infra", "node");
    expect(nodes.map((n) => n["uuid"])).toEqual([node(1).uuid, node(2).uuid]);
    for (const call of api.calls) {
      expect(call.url).not.toContain(KEY);
      expect(call.authorization).toBe(`Basic ${btoa(`alice:${KEY}`)}`);
      expect(call.caPem).toBe("PEM");
    }
  });

  test("never follows a next link to another host", async () => {
    const api = fakeApi({
      "/api/infra/v1/node/?limit=100": {
        body: { meta: { next: "https://evil.example/api/infra/v1/node/" }, objects: [node(1)] },
      },
    });
    const nodes = await apiClient(api.platform, await clientConfig(ENV, nodeFileSystem)).list(
      "infra",
      "node",
    );
    expect(nodes.length).toBe(1);
    expect(api.calls.length).toBe(1);
  });
});

describe("agent node ls|inspect", () => {
  test("prints a table with control characters from the server made harmless, or JSON", async () => {
    const api = fakeApi({
      "/api/infra/v1/node/?limit=100": { body: { meta: { next: null }, objects: [node(1)] } },
    });
    const table = await run(["node", "ls"], ENV, api.platform);
    expect(table.code).toBe(0);
    expect(table.out.split("\n")[0]).toMatch(
      /^UUID\s+NAME\s+STATE\s+DOCKER\s+CPU\s+MEMORY\s+CONTAINERS\s+RUNNING$/,
    );
    expect(table.out).toContain("host-1?[2J");
    expect(table.out).not.toContain("\u001b");
    const json = await run(["node", "ls", "--json"], ENV, api.platform);
    expect(JSON.parse(json.out)).toEqual([node(1)]);
    expect(table.out + table.err + json.out + json.err).not.toContain(KEY);
  });

  test("a refusal names the status and the server's error; an unreachable agent says so", async () => {
    const api = fakeApi({
      "/api/infra/v1/node/?limit=100": {
        status: 401,
        body: { error: "authentication required (decision 1)" },
      },
    });
    const refused = await run(["node", "ls"], ENV, api.platform);
    expect(refused.code).toBe(1);
    expect(refused.err).toBe(
      "agent: the agent at https://docker1:8443 answered 401: authentication required (decision 1) [ERR_API_REFUSED]\n",
    );
    const down = await run(["node", "inspect", "abc"], ENV, fakeApi({}).platform);
    expect(down.code).toBe(1);
    expect(down.err).toContain("cannot reach the agent at https://docker1:8443");
    expect(down.err).toContain("set AGENT_CACERT");
    expect(refused.err + down.err).not.toContain(KEY);
  });
});

describe("agent service", () => {
  test("create/run turn the command line into Docker Cloud's create body", async () => {
    const { serviceSpec } = await import("../../../src/cli/service.ts");
    expect(
      serviceSpec("registry.example/team/web:1.2", {
        env: ["A=1", "B=x=y"],
        label: ["tier=front"],
        volume: ["/srv/data:/data:ro"],
        runCommand: "sleep 3600",
        targetNumContainers: 2,
      }),
    ).toEqual({
      image: "registry.example/team/web:1.2",
      name: "web",
      target_num_containers: 2,
      container_envvars: [{ key: "A", value: "1" }, { key: "B", value: "x=y" }],
      labels: { tier: "front" },
      bindings: [{ host_path: "/srv/data", container_path: "/data", rewritable: false }],
      run_command: "sleep 3600",
    });
    expect(() => serviceSpec("tiny", { env: ["NOEQUALS"] })).toThrow("--env takes KEY=VALUE");
    expect(() => serviceSpec("tiny", { volume: ["/only"] })).toThrow(
      "--volume takes HOST_PATH:CONTAINER_PATH[:ro]",
    );
    expect(() => serviceSpec("tiny", { volume: ["/a:/b:rx"] })).toThrow("--volume mode must be ro or rw");
    expect(serviceSpec("tiny", { publish: ["8080:80", "53/udp"], role: "read", cpuShares: 512, memory: 64 }))
      .toMatchObject({
        container_ports: [
          { protocol: "tcp", inner_port: 80, outer_port: 8080, published: true },
          { protocol: "udp", inner_port: 53, outer_port: null, published: true },
        ],
        roles: ["read"],
        cpu_shares: 512,
        memory: 64,
      });
    for (const bad of ["80:", ":80", "0", "70000", "80/sctp", "a:80", "1.2.3.4:80:80"]) {
      expect(() => serviceSpec("tiny", { publish: [bad] })).toThrow(
        "--publish takes [HOST_PORT:]CONTAINER_PORT",
      );
    }
    expect(() => serviceSpec("tiny", { role: "admin" })).toThrow("--role is global or read");
  });

  test("a name is resolved to the one live service of that name; none or several is a usage error", async () => {
    const { serviceCommands } = await import("../../../src/cli/service.ts");
    const service = (uuid: string, name: string, state = "Running") => ({ uuid, name, state });
    const api = fakeApi({
      "/api/app/v1/service/?limit=100": {
        body: {
          meta: { next: null },
          objects: [
            service("u1", "web"),
            service("u2", "db"),
            service("u3", "db"),
            service("u4", "old", "Terminated"),
          ],
        },
      },
      "/api/app/v1/service/u1/": { body: service("u1", "web") },
    });
    const run2 = (argv: string[]) => runGroup(argv, serviceCommands, api.platform);
    expect(JSON.parse((await run2(["service", "inspect", "web"])).out)).toMatchObject({ uuid: "u1" });
    expect((await run2(["service", "inspect", "db"])).err).toContain(
      '2 services are named "db": give the uuid',
    );
    expect((await run2(["service", "inspect", "old"])).err).toContain('no service named "old"');
    expect((await run2(["service", "scale", "web", "11"])).err).toContain(
      "N must be a whole number from 0 to 10",
    );
  });
});

async function runGroup(argv: string[], group: CommandGroup, platform: Platform, env: Env = ENV) {
  const out: string[] = [];
  const err: string[] = [];
  const ctx = {
    fs: nodeFileSystem,
    clock: () => new Date(),
    random: (n: number) => new Uint8Array(n),
    env,
    output: { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) },
    build: { version: "t", commit: "t" },
    platform,
  } as CliContext;
  const code = await runCli(argv, ctx, [group]);
  return { code, out: out.join(""), err: err.join("") };
}
