/**
 * The container resource with a fake dockerd and the real decision core: only the addressed namespace's
 * containers (label io.agent.namespace), Docker ids as uuids, start/stop/redeploy/DELETE decided as the
 * Engine API calls they make.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { removeTempDirs } from "../ca/helpers.ts";
import { type ApiHarness, type CaFixture, caFixture } from "./helpers.ts";
import { call, READ_ONLY_POLICY, resourceHarness } from "./resources.ts";

let ca: CaFixture;
beforeAll(async () => {
  ca = await caFixture();
});
afterAll(removeTempDirs);

const CONTAINERS = "/api/app/v1/container/";
let services = 0;
/** The labels of a container of a service of namespace `n` (the service is put in the harness's store). */
async function ns(api: ApiHarness, n: string): Promise<Record<string, string>> {
  const uuid = `${(++services).toString(16).padStart(8, "0")}-0000-4000-8000-00000000000a`;
  await api.services.put({
    uuid,
    namespace: n,
    name: `svc${services}`,
    image: "tiny:latest",
    target_num_containers: 1,
    container_envvars: [],
    run_command: null,
    entrypoint: null,
    working_dir: null,
    labels: {},
    autorestart: "OFF",
    privileged: false,
    bindings: [],
    roles: [],
    container_ports: [],
    cpu_shares: null,
    memory: null,
    created_by: n,
    role_generation: 0,
    desired: "stopped",
    terminated: false,
    created_datetime: "2026-06-01T10:00:00.000Z",
    started_datetime: null,
    stopped_datetime: null,
    destroyed_datetime: null,
  });
  return { "io.agent.namespace": n, "io.agent.service": uuid };
}

