/**
 * The HTTPS API as a client that knows only Docker Cloud's documentation sees it. The client
 * (tests/e2e/docker-cloud-client/client.py, Python 3's standard library only) behaves as Docker Cloud's
 * Python SDK and CLI did: configured by DOCKERCLOUD_REST_HOST, DOCKERCLOUD_USER + DOCKERCLOUD_APIKEY or
 * DOCKERCLOUD_AUTH, DOCKERCLOUD_NAMESPACE and REQUESTS_CA_BUNDLE; trailing-slash paths, Basic auth, JSON
 * headers, lists read as meta/objects page by page, objects addressed by uuid and by resource_uri, the
 * action named in X-DockerCloud-Action-URI. It runs a service's life cycle (list, create, fetch, start, poll
 * until Running, the action, the service's containers, stop, terminate) and the error shapes against a real
 * dockerd guarded by the agent, in the organization namespace `team`, and prints a JSON report; the tests
 * below assert Docker Cloud's documented shapes on it.
 *
 * References: docker/docs apidocs/cloud-api-source/source/index.md and includes/{service,container,action,
 * _errors}.md (the API reference); docker/python-dockercloud dockercloud/api/{http,base,auth,utils}.py (the
 * SDK); docker/dockercloud-cli dockercloudcli/{commands,utils}.py (the CLI).
 *
 * Where the agent still answers otherwise than Docker Cloud documented (a container's `node` is null, its
 * uuid is Docker's 64-hex id), the assertion of Docker Cloud's behavior is kept in a `test.failing` of its
 * own, marked DEVIATION: it passes while the agent deviates and fails (telling to turn it into a plain
 * `test`) once the agent answers as documented.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  agentCli,
  e2eUnavailable,
  freePort,
  type GuardedHost,
  importTinyImage,
  run,
  type RunResult,
  skipBanner,
  startGuardedHost,
  tempDir,
  waitFor,
} from "./harness.ts";

const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : Bun.which("python3");
const CLIENT = join(import.meta.dir, "docker-cloud-client", "client.py");
const unavailable = e2eUnavailable() ?? (PYTHON === null ? "python3 is not installed" : undefined);
if (unavailable) skipBanner("api-docker-cloud-client.e2e.test.ts", unavailable);
const maybe = unavailable ? describe.skip : describe;

const POLICY = `version: 1
groups:
  team: [carol]
rules:
  - id: local-reads          # the test's docker CLI (the unix socket) may look and import the image
    who: anonymous
    allow: [container:list, container:inspect, "image:*"]
  - id: carol-manages
    who: [carol]
    allow: ["container:*", "system:events"]
`;

const UUID4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
const META_FIELDS = ["limit", "next", "offset", "previous", "total_count"];

/** One exchange as the client's report keeps it. */
interface Exchange {
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly status: number;
  readonly content_type: string | null;
  readonly action_uri: string | null;
  readonly body: unknown;
}

interface Page {
  readonly query: string;
  readonly meta: Record<string, unknown>;
  readonly content_type: string | null;
  readonly names: string[];
  readonly next_query?: Record<string, string>;
}

type Obj = Record<string, unknown>;

interface Dates {
  readonly [name: string]: { readonly value: string; readonly parsed: boolean };
}

/** The report of `client.py flow` (see its `flow`). */
interface FlowReport {
  readonly config: { rest_host: string; namespace: string; auth_from: string; user_agent: string };
  readonly failure?: string;
  readonly steps: {
    readonly list_before: { pages: Page[]; names: string[] };
    readonly create: { sent: Obj; reply: Exchange; object: Obj };
    readonly create_second: { reply: Exchange };
    readonly list_paged: { pages: Page[]; names: string[] };
    readonly list_filtered_by_uuid: { pages: Page[]; names: string[] };
    readonly fetch_by_uuid: { reply: Exchange; is_uuid4: boolean };
    readonly fetch_by_resource_uri: { reply: Exchange };
    readonly fetch_by_resource_uri_utils: { reply: Exchange };
    readonly start: { reply: Exchange; action_uri: string };
    readonly poll_running: { states: string[]; object: Obj };
    readonly action_by_header_uri: { reply: Exchange };
    readonly action_fields: { missing: string[]; dates: Dates };
    readonly action_sync: { reply: Exchange | null; states: string[]; finished: boolean };
    readonly containers: { objects: Obj[]; uuid4: boolean[] };
    readonly containers_of_service: { pages: Page[]; names: string[]; services: (string | null)[] };
    readonly cli_fields: {
      service_missing: string[];
      container_missing: string[];
      container_nodes: (string | null)[];
      service_dates: Dates;
      container_dates: Dates;
    };
    readonly stop: { reply: Exchange; states: string[]; object: Obj };
    readonly terminate: { reply: Exchange; states: string[]; object: Obj };
    readonly create_without_name: { reply: Exchange };
    readonly list_after: { pages: Page[]; states: Record<string, string> };
    readonly not_found_service: { reply: Exchange };
    readonly not_found_container: { reply: Exchange };
    readonly method_not_allowed: { reply: Exchange };
    readonly not_found_sdk: { raised: string | null; message?: string };
    readonly wrong_key: { reply: Exchange };
    readonly wrong_key_sdk: { raised: string | null };
  };
}

