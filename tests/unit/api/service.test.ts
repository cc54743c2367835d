/**
 * The service resource with a fake dockerd and the real decision core: create (decided as container:create
 * with the body dockerd would get), start, scale, stop, redeploy, terminate; namespaces; bad input.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { readFile, stat, writeFile } from "node:fs/promises";
import { openServiceStore } from "../../../src/api/index.ts";
import { DECISION_PROOF_HEADER } from "../../../src/decide/decision-proof.ts";
import { nodeFileSystem } from "../../../src/runtime/node-file-system.ts";
import { removeTempDirs } from "../ca/helpers.ts";
import { tempDir } from "../../helpers/fixtures.ts";
import { type CaFixture, caFixture } from "./helpers.ts";
import { call, READ_ONLY_POLICY, resourceHarness, settled } from "./resources.ts";

let ca: CaFixture;
beforeAll(async () => {
  ca = await caFixture();
});
afterAll(removeTempDirs);

const SERVICES = "/api/app/v1/service/";
const WEB = {
  image: "tiny:latest",
  name: "web",
  run_command: "sleep 1d",
  container_envvars: [{ key: "A", value: "1" }],
};

function names(api: ReturnType<typeof resourceHarness>): string[] {
  return [...api.docker.containers.values()].map((c) => c.Name.slice(1)).sort();
}

describe("services: the life of one", () => {
  test("create (nothing started), start, scale 1->3->1, stop, terminate, each checked at dockerd", async () => {
    const api = resourceHarness(ca);
    const created = await call(api, ca, "alice", "POST", SERVICES, WEB);
    expect(created.status).toBe(201);
    const uuid = created.body["uuid"] as string;
    expect(created.body).toMatchObject({
      resource_uri: `/api/app/v1/alice/service/${uuid}/`,
      name: "web",
      image_name: "tiny:latest",
      state: "Not running",
      target_num_containers: 1,
      current_num_containers: 0,
      run_command: "sleep 1d",
      container_envvars: [{ key: "A", value: "1" }],
    });
    expect(api.events.at(-1)).toMatchObject({ action: "container:create", allow: true, status: 201 });
    expect(api.docker.calls).toEqual([]);

    const started = await call(api, ca, "alice", "POST", `${SERVICES}${uuid}/start/`);
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({
      state: "Running",
      current_num_containers: 1,
      running_num_containers: 1,
    });
    expect(names(api)).toEqual(["web-1"]);
    const web1 = [...api.docker.containers.values()][0]!;
    expect(web1.Config.Labels).toEqual({ "io.agent.namespace": "alice", "io.agent.service": uuid });
    expect(web1.Config.Env).toEqual(["A=1"]);
    expect(web1.Config.Cmd).toEqual(["sleep", "1d"]);
    // Every call to dockerd carries a one-time proof of this decision, withdrawn after.
    for (const sent of api.docker.calls) {
      expect(sent.headers[DECISION_PROOF_HEADER]).toMatch(/^[0-9a-f]+\.[0-9a-f]{32}$/);
    }
    expect(api.proofs.pending).toBe(0);
    const create = api.docker.calls.find((c) =>
      c.method === "POST" && c.path.startsWith("/containers/create")
    )!;
    expect(create.path).toBe("/containers/create?name=web-1");
    expect(create.body).toMatchObject({ Image: "tiny:latest", HostConfig: { Privileged: false } });

    const up = await call(api, ca, "alice", "POST", `${SERVICES}${uuid}/scale/`, {
      target_num_containers: 3,
    });
    expect(up.status).toBe(202);
    // Long work: answered at once, the action "In progress" until the containers are there.
    expect(up.body).toMatchObject({ state: "Scaling", target_num_containers: 3 });
    expect((await settled(api, up))["state"]).toBe("Success");
    expect((await call(api, ca, "alice", "GET", `${SERVICES}${uuid}/`)).body).toMatchObject({
      state: "Running",
      running_num_containers: 3,
    });
    expect(names(api)).toEqual(["web-1", "web-2", "web-3"]);
    expect([...api.docker.containers.values()].every((c) => c.State.Running)).toBe(true);

    const down = await call(api, ca, "alice", "POST", `${SERVICES}${uuid}/scale/`, {
      target_num_containers: 1,
    });
    expect(down.body).toMatchObject({ target_num_containers: 1 });
    await settled(api, down);
    expect(names(api)).toEqual(["web-1"]);

    const stopped = await call(api, ca, "alice", "POST", `${SERVICES}${uuid}/stop/`);
    expect(stopped.body).toMatchObject({
      state: "Stopped",
      running_num_containers: 0,
      current_num_containers: 1,
    });
    expect(api.docker.calls.at(-2)).toMatchObject({ method: "POST", path: "/containers/web-1/stop?t=2" });

    const gone = await call(api, ca, "alice", "DELETE", `${SERVICES}${uuid}/`);
    expect(gone.status).toBe(202);
    expect(gone.body).toMatchObject({ state: "Terminated", current_num_containers: 0 });
    expect(names(api)).toEqual([]);
    expect((await call(api, ca, "alice", "GET", `${SERVICES}${uuid}/`)).body).toMatchObject({
      state: "Terminated",
    });
    expect((await call(api, ca, "alice", "POST", `${SERVICES}${uuid}/start/`)).status).toBe(409);
    // The name is free again once the service is terminated.
    expect((await call(api, ca, "alice", "POST", SERVICES, WEB)).status).toBe(201);
  });

  test("scaling a stopped service creates nothing and removes the extra ones", async () => {
    const api = resourceHarness(ca);
    const uuid =
      (await call(api, ca, "alice", "POST", SERVICES, { ...WEB, target_num_containers: 2 })).body["uuid"];
    await call(api, ca, "alice", "POST", `${SERVICES}${uuid}/start/`);
    await call(api, ca, "alice", "POST", `${SERVICES}${uuid}/stop/`);
    expect(names(api)).toEqual(["web-1", "web-2"]);
    const res = await call(api, ca, "alice", "POST", `${SERVICES}${uuid}/scale/`, {
      target_num_containers: 1,
    });
    await settled(api, res);
    expect((await call(api, ca, "alice", "GET", `${SERVICES}${uuid}/`)).body).toMatchObject({
      state: "Stopped",
      current_num_containers: 1,
    });
    await settled(
      api,
      await call(api, ca, "alice", "POST", `${SERVICES}${uuid}/scale/`, { target_num_containers: 3 }),
    );
    expect(names(api)).toEqual(["web-1"]);
  });

  test("PATCH changes the spec; redeploy recreates the containers with it", async () => {
    const api = resourceHarness(ca);
    const uuid = (await call(api, ca, "alice", "POST", SERVICES, WEB)).body["uuid"];
    await call(api, ca, "alice", "POST", `${SERVICES}${uuid}/start/`);
    const before = [...api.docker.containers.keys()];
    const patched = await call(api, ca, "alice", "PATCH", `${SERVICES}${uuid}/`, {
      container_envvars: [{ key: "B", value: "2" }],
      labels: { tier: "front" },
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({
      container_envvars: [{ key: "B", value: "2" }],
      labels: { tier: "front" },
    });
    const redeployed = await call(api, ca, "alice", "POST", `${SERVICES}${uuid}/redeploy/`);
    expect(redeployed.status).toBe(202);
    expect(redeployed.body).toMatchObject({ state: "Redeploying" });
    expect((await settled(api, redeployed))["state"]).toBe("Success");
    const after = [...api.docker.containers.values()];
    expect(after.map((c) => c.Id)).not.toEqual(before);
    expect(after[0]!.Config.Env).toEqual(["B=2"]);
    expect(after[0]!.Config.Labels).toMatchObject({ tier: "front", "io.agent.namespace": "alice" });
    expect((await call(api, ca, "alice", "PATCH", `${SERVICES}${uuid}/`, { name: "other" })).status).toBe(
      400,
    );
  });

  test("list with meta, and the name and state filters", async () => {
    const api = resourceHarness(ca);
    const a = (await call(api, ca, "alice", "POST", SERVICES, WEB)).body["uuid"];
    await call(api, ca, "alice", "POST", SERVICES, { ...WEB, name: "db" });
    await call(api, ca, "alice", "POST", `${SERVICES}${a}/start/`);
    const all = await call(api, ca, "alice", "GET", SERVICES);
    expect(all.body["meta"]).toEqual({ limit: 25, offset: 0, next: null, previous: null, total_count: 2 });
    const running = await call(api, ca, "alice", "GET", `${SERVICES}?state=Running`);
    expect((running.body["objects"] as { name: string }[]).map((o) => o.name)).toEqual(["web"]);
    const db = await call(api, ca, "alice", "GET", `${SERVICES}?name=db`);
    expect((db.body["objects"] as { state: string }[]).map((o) => o.state)).toEqual(["Not running"]);
    expect((await call(api, ca, "alice", "GET", `${SERVICES}?limit=0`)).status).toBe(400);
  });

  test("without a name a service is named after its image, as Docker Cloud did; filters by prefix", async () => {
    const api = resourceHarness(ca);
    const created = await call(api, ca, "alice", "POST", SERVICES, {
      image: "registry.test:5000/team/tiny:1.0",
    });
    expect(created.status).toBe(201);
    expect(created.body["name"]).toBe("tiny");
    expect(created.body["created_datetime"]).toMatch(/^Mon, 01 Jun 2026 10:00:00 \+0000$/);
    const uuid = created.body["uuid"] as string;
    const byPrefix = await call(api, ca, "alice", "GET", `${SERVICES}?uuid__startswith=${uuid.slice(0, 8)}`);
    expect((byPrefix.body["objects"] as { uuid: string }[]).map((o) => o.uuid)).toEqual([uuid]);
    const none = await call(api, ca, "alice", "GET", `${SERVICES}?uuid=${uuid.slice(0, 8)}`);
    expect(none.body["objects"]).toEqual([]);
  });

  test("ports and limits reach the create body; bad ones are 400", async () => {
    const api = resourceHarness(ca);
    const created = await call(api, ca, "alice", "POST", SERVICES, {
      ...WEB,
      container_ports: [{ protocol: "tcp", inner_port: 80, outer_port: 8080, published: true }, {
        inner_port: 53,
        protocol: "udp",
      }],
      cpu_shares: 512,
      memory: 64,
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      container_ports: [
        { protocol: "tcp", inner_port: 80, outer_port: 8080, published: true },
        { protocol: "udp", inner_port: 53, outer_port: null, published: false },
      ],
      cpu_shares: 512,
      memory: 64,
    });
    await call(api, ca, "alice", "POST", `${SERVICES}${created.body["uuid"]}/start/`);
    const create = api.docker.calls.find((c) => c.path.startsWith("/containers/create"))!;
    expect(create.body).toMatchObject({
      ExposedPorts: { "80/tcp": {}, "53/udp": {} },
      HostConfig: {
        PortBindings: { "80/tcp": [{ HostPort: "8080" }] },
        CpuShares: 512,
        Memory: 64 * 1024 * 1024,
      },
    });
    for (
      const bad of [
        { container_ports: [{ inner_port: 0 }] },
        { container_ports: [{ inner_port: 80, protocol: "sctp" }] },
        { container_ports: [{ inner_port: 80, outer_port: 81, published: false }] },
        { container_ports: [{ inner_port: 80 }, { inner_port: 80 }] },
        { container_ports: [{ inner_port: 80, host_ip: "0.0.0.0" }] },
        { memory: 1 },
        { memory: "64m" },
        { cpu_shares: 1.5 },
      ]
    ) {
      const res = await call(api, ca, "alice", "POST", SERVICES, { ...WEB, name: "bad", ...bad });
      expect({ bad, status: res.status }).toEqual({ bad, status: 400 });
    }
  });

  test("an image the host lacks: start is 502 naming it, and says the agent does not pull", async () => {
    const api = resourceHarness(ca);
    const uuid =
      (await call(api, ca, "alice", "POST", SERVICES, { ...WEB, image: "missing:1" })).body["uuid"];
    const started = await call(api, ca, "alice", "POST", `${SERVICES}${uuid}/start/`);
    expect(started.status).toBe(502);
    expect(started.body["error"]).toContain("No such image: missing:1 (the agent does not pull images");
  });

  test("a scale that dockerd fails ends its action Failed with dockerd's reason; a busy service is 409", async () => {
    const api = resourceHarness(ca);
    const uuid = (await call(api, ca, "alice", "POST", SERVICES, WEB)).body["uuid"];
    await call(api, ca, "alice", "POST", `${SERVICES}${uuid}/start/`);
    // Another container already holds the name the scale needs.
    api.docker.add("web-2", {});
    let release!: () => void;
    api.docker.holdCreates = new Promise((resolve) => (release = resolve));
    const up = await call(api, ca, "alice", "POST", `${SERVICES}${uuid}/scale/`, {
      target_num_containers: 2,
    });
    expect(up.status).toBe(202);
    const busy = await call(api, ca, "alice", "POST", `${SERVICES}${uuid}/stop/`);
    expect(busy.status).toBe(409);
    expect(busy.body["error"]).toContain("the service is scaling");
    expect((await call(api, ca, "alice", "GET", `${SERVICES}${uuid}/`)).body["state"]).toBe("Scaling");
    expect(api.actions.get(up.headers.get("x-agent-action-uri")!.split("/").at(-2)!)?.state).toBe(
      "In progress",
    );
    release();
    const action = await settled(api, up);
    expect(action).toMatchObject({ action: "Service Scale", state: "Failed" });
    expect(action["logs"]).toContain("is already in use");
    expect(action["end_date"]).not.toBeNull();
    // Not busy any more.
    expect((await call(api, ca, "alice", "POST", `${SERVICES}${uuid}/stop/`)).status).toBe(202);
  });
});

describe("services: namespaces", () => {
  test("another user's service is 404 to carol by uuid and absent from her list; her namespace is 404 to alice", async () => {
    const api = resourceHarness(ca);
    const uuid = (await call(api, ca, "alice", "POST", SERVICES, WEB)).body["uuid"];
    expect((await call(api, ca, "carol", "GET", `${SERVICES}${uuid}/`)).status).toBe(404);
    expect((await call(api, ca, "carol", "POST", `${SERVICES}${uuid}/start/`)).status).toBe(404);
    expect((await call(api, ca, "carol", "DELETE", `${SERVICES}${uuid}/`)).status).toBe(404);
    expect((await call(api, ca, "carol", "GET", SERVICES)).body["objects"]).toEqual([]);
    expect((await call(api, ca, "carol", "GET", `/api/app/v1/alice/service/`)).status).toBe(404);
    expect((await call(api, ca, "alice", "GET", `/api/app/v1/carol/service/`)).status).toBe(404);
    expect(names(api)).toEqual([]);
  });

  test("a policy group is an organization both members address; the administrator addresses every namespace", async () => {
    const api = resourceHarness(ca);
    const created = await call(api, ca, "alice", "POST", "/api/app/v1/team/service/", WEB);
    expect(created.status).toBe(201);
    expect(created.body["resource_uri"]).toBe(`/api/app/v1/team/service/${created.body["uuid"]}/`);
    const listed = await call(api, ca, "carol", "GET", "/api/app/v1/team/service/");
    expect((listed.body["objects"] as unknown[]).length).toBe(1);
    expect(
      (await call(api, ca, "carol", "POST", `/api/app/v1/team/service/${created.body["uuid"]}/start/`))
        .status,
    )
      .toBe(202);
    expect([...api.docker.containers.values()][0]!.Config.Labels["io.agent.namespace"]).toBe("team");
    // Not in carol's own namespace: the organization's resources live under its name.
    expect((await call(api, ca, "carol", "GET", `${SERVICES}${created.body["uuid"]}/`)).status).toBe(404);
    expect((await call(api, ca, "dave", "GET", "/api/app/v1/team/service/")).status).toBe(200);
    expect((await call(api, ca, "dave", "GET", "/api/app/v1/alice/service/")).status).toBe(200);
    // alice's certificate OU (ops) is a namespace of hers too.
    expect((await call(api, ca, "alice", "GET", "/api/app/v1/ops/service/")).status).toBe(200);
  });
});

describe("services: refusals change nothing", () => {
  test("a privileged create is refused by the deny rule's when: {privileged: true} (403), nothing stored", async () => {
    const api = resourceHarness(ca);
    const res = await call(api, ca, "alice", "POST", SERVICES, { ...WEB, privileged: true });
    expect(res.status).toBe(403);
    expect(res.body["error"]).toMatch(
      /^denied by rule nobody-privileged: privileged containers are not allowed on this host/,
    );
    expect(api.events.at(-1)).toMatchObject({
      action: "container:create",
      ruleId: "nobody-privileged",
      status: 403,
    });
    expect(api.services.list()).toEqual([]);
    expect(api.docker.calls).toEqual([]);
    // Nor can a PATCH make an existing service privileged.
    const uuid = (await call(api, ca, "alice", "POST", SERVICES, WEB)).body["uuid"];
    expect((await call(api, ca, "alice", "PATCH", `${SERVICES}${uuid}/`, { privileged: true })).status).toBe(
      403,
    );
    expect(api.services.get(uuid as string)!.privileged).toBe(false);
  });

  test("a user allowed only reads cannot create (403) nor start; nothing is created", async () => {
    const api = resourceHarness(ca, READ_ONLY_POLICY);
    const res = await call(api, ca, "carol", "POST", "/api/app/v1/team/service/", WEB);
    expect(res.status).toBe(403);
    expect(api.services.list()).toEqual([]);
    const uuid = (await call(api, ca, "alice", "POST", "/api/app/v1/team/service/", WEB)).body["uuid"];
    expect((await call(api, ca, "carol", "GET", `/api/app/v1/team/service/${uuid}/`)).status).toBe(200);
    const start = await call(api, ca, "carol", "POST", `/api/app/v1/team/service/${uuid}/start/`);
    expect(start.status).toBe(403);
    expect(api.docker.containers.size).toBe(0);
    expect(api.docker.calls.filter((c) => c.method !== "GET")).toEqual([]);
  });

  test("bad input is 400 (malformed JSON, wrong types, unknown fields, the agent's labels), 413, 415, 404", async () => {
    const api = resourceHarness(ca);
    const bad: unknown[] = [
      "{not json",
      "[1]",
      "",
      { name: "web" },
      { image: "localhost:5000/-x" },
      { ...WEB, name: "-bad" },
      { ...WEB, target_num_containers: "3" },
      { ...WEB, target_num_containers: 11 },
      { ...WEB, target_num_containers: 1.5 },
      { ...WEB, privileged: "yes" },
      { ...WEB, container_envvars: [{ key: "A" }] },
      { ...WEB, container_envvars: [{ key: "A", value: "1", extra: 1 }] },
      { ...WEB, container_envvars: {} },
      { ...WEB, run_command: "sleep 'unterminated" },
      { ...WEB, autorestart: "sometimes" },
      { ...WEB, roles: ["global"] },
      { ...WEB, unknown: 1 },
      { ...WEB, labels: { "io.agent.namespace": "carol" } },
      { ...WEB, labels: { "IO.AGENT.service": "x" } },
      { ...WEB, labels: { a: 1 } },
      { ...WEB, bindings: [{ host_path: "/etc", container_path: "rel" }] },
    ];
    for (const body of bad) {
      const res = await call(api, ca, "alice", "POST", SERVICES, body);
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
      expect(res.body["error"]).toMatch(/\(decision [0-9a-f]{12}\)$/);
    }
    expect(api.services.list()).toEqual([]);
    const huge = await call(api, ca, "alice", "POST", SERVICES, { ...WEB, pad: "x".repeat(1024 * 1024 + 1) });
    expect(huge.status).toBe(413);
    const form = await api.request(SERVICES, {
      method: "POST",
      body: "a=b",
      headers: { "content-type": "text/plain" },
    }, {
      peerCertificatesPem: [ca.pems.alice],
      peerVerified: true,
    });
    expect(form.status).toBe(415);
    const uuid = (await call(api, ca, "alice", "POST", SERVICES, WEB)).body["uuid"];
    expect(
      (await call(api, ca, "alice", "PATCH", `${SERVICES}${uuid}/`, {
        labels: { "io.agent.namespace": "x" },
      })).status,
    )
      .toBe(400);
    expect(
      (await call(api, ca, "alice", "POST", `${SERVICES}${uuid}/scale/`, { target_num_containers: -1 }))
        .status,
    ).toBe(400);
    expect((await call(api, ca, "alice", "POST", `${SERVICES}${uuid}/scale/`, { other: 1 })).status).toBe(
      400,
    );
    expect((await call(api, ca, "alice", "POST", SERVICES, WEB)).status).toBe(409);
    for (
      const path of [
        `${SERVICES}not-a-uuid/`,
        `${SERVICES}${uuid}/fly/`,
        `${SERVICES}00000000-0000-4000-8000-000000000999/`,
      ]
    ) {
      expect((await call(api, ca, "alice", "GET", path)).status).toBe(404);
    }
    const put = await call(api, ca, "alice", "PUT", `${SERVICES}${uuid}/`, WEB);
    expect(put.status).toBe(405);
    expect(put.headers.get("allow")).toBe("GET, HEAD, PATCH, DELETE");
  });
});

describe("services: path tricks", () => {
  test("dot segments, encoded slashes, empty or encoded namespaces and another's name: 4xx, nothing created", async () => {
    const api = resourceHarness(ca);
    const paths = [
      "/api/app/v1/alice/../carol/service/", // normalised to carol's: not alice's
      "/api/app/v1/carol/service/",
      "/api/app/v1/alice%2Fservice/",
      "/api/app/v1/alice/service%2F",
      "/api/app/v1/service%2F/",
      "/api/app/v1/%61lice/service/",
      "/api/app/v1//service/",
      "/api/app/v1/alice/service/..%2F..%2Fcarol%2Fservice/",
      "/api/app/v1/alice/carol/service/",
      "/api/app/v1/service",
      "/api/app/v1/service/%2e%2e/",
    ];
    for (const path of paths) {
      const res = await call(api, ca, "alice", "POST", path, { image: "tiny:latest", name: "trick" });
      // 404, or 405 where the trick reads as a service's uuid (POST is not a method of one).
      expect({ path, refused: [404, 405].includes(res.status) }).toEqual({ path, refused: true });
      expect(res.body["error"]).toMatch(/^(not found|method not allowed) \(decision /);
    }
    expect(api.services.list()).toEqual([]);
    expect(api.docker.calls).toEqual([]);
    // A namespace in the query is not a namespace.
    const queried = await call(api, ca, "alice", "POST", "/api/app/v1/service/?namespace=carol", {
      image: "tiny:latest",
      name: "mine",
    });
    expect(queried.body["resource_uri"]).toMatch(/^\/api\/app\/v1\/alice\/service\//);
  });
});

describe("services: the store", () => {
  test("persists in one 0600 file, survives a reopen; a broken file is never overwritten and answers 503", async () => {
    const dir = await tempDir("agent-services-");
    const path = join(dir, "services.json");
    const store = await openServiceStore(nodeFileSystem, path);
    const api = resourceHarness(ca, undefined, store);
    const uuid = (await call(api, ca, "alice", "POST", SERVICES, WEB)).body["uuid"] as string;
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const again = await openServiceStore(nodeFileSystem, path);
    expect(again.get(uuid)).toMatchObject({ name: "web", namespace: "alice", desired: "stopped" });

    await writeFile(path, "{broken");
    const broken = await openServiceStore(nodeFileSystem, path);
    expect(broken.problem).toContain("services.json cannot be read or is not JSON");
    const api2 = resourceHarness(ca, undefined, broken);
    const res = await call(api2, ca, "alice", "POST", SERVICES, WEB);
    expect(res.status).toBe(503);
    expect((await call(api2, ca, "alice", "GET", SERVICES)).status).toBe(503);
    expect(await readFile(path, "utf8")).toBe("{broken");
  });
});