describe("containers", () => {
  test("the list holds the addressed namespace's containers only, with Docker's ids as uuids", async () => {
    const api = resourceHarness(ca);
    const mine = api.docker.add("a1", await ns(api, "alice"), true);
    api.docker.add("c1", await ns(api, "carol"));
    api.docker.add("t1", await ns(api, "team"));
    api.docker.add("plain", {});
    const res = await call(api, ca, "alice", "GET", CONTAINERS);
    expect(res.status).toBe(200);
    expect(res.body["meta"]).toMatchObject({ total_count: 1 });
    expect(res.body["objects"]).toEqual([{
      uuid: mine.Id,
      resource_uri: `/api/app/v1/alice/container/${mine.Id}/`,
      name: "a1",
      image_name: "tiny:latest",
      state: "Running",
      exit_code: null,
      labels: mine.Config.Labels,
      service: `/api/app/v1/alice/service/${mine.Config.Labels["io.agent.service"]}/`,
      node: null,
      container_ports: [],
      public_dns: null,
      run_command: "sleep 1d",
      deployed_datetime: expect.stringMatching(
        /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$/,
      ),
    }]);
    expect(api.events.at(-1)).toMatchObject({ action: "container:list", allow: true });
    const team = await call(api, ca, "carol", "GET", "/api/app/v1/team/container/");
    expect((team.body["objects"] as { name: string }[]).map((o) => o.name)).toEqual(["t1"]);
    const admin = await call(api, ca, "dave", "GET", "/api/app/v1/carol/container/?state=Stopped");
    expect((admin.body["objects"] as { name: string }[]).map((o) => o.name)).toEqual(["c1"]);
    expect((await call(api, ca, "alice", "GET", "/api/app/v1/carol/container/")).status).toBe(404);
  });

  test("one container in full; another namespace's, an unknown one and a bad uuid are 404", async () => {
    const api = resourceHarness(ca);
    const mine = api.docker.add("a1", await ns(api, "alice"));
    const theirs = api.docker.add("c1", await ns(api, "carol"));
    const plain = api.docker.add("plain", {});
    const res = await call(api, ca, "alice", "GET", `${CONTAINERS}${mine.Id}/`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      uuid: mine.Id,
      name: "a1",
      state: "Stopped",
      container_envvars: [{ key: "PATH", value: "/bin" }],
      privileged: false,
      run_command: "sleep 1d",
      entrypoint: "",
      started_datetime: null,
    });
    expect(api.events.at(-1)).toMatchObject({ action: "container:inspect" });
    for (const id of [theirs.Id, plain.Id, "f".repeat(64), "a1", mine.Id.slice(0, 12)]) {
      expect((await call(api, ca, "alice", "GET", `${CONTAINERS}${id}/`)).status).toBe(404);
      expect((await call(api, ca, "alice", "POST", `${CONTAINERS}${id}/start/`)).status).toBe(404);
      expect((await call(api, ca, "alice", "DELETE", `${CONTAINERS}${id}/`)).status).toBe(404);
    }
    expect([...api.docker.containers.values()].every((c) => !c.State.Running)).toBe(true);
    expect(api.docker.containers.size).toBe(3);
  });

  test("start, stop and DELETE act on dockerd with a proof each", async () => {
    const api = resourceHarness(ca);
    const mine = api.docker.add("a1", await ns(api, "alice"));
    const started = await call(api, ca, "alice", "POST", `${CONTAINERS}${mine.Id}/start/`);
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({ state: "Running" });
    expect(api.events.at(-1)).toMatchObject({ action: "container:inspect", allow: true });
    const stopped = await call(api, ca, "alice", "POST", `${CONTAINERS}${mine.Id}/stop/`);
    expect(stopped.body).toMatchObject({ state: "Stopped", exit_code: 137 });
    const removed = await call(api, ca, "alice", "DELETE", `${CONTAINERS}${mine.Id}/`);
    expect(removed.status).toBe(202);
    expect(removed.body).toMatchObject({ state: "Terminated" });
    expect(api.docker.containers.size).toBe(0);
    expect(api.docker.calls.map((c) => `${c.method} ${c.path}`)).toEqual([
      `GET /containers/${mine.Id}/json`,
      `POST /containers/${mine.Id}/start`,
      `GET /containers/${mine.Id}/json`,
      `GET /containers/${mine.Id}/json`,
      `POST /containers/${mine.Id}/stop?t=2`,
      `GET /containers/${mine.Id}/json`,
      `GET /containers/${mine.Id}/json`,
      `DELETE /containers/${mine.Id}?force=1`,
    ]);
    for (const sent of api.docker.calls) expect(sent.headers["X-Agent-Decision"]).toBeDefined();
    expect(api.proofs.pending).toBe(0);
  });

  test("a policy that allows reads only refuses start and DELETE (403) before dockerd is touched", async () => {
    const api = resourceHarness(ca, READ_ONLY_POLICY);
    const c = api.docker.add("t1", await ns(api, "team"));
    expect((await call(api, ca, "carol", "GET", `/api/app/v1/team/container/${c.Id}/`)).status).toBe(200);
    const calls = api.docker.calls.length;
    const start = await call(api, ca, "carol", "POST", `/api/app/v1/team/container/${c.Id}/start/`);
    expect(start.status).toBe(403);
    expect(api.events.at(-1)).toMatchObject({ action: "container:start", allow: false, status: 403 });
    expect((await call(api, ca, "carol", "DELETE", `/api/app/v1/team/container/${c.Id}/`)).status).toBe(403);
    expect(api.docker.calls.length).toBe(calls);
    expect(api.docker.containers.size).toBe(1);
  });

  test("redeploy recreates a service's container under its name; another container cannot be redeployed", async () => {
    const api = resourceHarness(ca);
    const svc = await call(api, ca, "alice", "POST", "/api/app/v1/service/", {
      image: "tiny:latest",
      name: "web",
    });
    await call(api, ca, "alice", "POST", `/api/app/v1/service/${svc.body["uuid"]}/start/`);
    const old = [...api.docker.containers.values()][0]!;
    const res = await call(api, ca, "alice", "POST", `${CONTAINERS}${old.Id}/redeploy/`);
    expect(res.status).toBe(202);
    const now = [...api.docker.containers.values()];
    expect(now.map((c) => c.Name)).toEqual(["/web-1"]);
    expect(now[0]!.Id).not.toBe(old.Id);
    expect(now[0]!.State.Running).toBe(true);
    expect(res.body).toMatchObject({ uuid: now[0]!.Id, service: svc.body["resource_uri"], state: "Running" });
    await call(api, ca, "alice", "DELETE", `/api/app/v1/service/${svc.body["uuid"]}/`);
    const orphan = api.docker.add("orphan", {
      "io.agent.namespace": "alice",
      "io.agent.service": svc.body["uuid"] as string,
    });
    expect((await call(api, ca, "alice", "POST", `${CONTAINERS}${orphan.Id}/redeploy/`)).status).toBe(409);
  });

  test("a forged io.agent.namespace label (docker run --label, an image's LABEL) places nothing in a namespace", async () => {
    const api = resourceHarness(ca);
    const carols = await ns(api, "carol");
    const forged = [
      api.docker.add("bare", { "io.agent.namespace": "alice" }),
      api.docker.add("unknown", {
        "io.agent.namespace": "alice",
        "io.agent.service": "00000000-0000-4000-8000-0000000000ff",
      }),
      api.docker.add("other", {
        "io.agent.namespace": "alice",
        "io.agent.service": carols["io.agent.service"]!,
      }),
    ];
    expect((await call(api, ca, "alice", "GET", CONTAINERS)).body["objects"]).toEqual([]);
    for (const c of forged) {
      expect((await call(api, ca, "alice", "GET", `${CONTAINERS}${c.Id}/`)).status).toBe(404);
      expect((await call(api, ca, "alice", "DELETE", `${CONTAINERS}${c.Id}/`)).status).toBe(404);
    }
    expect(api.docker.containers.size).toBe(3);
  });

  test("405 with Allow, 404 for unknown verbs, 502 when dockerd does not answer", async () => {
    const api = resourceHarness(ca);
    const mine = api.docker.add("a1", await ns(api, "alice"));
    const post = await call(api, ca, "alice", "POST", CONTAINERS, {});
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
    expect((await call(api, ca, "alice", "GET", `${CONTAINERS}${mine.Id}/start/`)).status).toBe(405);
    expect((await call(api, ca, "alice", "POST", `${CONTAINERS}${mine.Id}/attach/`)).status).toBe(404);
    // exec is a websocket (GET with an upgrade): POST is not its method.
    expect((await call(api, ca, "alice", "POST", `${CONTAINERS}${mine.Id}/exec/`)).status).toBe(405);
    api.docker.failure = new Error("down");
    const down = await call(api, ca, "alice", "GET", CONTAINERS);
    expect(down.status).toBe(502);
    expect(down.body["error"]).toMatch(/^the Docker daemon did not answer \(decision/);
    expect(api.proofs.pending).toBe(0);
  });
});