interface WhoamiReport {
  readonly config: { namespace: string; auth_from: string };
  readonly steps: { services: { pages: Page[]; names: string[] }; actions: { pages: Page[]; count: number } };
}

/** The client's JSON report; a client that printed none is a failure that names its stderr. */
function parseReport(r: RunResult): unknown {
  try {
    return JSON.parse(r.stdout);
  } catch {
    throw new Error(`client.py printed no JSON report (exit ${r.code}): ${r.stderr.slice(-2000)}`);
  }
}

/** A Docker Cloud error answer: JSON, `{"error": "<text>"}` and nothing else. */
function expectError(reply: Exchange, status: number): void {
  expect(reply.status).toBe(status);
  expect(reply.content_type ?? "").toMatch(/^application\/json/);
  expect(Object.keys(reply.body as Obj)).toEqual(["error"]);
  expect(typeof (reply.body as Obj)["error"]).toBe("string");
}

maybe("a Docker Cloud client (python-dockercloud's behavior, stdlib only) against the HTTPS API", () => {
  const plugin = `agent-api-dcc-e2e-${process.pid}`;
  const port = freePort();
  const base = `https://127.0.0.1:${port}`;
  let dir: string;
  let state: string;
  let host: GuardedHost;
  let key: string;
  let flowRun: RunResult;
  let whoamiRun: RunResult;
  let report: FlowReport;
  let whoami: WhoamiReport;

  /** client.py with only the DOCKERCLOUD_* variables given (none inherited from this process). */
  const client = (args: string[], env: Record<string, string>) => {
    const clean: Record<string, string> = {
      DOCKERCLOUD_REST_HOST: "",
      DOCKERCLOUD_USER: "",
      DOCKERCLOUD_APIKEY: "",
      DOCKERCLOUD_AUTH: "",
      DOCKERCLOUD_NAMESPACE: "",
      SSL_CERT_FILE: "",
      REQUESTS_CA_BUNDLE: join(state, "listener", "ca.pem"),
      PYTHONDONTWRITEBYTECODE: "1",
    };
    return run([PYTHON!, CLIENT, ...args], { env: { ...clean, ...env }, timeoutMs: 170_000 });
  };

  beforeAll(async () => {
    dir = tempDir("api-dcc");
    state = join(dir, "state");
    const init = await agentCli(["ca", "init", "--name", "api-dcc-e2e", "--state-dir", state]);
    if (init.code !== 0) throw new Error(`agent ca init failed: ${init.stderr}`);
    const created = await agentCli(["apikey", "create", "carol", "--name", "sdk", "--state-dir", state]);
    if (created.code !== 0) throw new Error(`agent apikey create failed: ${created.stderr}`);
    key = created.stdout.trim().split("\n").pop()!;
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
    const authorization = `Basic ${Buffer.from(`carol:${key}`).toString("base64")}`;
    await waitFor("the HTTPS listener", async () => {
      const res = await fetch(`${base}/api/app/v1/service/`, {
        headers: { authorization, accept: "application/json" },
        tls: { ca: readFileSync(join(state, "listener", "ca.pem"), "utf8") },
      } as RequestInit);
      return res.status === 200;
    }, 20_000).catch((err) => {
      throw new Error(`${(err as Error).message}; the agent's log:\n${host.agent.log().slice(-3000)}`);
    });

    flowRun = await client(["flow", "--image", "tiny:latest", "--prefix", "sdk"], {
      DOCKERCLOUD_REST_HOST: base,
      DOCKERCLOUD_USER: "carol",
      DOCKERCLOUD_APIKEY: key,
      DOCKERCLOUD_NAMESPACE: "team",
    });
    report = parseReport(flowRun) as FlowReport;
    // DOCKERCLOUD_AUTH is the whole header and wins over a (wrong) user and key; no namespace: carol's own.
    whoamiRun = await client(["whoami"], {
      DOCKERCLOUD_REST_HOST: `${base}/`,
      DOCKERCLOUD_AUTH: authorization,
      DOCKERCLOUD_USER: "carol",
      DOCKERCLOUD_APIKEY: "not-the-key",
      SSL_CERT_FILE: join(state, "listener", "ca.pem"),
      REQUESTS_CA_BUNDLE: "",
    });
    whoami = parseReport(whoamiRun) as WhoamiReport;
  }, 180_000);

  afterAll(async () => {
    await host?.stop();
  }, 60_000);

  test("the client ran the whole flow as the SDK would (exit 0, one JSON report)", () => {
    expect({ code: flowRun.code, stderr: flowRun.stderr, failure: report.failure }).toEqual({
      code: 0,
      stderr: "",
      failure: undefined,
    });
    expect(report.config).toMatchObject({
      rest_host: base,
      namespace: "team",
      auth_from: "DOCKERCLOUD_USER/DOCKERCLOUD_APIKEY",
    });
  });

  test("lists are {meta, objects}, paged with limit/offset until meta.next is null", () => {
    const before = report.steps.list_before.pages;
    expect(before).toHaveLength(1);
    expect(Object.keys(before[0]!.meta).sort()).toEqual(META_FIELDS);
    expect(before[0]!.meta).toMatchObject({ offset: 0, next: null, previous: null, total_count: 0 });
    expect(before[0]!.content_type).toMatch(/^application\/json/);
    expect(report.steps.list_before.names).toEqual([]);

    const paged = report.steps.list_paged;
    expect(paged.names).toEqual(["sdk-web", "sdk-db"]);
    expect(paged.pages.map((p) => [p.query, p.meta["limit"], p.meta["offset"], p.meta["total_count"]]))
      .toEqual([
        ["limit=1", 1, 0, 2],
        ["limit=1&offset=1", 1, 1, 2],
      ]);
    // The page the SDK asks for next (offset + limit) is the one meta.next names.
    expect(paged.pages[0]!.next_query).toEqual({ limit: "1", offset: "1" });
    expect(paged.pages[0]!.meta["previous"]).toBeNull();
    expect(typeof paged.pages[1]!.meta["previous"]).toBe("string");
    expect(paged.pages[1]!.meta["next"]).toBeNull();
  });

  test("create: 201 with a uuid (a UUID4), a resource_uri in the namespace, Not running, the fields sent", () => {
    const { reply, object, sent } = report.steps.create;
    expect(reply.status).toBe(201);
    expect(reply.path).toBe("/api/app/v1/team/service/");
    expect(reply.content_type).toMatch(/^application\/json/);
    expect(object["uuid"]).toMatch(UUID4);
    expect(object).toMatchObject({
      resource_uri: `/api/app/v1/team/service/${object["uuid"]}/`,
      name: "sdk-web",
      image_name: "tiny:latest",
      state: "Not running",
      target_num_containers: 2,
      current_num_containers: 0,
      run_command: "sleep 3600",
      container_envvars: sent["container_envvars"],
    });
    // The SDK copies X-DockerCloud-Action-URI into the object; a create is an action too.
    expect(object["dockercloud_action_uri"]).toMatch(new RegExp(`^/api/audit/v1/(team/)?action/${UUID}/$`));
    expect(report.steps.create_second.reply.status).toBe(201);
  });

  test("the service is the same object fetched by uuid and by resource_uri", () => {
    const created = report.steps.create.object;
    const { dockercloud_action_uri: _, ...shown } = created;
    for (const step of [report.steps.fetch_by_uuid, report.steps.fetch_by_resource_uri]) {
      expect(step.reply.status).toBe(200);
      expect(step.reply.body).toMatchObject({ ...shown, state: "Not running" });
    }
    expect(report.steps.fetch_by_uuid.reply.path).toBe(`/api/app/v1/team/service/${created["uuid"]}/`);
    expect(report.steps.fetch_by_uuid.is_uuid4).toBe(true);
    expect(report.steps.fetch_by_resource_uri.reply.path).toBe(created["resource_uri"] as string);
    expect(report.steps.fetch_by_resource_uri_utils.reply.status).toBe(200);
  });

  test("start: 202 and an action URI; polled until Running; the action (GET of that URI) is Success", () => {
    const { reply, action_uri } = report.steps.start;
    const uuid = report.steps.create.object["uuid"] as string;
    expect(reply.status).toBe(202);
    expect(reply.path).toBe(`/api/app/v1/team/service/${uuid}/start/`);
    expect(action_uri).toMatch(new RegExp(`^/api/audit/v1/(team/)?action/${UUID}/$`));
    expect(report.steps.poll_running.states.at(-1)).toBe("Running");
    expect(report.steps.poll_running.object).toMatchObject({
      state: "Running",
      target_num_containers: 2,
      current_num_containers: 2,
      running_num_containers: 2,
    });

    const action = report.steps.action_by_header_uri.reply;
    expect(action.status).toBe(200);
    expect(action.body).toMatchObject({
      resource_uri: action_uri,
      object: `/api/app/v1/team/service/${uuid}/`,
      action: "Service Start",
      method: "POST",
      path: `/api/app/v1/team/service/${uuid}/start/`,
      user: "carol",
      user_agent: report.config.user_agent,
      ip: "127.0.0.1",
      state: "Success",
      is_user_action: true,
      can_be_canceled: false,
    });
    expect((action.body as Obj)["uuid"]).toMatch(UUID4);
  });

  test("the service's containers: each URI of `containers` fetched, running, of the service, with its envvars", async () => {
    const service = report.steps.poll_running.object;
    const containers = report.steps.containers.objects;
    expect(containers.map((c) => c["resource_uri"])).toEqual(service["containers"] as string[]);
    expect(containers.map((c) => c["name"]).sort()).toEqual(["sdk-web-1", "sdk-web-2"]);
    for (const c of containers) {
      expect(c).toMatchObject({
        state: "Running",
        image_name: "tiny:latest",
        service: service["resource_uri"],
      });
      expect(c["resource_uri"]).toBe(`/api/app/v1/team/container/${c["uuid"]}/`);
      expect(c["container_envvars"]).toContainEqual({ key: "GREETING", value: "hello from the SDK" });
    }
    // dockerd ran them (and the terminate at the end removed them, with sdk-db's).
    const ps = await host.dockerd.docker(["ps", "-a", "--format", "{{.Names}}"]);
    expect(ps.code).toBe(0);
    expect(ps.stdout.trim()).toBe("");
  });

  test("stop: Stopped; terminate (DELETE): Terminated, and still listed as such", () => {
    expect(report.steps.stop.reply.status).toBe(202);
    expect(report.steps.stop.object).toMatchObject({ state: "Stopped", running_num_containers: 0 });
    expect([200, 202, 204]).toContain(report.steps.terminate.reply.status);
    expect(report.steps.terminate.reply.method).toBe("DELETE");
    expect(report.steps.terminate.object).toMatchObject({ state: "Terminated", current_num_containers: 0 });
    // "Lists all current and recently terminated services" (service.md).
    expect(report.steps.list_after.states).toMatchObject({ "sdk-web": "Terminated", "sdk-db": "Terminated" });
  });

  test('errors are {"error": ...}: 404 for an unknown uuid, 405 for a method the endpoint lacks, 401 for a wrong key', () => {
    expectError(report.steps.not_found_service.reply, 404);
    expectError(report.steps.not_found_container.reply, 404);
    expectError(report.steps.method_not_allowed.reply, 405);
    expectError(report.steps.wrong_key.reply, 401);
    expect(report.steps.not_found_sdk.raised).toBe("ApiError");
    expect(report.steps.wrong_key_sdk.raised).toBe("AuthError");
  });

  test("DOCKERCLOUD_AUTH is used verbatim and wins; without DOCKERCLOUD_NAMESPACE the lists are the caller's own", () => {
    expect({ code: whoamiRun.code, stderr: whoamiRun.stderr }).toEqual({ code: 0, stderr: "" });
    expect(whoami.config).toMatchObject({ auth_from: "DOCKERCLOUD_AUTH", namespace: "" });
    // team's services are not in carol's own namespace.
    expect(whoami.steps.services.names).toEqual([]);
    expect(whoami.steps.services.pages[0]!.meta).toMatchObject({ total_count: 0, next: null });
    expect(Object.keys(whoami.steps.actions.pages[0]!.meta).sort()).toEqual(META_FIELDS);
  });

  // ------------------------------------------------ where the agent once deviated, and where it still does
  // (only the `test.failing` ones: the container's node and its uuid)

  // Actions are not a namespaced endpoint (includes/action.md: GET /api/audit/v1/action/(uuid)/;
  // python-dockercloud api/action.py: is_namespaced = False).
  test("X-DockerCloud-Action-URI is /api/audit/v1/action/<uuid>/ (not namespaced)", () => {
    expect(report.steps.start.action_uri).toMatch(new RegExp(`^/api/audit/v1/action/${UUID}/$`));
  });

  // The CLI's --sync (dockercloud-cli utils.sync_action -> SDK Utils.fetch_by_resource_uri -> Action.fetch)
  // finds an organization's action by its un-namespaced URI.
  test("an organization's action is found by uuid at /api/audit/v1/action/<uuid>/", () => {
    expect(report.steps.action_sync.finished).toBe(true);
    expect(report.steps.action_sync.states.at(-1)).toBe("Success");
  });

  // The container list's `service` filter (includes/container.md; the CLI's `container ps --service`).
  test("GET container/?service=<resource_uri> lists only that service's containers", () => {
    const service = report.steps.poll_running.object["resource_uri"];
    expect(report.steps.containers_of_service.names.sort()).toEqual(["sdk-web-1", "sdk-web-2"]);
    expect(new Set(report.steps.containers_of_service.services)).toEqual(new Set([service as string]));
  });

  // The service list's `uuid` filter (service.md); the CLI resolves a short uuid or a name with
  // Service.list(uuid__startswith=X) or Service.list(name=X) (python-dockercloud utils.fetch_remote_service).
  test("GET service/?uuid=<uuid> lists only that service", () => {
    expect(report.steps.list_filtered_by_uuid.names).toEqual(["sdk-web"]);
  });

  // Dates as the reference writes them, "Mon, 13 Oct 2014 11:01:43 +0000", parsed by the CLI with
  // strptime("%a, %d %b %Y %H:%M:%S +0000") (dockercloud-cli utils.from_utc_string_to_utc_datetime).
  test("dates are RFC 1123 (%a, %d %b %Y %H:%M:%S +0000), as the CLI parses them", () => {
    const dates = {
      ...report.steps.cli_fields.service_dates,
      ...report.steps.cli_fields.container_dates,
      ...report.steps.action_fields.dates,
    };
    expect(Object.keys(dates).length).toBeGreaterThan(0);
    expect(Object.values(dates).filter((d) => !d.parsed)).toEqual([]);
  });

  // The attributes the CLI's `service ps` reads (dockercloud-cli commands.service_ps: synchronized,
  // deployed_datetime, public_dns, stack).
  test("a service has every attribute `docker-cloud service ps` reads", () => {
    expect(report.steps.cli_fields.service_missing).toEqual([]);
  });

  // The attributes the CLI's `container ps` reads (container_ports, public_dns). DEVIATION: `node` is null
  // where the reference has the node's resource URI (the CLI slices it); the agent serves the node at
  // /api/infra/v1/(ns/)node/UUID/ all the same.
  test("a container has every attribute `docker-cloud container ps` reads", () => {
    expect(report.steps.cli_fields.container_missing).toEqual([]);
  });

  test.failing("DEVIATION: a container's node is the node's resource URI", () => {
    for (const node of report.steps.cli_fields.container_nodes) {
      expect(node ?? "").toMatch(new RegExp(`^/api/infra/v1/(team/)?node/${UUID}/$`));
    }
  });

  // DEVIATION 8: a container's uuid is a UUID in the reference (container.md: "uuid": "c1dd4e1e-1356-411c-
  // 8613-e15146633640"), and the SDK fetches an identifier directly only when it is one (python-dockercloud
  // utils.is_uuid4; otherwise it lists with uuid__startswith, a filter the agent ignores). The agent's uuid
  // is the 64-hex Docker id, by design (README, Containers).
  test.failing("DEVIATION: a container's uuid is a UUID4", () => {
    expect(report.steps.containers.uuid4).toEqual([true, true]);
  });

  // name is optional on create (service.md: "(default: `image` without namespace)").
  test("POST service/ without a name creates one named after the image", () => {
    const { reply } = report.steps.create_without_name;
    expect(reply.status).toBe(201);
    expect(String((reply.body as Obj)["name"])).toStartWith("tiny");
  });

  // An action's `location` (action.md: "Geographic location of the IP address"; null: not known).
  test("an action has every attribute of the reference", () => {
    expect(report.steps.action_fields.missing).toEqual([]);
  });
});
