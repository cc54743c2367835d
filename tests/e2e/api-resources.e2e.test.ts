/**
 * The HTTPS API's services and containers end to end, against a real dockerd guarded by the agent: three
 * users (alice and carol may manage containers, bob may only read) and an organization `shared` (a policy
 * group of alice and bob). A service is created, started, scaled 1 -> 3 -> 1, stopped and terminated, and
 * dockerd's real containers are checked with the docker CLI at each step; each user sees and touches only
 * its namespaces (another's uuid is 404); bob's create is refused (403) and creates nothing; a privileged
 * service is refused by a `when: {privileged: true}` deny rule; the services survive an agent restart.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  agentCli,
  e2eUnavailable,
  freePort,
  type GuardedHost,
  importTinyImage,
  run,
  skipBanner,
  startGuardedHost,
  tempDir,
  waitFor,
} from "./harness.ts";

const unavailable = e2eUnavailable() ?? (Bun.which("curl") ? undefined : "curl is not installed");
if (unavailable) skipBanner("api-resources.e2e.test.ts", unavailable);
const maybe = unavailable ? describe.skip : describe;

const POLICY = `version: 1
# The host's operator on the unix socket (the test's docker CLI) sees every namespace's containers: with
# --listen the plugin refuses other namespaces' objects to everyone else.
administrators: [anonymous]
groups:
  shared: [alice, bob]
rules:
  - id: local-reads          # the test's docker CLI (the unix socket) may look and import the image
    who: anonymous
    allow: [container:list, container:inspect, "image:*"]
  - id: nobody-privileged
    description: privileged containers are not allowed on this host
    who: "*"
    deny: [container:create]
    when: { privileged: true }
  - id: managers
    who: [alice, carol]
    allow: ["container:*", "system:events"]
  - id: bob-reads
    who: [bob]
    allow: [container:list, container:inspect]
`;

interface Reply {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

maybe("the HTTPS API's services and containers", () => {
  const plugin = `agent-api-res-e2e-${process.pid}`;
  const port = freePort();
  const base = `https://127.0.0.1:${port}`;
  let dir: string;
  let state: string;
  let host: GuardedHost;
  let carolKey: string;

  /** curl as a user (client certificate; carol with her API key), METHOD path [JSON body]. */
  const api = async (user: "alice" | "bob" | "carol", method: string, path: string, body?: unknown) => {
    const credential = user === "carol"
      ? ["-u", `carol:${carolKey}`]
      : ["--cert", join(dir, user, `${user}.crt`), "--key", join(dir, user, `${user}.key`)];
    const data = body === undefined
      ? []
      : ["-H", "content-type: application/json", "-d", JSON.stringify(body)];
    const r = await run([
      "curl",
      "-sS",
      "--path-as-is", // the path as written, dot segments too: the agent, not curl, must cope
      "--max-time",
      "30",
      "--cacert",
      join(state, "ca", "cluster.crt"),
      ...credential,
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
  /** dockerd's containers, as the docker CLI shows them: "name state namespace", sorted. */
  const dockerPs = async (): Promise<string[]> => {
    const r = await host.dockerd.docker([
      "ps",
      "-a",
      "--format",
      '{{.Names}} {{.State}} {{.Label "io.agent.namespace"}}',
    ]);
    expect(r.code).toBe(0);
    return r.stdout.trim().split("\n").filter((l) => l !== "").sort();
  };

  /** Waits until a scale or redeploy of the service has ended (its state is no longer Scaling/Redeploying). */
  const settledService = (uuid: string) =>
    waitFor("the service's long action", async () => {
      const state = (await api("alice", "GET", `/api/app/v1/service/${uuid}/`)).body["state"];
      return state !== "Scaling" && state !== "Redeploying";
    }, 60_000);

  beforeAll(async () => {
    dir = tempDir("api-res");
    state = join(dir, "state");
    for (
      const args of [
        ["init", "--name", "api-res-e2e"],
        ["create-api-certificate", "alice", "--out", join(dir, "alice")],
        ["create-api-certificate", "bob", "--out", join(dir, "bob")],
      ]
    ) {
      const r = await agentCli(["ca", ...args, "--state-dir", state]);
      if (r.code !== 0) throw new Error(`agent ca ${args.join(" ")} failed: ${r.stderr}`);
    }
    const key = await agentCli(["apikey", "create", "carol", "--state-dir", state]);
    if (key.code !== 0) throw new Error(`agent apikey create failed: ${key.stderr}`);
    carolKey = key.stdout.trim().split("\n").pop()!;
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
    await importTinyImage(host.dockerd, dir);
    await waitFor(
      "the HTTPS listener",
      async () => (await api("alice", "GET", "/api/app/v1/service/")).status === 200,
      20_000,
    );
  }, 180_000);

  afterAll(async () => {
    await host?.stop();
  }, 60_000);

  let webUuid: string;

  test("a service: created (nothing at dockerd), started, scaled 1 -> 3 -> 1, stopped", async () => {
    const created = await api("alice", "POST", "/api/app/v1/service/", {
      image: "tiny:latest",
      name: "web",
      run_command: "sleep 3600",
      container_envvars: [{ key: "GREETING", value: "hi" }],
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      state: "Not running",
      target_num_containers: 1,
      current_num_containers: 0,
    });
    webUuid = created.body["uuid"] as string;
    expect(await dockerPs()).toEqual([]);

    const started = await api("alice", "POST", `/api/app/v1/service/${webUuid}/start/`);
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({ state: "Running", running_num_containers: 1 });
    expect(await dockerPs()).toEqual(["web-1 running alice"]);
    const inspect = await host.dockerd.docker([
      "inspect",
      "web-1",
      "--format",
      "{{json .Config.Env}} {{.Config.Labels}}",
    ]);
    expect(inspect.stdout).toContain("GREETING=hi");
    expect(inspect.stdout).toContain(`io.agent.service:${webUuid}`);

    const up = await api("alice", "POST", `/api/app/v1/service/${webUuid}/scale/`, {
      target_num_containers: 3,
    });
    expect(up.status).toBe(202);
    // Long work: answered at once ("Scaling"), done when the service is Running again.
    expect(up.body).toMatchObject({ state: "Scaling", target_num_containers: 3 });
    await settledService(webUuid);
    expect((await api("alice", "GET", `/api/app/v1/service/${webUuid}/`)).body).toMatchObject({
      state: "Running",
      running_num_containers: 3,
    });
    expect(await dockerPs()).toEqual(["web-1 running alice", "web-2 running alice", "web-3 running alice"]);

    const down = await api("alice", "POST", `/api/app/v1/service/${webUuid}/scale/`, {
      target_num_containers: 1,
    });
    expect(down.body).toMatchObject({ target_num_containers: 1 });
    await settledService(webUuid);
    expect(await dockerPs()).toEqual(["web-1 running alice"]);

    const containers = await api("alice", "GET", "/api/app/v1/container/");
    const objects = containers.body["objects"] as Record<string, unknown>[];
    expect(objects.map((o) => [o["name"], o["state"], o["service"]])).toEqual([
      ["web-1", "Running", `/api/app/v1/alice/service/${webUuid}/`],
    ]);
    const one = await api("alice", "GET", `/api/app/v1/container/${objects[0]!["uuid"]}/`);
    expect(one.body["container_envvars"]).toContainEqual({ key: "GREETING", value: "hi" });

    const idBefore = (await host.dockerd.docker(["inspect", "web-1", "--format", "{{.Id}}"])).stdout.trim();
    const redeployed = await api("alice", "POST", `/api/app/v1/service/${webUuid}/redeploy/`);
    expect(redeployed.status).toBe(202);
    expect(redeployed.body["state"]).toBe("Redeploying");
    await settledService(webUuid);
    const idAfter = (await host.dockerd.docker(["inspect", "web-1", "--format", "{{.Id}}"])).stdout.trim();
    expect(idAfter).not.toBe(idBefore);
    expect(await dockerPs()).toEqual(["web-1 running alice"]);

    const stopped = await api("alice", "POST", `/api/app/v1/service/${webUuid}/stop/`);
    expect(stopped.status).toBe(202);
    expect(stopped.body).toMatchObject({ state: "Stopped", running_num_containers: 0 });
    expect(await dockerPs()).toEqual(["web-1 exited alice"]);
    // Each step is an action of alice's namespace, newest first, each ended.
    const actions = await api("alice", "GET", "/api/audit/v1/action/?limit=100");
    const mine = (actions.body["objects"] as { action: string; state: string; object: string }[])
      .filter((a) => a.object === `/api/app/v1/alice/service/${webUuid}/`);
    expect(mine.map((a) => `${a.action} ${a.state}`).reverse()).toEqual([
      "Service Create Success",
      "Service Start Success",
      "Service Scale Success",
      "Service Scale Success",
      "Service Redeploy Success",
      "Service Stop Success",
    ]);
  }, 90_000);

  test("dockerd's calls passed the plugin by the API's one-time proofs, not by a rule", async () => {
    await Bun.sleep(300); // the audit sink writes in batches
    const lines = readFileSync(join(state, "audit.log"), "utf8").trim().split("\n").map((l) =>
      JSON.parse(l) as Record<string, unknown>
    );
    const creates = lines.filter((l) =>
      l["door"] === undefined && l["method"] === "POST" &&
      String(l["uri"]).includes("/containers/create") && l["phase"] === "request"
    );
    expect(creates.length).toBeGreaterThanOrEqual(3);
    for (const l of creates) expect(l).toMatchObject({ allow: true, decidedBy: "api", user: null });
    // Without a proof the same create from the unix socket is refused.
    const local = await host.dockerd.docker(["create", "--name", "local", "tiny:latest"]);
    expect(local.code).not.toBe(0);
    expect(local.stderr).toContain("no rule allows container:create for anonymous");
  });

  test("namespaces: carol's service is hers; alice and carol get 404 for each other's", async () => {
    const created = await api("carol", "POST", "/api/app/v1/service/", {
      image: "tiny:latest",
      name: "cache",
      run_command: "sleep 3600",
    });
    expect(created.status).toBe(201);
    const carolUuid = created.body["uuid"] as string;
    expect((await api("carol", "POST", `/api/app/v1/service/${carolUuid}/start/`)).status).toBe(202);
    expect(await dockerPs()).toEqual(["cache-1 running carol", "web-1 exited alice"]);

    const aliceList = await api("alice", "GET", "/api/app/v1/service/");
    expect((aliceList.body["objects"] as { name: string }[]).map((o) => o.name)).toEqual(["web"]);
    const carolList = await api("carol", "GET", "/api/app/v1/container/");
    expect((carolList.body["objects"] as { name: string }[]).map((o) => o.name)).toEqual(["cache-1"]);
    const carolContainer = (carolList.body["objects"] as { uuid: string }[])[0]!.uuid;

    expect((await api("alice", "GET", `/api/app/v1/service/${carolUuid}/`)).status).toBe(404);
    expect((await api("alice", "DELETE", `/api/app/v1/service/${carolUuid}/`)).status).toBe(404);
    expect((await api("alice", "POST", `/api/app/v1/container/${carolContainer}/stop/`)).status).toBe(404);
    expect((await api("alice", "GET", "/api/app/v1/carol/service/")).status).toBe(404);
    expect((await api("carol", "GET", `/api/app/v1/service/${webUuid}/`)).status).toBe(404);
    expect((await api("carol", "POST", `/api/app/v1/service/${webUuid}/start/`)).status).toBe(404);
    expect((await api("carol", "GET", "/api/app/v1/shared/service/")).status).toBe(404);
    expect(await dockerPs()).toEqual(["cache-1 running carol", "web-1 exited alice"]);

    const gone = await api("carol", "DELETE", `/api/app/v1/service/${carolUuid}/`);
    expect(gone.body).toMatchObject({ state: "Terminated" });
    expect(await dockerPs()).toEqual(["web-1 exited alice"]);
  }, 60_000);

  test("the organization: alice's service in shared is listed by bob, who may only read (403, nothing made)", async () => {
    const created = await api("alice", "POST", "/api/app/v1/shared/service/", {
      image: "tiny:latest",
      name: "team-app",
    });
    expect(created.status).toBe(201);
    const uuid = created.body["uuid"] as string;
    const listed = await api("bob", "GET", "/api/app/v1/shared/service/");
    expect((listed.body["objects"] as { uuid: string }[]).map((o) => o.uuid)).toEqual([uuid]);
    expect((await api("bob", "GET", `/api/app/v1/service/${uuid}/`)).status).toBe(404); // not in bob's own
    const start = await api("bob", "POST", `/api/app/v1/shared/service/${uuid}/start/`);
    expect(start.status).toBe(403);
    const create = await api("bob", "POST", "/api/app/v1/service/", { image: "tiny:latest", name: "bobs" });
    expect(create.status).toBe(403);
    expect(create.body["error"]).toMatch(/^no rule allows container:create for bob/);
    expect((await api("bob", "GET", "/api/app/v1/service/")).body["objects"]).toEqual([]);
    expect(await dockerPs()).toEqual(["web-1 exited alice"]);
  });

  test("a privileged service is refused by the deny rule (403), and nothing is created", async () => {
    const res = await api("alice", "POST", "/api/app/v1/service/", {
      image: "tiny:latest",
      name: "root",
      privileged: true,
    });
    expect(res.status).toBe(403);
    expect(res.body["error"]).toContain("privileged containers are not allowed on this host");
    expect((await api("alice", "GET", "/api/app/v1/service/?name=root")).body["objects"]).toEqual([]);
    const forged = await api("alice", "POST", "/api/app/v1/service/", {
      image: "tiny:latest",
      name: "forged",
      labels: { "io.agent.namespace": "carol" },
    });
    expect(forged.status).toBe(400);
    expect(await dockerPs()).toEqual(["web-1 exited alice"]);
  });

  test("each change is an action of its namespace, named in X-DockerCloud-Action-URI", async () => {
    const r = await run([
      "curl",
      "-sS",
      "-D",
      "-",
      "-o",
      "/dev/null",
      "--cacert",
      join(state, "ca", "cluster.crt"),
      "-u",
      `carol:${carolKey}`,
      "-X",
      "POST",
      "-H",
      "content-type: application/json",
      "-d",
      JSON.stringify({ image: "tiny:latest", name: "acted" }),
      `${base}/api/app/v1/service/`,
    ]);
    const uri = /^x-dockercloud-action-uri: (\S+)\r?$/im.exec(r.stdout)?.[1];
    expect(uri).toMatch(/^\/api\/audit\/v1\/action\/[0-9a-f-]{36}\/$/);
    const action = await api("carol", "GET", uri!);
    expect(action.body).toMatchObject({
      action: "Service Create",
      state: "Success",
      user: "carol",
      ip: "127.0.0.1",
    });
    const list = await api("carol", "GET", "/api/audit/v1/action/");
    expect((list.body["objects"] as { action: string }[]).map((a) => a.action)).toContain(
      "Service Terminate",
    );
    expect((await api("alice", "GET", uri!)).status).toBe(404);
  });

  test(
    "services and actions survive an agent restart (services.json, actions.json, 0600); terminate removes the containers",
    async () => {
      expect(statSync(join(state, "services.json")).mode & 0o777).toBe(0o600);
      const actionsBefore = await api("alice", "GET", "/api/audit/v1/action/?limit=100");
      await host.agent.stop();
      expect(statSync(join(state, "actions.json")).mode & 0o777).toBe(0o600);
      await host.restartAgent();
      await waitFor(
        "the HTTPS listener",
        async () => (await api("alice", "GET", "/api/app/v1/service/")).status === 200,
        20_000,
      )
        .catch(() => undefined);
      const again = await api("alice", "GET", `/api/app/v1/service/${webUuid}/`);
      expect(again.status).toBe(200);
      expect(again.body).toMatchObject({ name: "web", state: "Stopped", current_num_containers: 1 });
      // The actions of before the restart are still there, as they were.
      const actionsAfter = await api("alice", "GET", "/api/audit/v1/action/?limit=100");
      expect(actionsAfter.body["objects"]).toEqual(actionsBefore.body["objects"]);
      const gone = await api("alice", "DELETE", `/api/app/v1/service/${webUuid}/`);
      expect(gone.status).toBe(202);
      expect(gone.body).toMatchObject({ state: "Terminated", current_num_containers: 0 });
      expect(await dockerPs()).toEqual([]);
      const latest = await api("alice", "GET", "/api/audit/v1/action/?limit=1");
      expect((latest.body["objects"] as Record<string, unknown>[])[0]).toMatchObject({
        action: "Service Terminate",
        object: `/api/app/v1/alice/service/${webUuid}/`,
        state: "Success",
      });
    },
    60_000,
  );

  test(
    "bad input on the wire: path tricks, malformed and unknown fields, huge bodies: 4xx, nothing created",
    async () => {
      const before = await dockerPs();
      const servicesBefore = (await api("carol", "GET", "/api/app/v1/service/?limit=100")).body["meta"];
      for (
        const path of [
          "/api/app/v1/carol/../alice/service/",
          "/api/app/v1/alice/service/",
          "/api/app/v1/carol%2Fservice/",
          "/api/app/v1/service/..%2F..%2Falice%2Fservice/",
          "/api/app/v1/%2e%2e/service/",
        ]
      ) {
        const r = await api("carol", "POST", path, { image: "tiny:latest", name: "trick" });
        expect({ path, refused: r.status === 404 || r.status === 405 }).toEqual({ path, refused: true });
        expect(typeof r.body["error"]).toBe("string");
      }
      for (
        const body of [
          "{not json",
          '{"image": 7, "name": "x"}',
          '{"image": "tiny:latest", "name": "x", "volumes_from": ["y"]}',
          '{"image": "tiny:latest", "name": "x", "labels": {"io.agent.namespace": "alice"}}',
          '{"image": "tiny:latest", "name": "../../etc"}',
          `{"image": "tiny:latest", "name": "x", "run_command": "${"a".repeat(2 * 1024 * 1024)}"}`,
        ]
      ) {
        const file = join(dir, "body.json");
        writeFileSync(file, body);
        const r = await run([
          "curl",
          "-sS",
          "--max-time",
          "30",
          "--cacert",
          join(state, "ca", "cluster.crt"),
          "-u",
          `carol:${carolKey}`,
          "-H",
          "content-type: application/json",
          "--data-binary",
          `@${file}`,
          "-o",
          "/dev/null",
          "-w",
          "%{http_code}",
          `${base}/api/app/v1/service/`,
        ]);
        expect({ body: body.slice(0, 80), status: Number(r.stdout) }).toEqual({
          body: body.slice(0, 80),
          status: body.length > 1024 * 1024 ? 413 : 400,
        });
      }
      expect(await dockerPs()).toEqual(before);
      expect((await api("carol", "GET", "/api/app/v1/service/?limit=100")).body["meta"]).toEqual(
        servicesBefore,
      );
    },
    60_000,
  );

  test("published ports and limits reach dockerd", async () => {
    const hostPort = freePort();
    const created = await api("carol", "POST", "/api/app/v1/service/", {
      image: "tiny:latest",
      name: "ports",
      run_command: "sleep 3600",
      container_ports: [{ protocol: "tcp", inner_port: 8080, outer_port: hostPort, published: true }],
      memory: 64,
      cpu_shares: 512,
    });
    expect(created.status).toBe(201);
    const uuid = created.body["uuid"] as string;
    expect((await api("carol", "POST", `/api/app/v1/service/${uuid}/start/`)).status).toBe(202);
    const inspect = await host.dockerd.docker([
      "inspect",
      "ports-1",
      "--format",
      "{{.HostConfig.Memory}} {{.HostConfig.CpuShares}} {{json .HostConfig.PortBindings}}",
    ]);
    expect(inspect.stdout.trim()).toBe(`67108864 512 {"8080/tcp":[{"HostIp":"","HostPort":"${hostPort}"}]}`);
    // The test's dockerd has no bridge network, so nothing is bound on the host: the service shows its ports.
    expect((await api("carol", "GET", `/api/app/v1/service/${uuid}/`)).body["container_ports"]).toEqual([
      { protocol: "tcp", inner_port: 8080, outer_port: hostPort, published: true },
    ]);
    expect((await api("carol", "DELETE", `/api/app/v1/service/${uuid}/`)).status).toBe(202);
  }, 60_000);

  test(
    "the client commands drive the same API: service run, ls, scale, container ls, action ls, rm",
    async () => {
      const env = {
        AGENT_HOST: base,
        AGENT_CACERT: join(state, "ca", "cluster.crt"),
        AGENT_USER: "carol",
        AGENT_APIKEY: carolKey,
      };
      const agent = (args: string[]) => agentCli(args, env);
      const ran = await agent([
        "service",
        "run",
        "tiny:latest",
        "--name",
        "cli",
        "--run-command",
        "sleep 3600",
        "--json",
      ]);
      expect(ran.code).toBe(0);
      expect(JSON.parse(ran.stdout)).toMatchObject({ name: "cli", state: "Running" });
      expect(await dockerPs()).toEqual(["cli-1 running carol"]);
      const table = await agent(["service", "ls"]);
      expect(table.stdout).toMatch(/^NAME\s+UUID\s+STATE\s+IMAGE\s+#CONTAINERS/);
      expect(table.stdout).toMatch(/\ncli\s+\S+\s+Running\s+tiny:latest\s+1\/1/);
      expect((await agent(["service", "scale", "cli", "2"])).code).toBe(0);
      expect(await dockerPs()).toEqual(["cli-1 running carol", "cli-2 running carol"]);
      const containers = await agent(["container", "ls"]);
      expect(containers.stdout).toContain("cli-2");
      expect((await agent(["container", "stop", "cli-2"])).code).toBe(0);
      expect(await dockerPs()).toEqual(["cli-1 running carol", "cli-2 exited carol"]);
      const actions = await agent(["action", "ls"]);
      expect(actions.stdout).toContain("Service Create");
      expect(actions.stdout).toContain("Container Stop");
      const refused = await agentCli(
        ["service", "run", "tiny:latest", "--name", "priv", "--privileged"],
        env,
      );
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain("answered 403");
      const gone = await agent(["service", "rm", "cli"]);
      expect(gone.code).toBe(0);
      expect(gone.stdout).toContain("Terminated");
      expect(await dockerPs()).toEqual([]);
      for (const r of [ran, table, containers, actions, refused, gone]) {
        expect(r.stdout + r.stderr).not.toContain(carolKey);
      }
    },
    60_000,
  );
});
