/**
 * API roles with a fake dockerd and the real decision core: a service created with `roles` hands its
 * containers AGENT_AUTH / DOCKERCLOUD_AUTH and the REST locations; the credential acts with its creator's
 * rights, in the service's namespace only, reads only for `read`; it is never shown by the API, and stops
 * working when the service is terminated or its roles change.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { RoleCredentials } from "../../../src/api/index.ts";
import { removeTempDirs } from "../ca/helpers.ts";
import type { ApiHarness, CaFixture } from "./helpers.ts";
import { caFixture } from "./helpers.ts";
import { call, resourceHarness } from "./resources.ts";

let ca: CaFixture;
beforeAll(async () => {
  ca = await caFixture();
});
afterAll(removeTempDirs);

const SERVICES = "/api/app/v1/service/";
const CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const roles = () =>
  new RoleCredentials(
    new Uint8Array(32).fill(7),
    () => ({ restUrl: "https://agent.test:8443", caPem: CA_PEM }),
  );

/** A request with only `authorization` (no client certificate). */
async function as(api: ApiHarness, authorization: string, method: string, path: string, body?: unknown) {
  const headers: Record<string, string> = { authorization };
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await api.request(path, {
    method,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: (text === "" ? {} : JSON.parse(text)) as Record<string, unknown> };
}

/** alice's service with `role`, started: its uuid and the environment its container got. */
async function started(api: ApiHarness, name: string, role: string[]) {
  const created = await call(api, ca, "alice", "POST", SERVICES, {
    image: "tiny:latest",
    name,
    roles: role,
    container_envvars: [{ key: "A", value: "1" }],
  });
  expect(created.status).toBe(201);
  const uuid = created.body["uuid"] as string;
  expect((await call(api, ca, "alice", "POST", `${SERVICES}${uuid}/start/`)).status).toBe(202);
  const container = [...api.docker.containers.values()].find((c) => c.Name === `/${name}-1`)!;
  const env = Object.fromEntries(
    container.Config.Env.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]),
  );
  return { uuid, env, containerId: container.Id };
}

describe("API roles", () => {
  test("a global role's containers get the credential and the locations; the API never shows it", async () => {
    const api = resourceHarness(ca, undefined, undefined, roles());
    const { uuid, env, containerId } = await started(api, "web", ["global"]);
    expect(env["AGENT_AUTH"]).toMatch(/^Basic [A-Za-z0-9+/=]+$/);
    expect(env["DOCKERCLOUD_AUTH"]).toBe(env["AGENT_AUTH"]!);
    expect(atob(env["AGENT_AUTH"]!.slice(6))).toMatch(new RegExp(`^service-${uuid}:agt_[A-Za-z0-9]{49}$`));
    expect(env).toMatchObject({
      A: "1",
      AGENT_HOST: "https://agent.test:8443",
      DOCKERCLOUD_REST_HOST: "https://agent.test:8443",
      DOCKERCLOUD_STREAM_HOST: "wss://agent.test:8443",
      AGENT_NAMESPACE: "alice",
      DOCKERCLOUD_NAMESPACE: "alice",
      DOCKERCLOUD_SERVICE_API_URI: `/api/app/v1/alice/service/${uuid}/`,
      AGENT_CACERT_PEM: CA_PEM,
    });
    const service = await call(api, ca, "alice", "GET", `${SERVICES}${uuid}/`);
    expect(service.body["roles"]).toEqual(["global"]);
    expect(service.body["container_envvars"]).toEqual([{ key: "A", value: "1" }]);
    const container = await call(api, ca, "alice", "GET", `/api/app/v1/container/${containerId}/`);
    const shown = JSON.stringify(container.body);
    expect(shown).not.toContain(env["AGENT_AUTH"]!.slice(6));
    expect(container.body["container_envvars"]).toContainEqual({ key: "AGENT_AUTH", value: "[redacted]" });
    expect(container.body["container_envvars"]).toContainEqual({
      key: "DOCKERCLOUD_AUTH",
      value: "[redacted]",
    });
    for (const event of api.events) expect(JSON.stringify(event)).not.toContain(env["AGENT_AUTH"]!.slice(6));
  });

  test("global: its creator's rights in the service's namespace only; terminate revokes it", async () => {
    const api = resourceHarness(ca, undefined, undefined, roles());
    const { uuid, env } = await started(api, "web", ["global"]);
    const auth = env["AGENT_AUTH"]!;
    const list = await as(api, auth, "GET", SERVICES);
    expect(list.status).toBe(200);
    expect((list.body["objects"] as { uuid: string }[]).map((o) => o.uuid)).toEqual([uuid]);
    expect((await as(api, auth, "GET", "/api/app/v1/alice/service/")).status).toBe(200);
    // alice is in the team organization; her role credential is not.
    expect((await as(api, auth, "GET", "/api/app/v1/team/service/")).status).toBe(404);
    // A write alice may make: stop.
    expect((await as(api, auth, "POST", `${SERVICES}${uuid}/stop/`)).status).toBe(202);
    // One the policy refuses alice: a privileged service.
    const privileged = await as(api, auth, "POST", SERVICES, {
      image: "tiny:latest",
      name: "p",
      privileged: true,
    });
    expect(privileged.status).toBe(403);
    expect(api.events.at(-1)).toMatchObject({
      user: "alice",
      authMethod: "role:global",
      ruleId: "nobody-privileged",
    });
    // Terminated: the credential is refused, and nothing else is.
    expect((await call(api, ca, "alice", "DELETE", `${SERVICES}${uuid}/`)).status).toBe(202);
    expect((await as(api, auth, "GET", SERVICES)).status).toBe(401);
    expect((await call(api, ca, "alice", "GET", SERVICES)).status).toBe(200);
  });

  test("read: reads only, whatever its creator may", async () => {
    const api = resourceHarness(ca, undefined, undefined, roles());
    const { uuid, env } = await started(api, "ro", ["read"]);
    const auth = env["AGENT_AUTH"]!;
    expect((await as(api, auth, "GET", `${SERVICES}${uuid}/`)).status).toBe(200);
    const containersBefore = api.docker.containers.size;
    const stop = await as(api, auth, "POST", `${SERVICES}${uuid}/stop/`);
    expect(stop.status).toBe(403);
    expect(stop.body["error"]).toContain("read API role allows reads only");
    expect(api.events.at(-1)).toMatchObject({ decidedBy: "role", ruleId: "role:read", allow: false });
    expect((await as(api, auth, "POST", SERVICES, { image: "tiny:latest", name: "x" })).status).toBe(403);
    expect((await as(api, auth, "DELETE", `${SERVICES}${uuid}/`)).status).toBe(403);
    expect(api.docker.containers.size).toBe(containersBefore);
    expect([...api.docker.containers.values()].every((c) => c.State.Running)).toBe(true);
  });

  test("a change of roles retires the credential handed out before it", async () => {
    const api = resourceHarness(ca, undefined, undefined, roles());
    const { uuid, env } = await started(api, "web", ["global"]);
    const old = env["AGENT_AUTH"]!;
    expect((await call(api, ca, "alice", "PATCH", `${SERVICES}${uuid}/`, { roles: [] })).status).toBe(200);
    expect((await as(api, old, "GET", SERVICES)).status).toBe(401);
    expect((await call(api, ca, "alice", "PATCH", `${SERVICES}${uuid}/`, { roles: ["global"] })).status).toBe(
      200,
    );
    expect((await as(api, old, "GET", SERVICES)).status).toBe(401);
    expect((await call(api, ca, "alice", "POST", `${SERVICES}${uuid}/redeploy/`)).status).toBe(202);
    const fresh = [...api.docker.containers.values()][0]!.Config.Env.find((e) =>
      e.startsWith("AGENT_AUTH=")
    )!;
    expect(fresh.slice("AGENT_AUTH=".length)).not.toBe(old);
    expect((await as(api, fresh.slice("AGENT_AUTH=".length), "GET", SERVICES)).status).toBe(200);
  });

  test("forged, tampered and foreign credentials are 401; another agent's secret derives other keys", async () => {
    const api = resourceHarness(ca, undefined, undefined, roles());
    const { uuid, env } = await started(api, "web", ["global"]);
    const [user, key] = atob(env["AGENT_AUTH"]!.slice(6)).split(":") as [string, string];
    const basic = (u: string, k: string) => `Basic ${btoa(`${u}:${k}`)}`;
    const flipped = key.slice(0, 10) + (key[10] === "A" ? "B" : "A") + key.slice(11);
    const other = new RoleCredentials(
      new Uint8Array(32).fill(8),
      () => ({ restUrl: "https://x", caPem: undefined }),
    );
    for (
      const auth of [
        basic(user, flipped),
        basic(user, key.slice(0, -1)),
        basic("service-00000000-0000-4000-8000-000000000000", key),
        basic("service-not-a-uuid", key),
        other.authorizationOf({ uuid, role_generation: 0 }),
      ]
    ) {
      expect((await as(api, auth, "GET", SERVICES)).status).toBe(401);
    }
  });

  test("bad roles are 400 and create nothing; without the listener's credentials roles are refused", async () => {
    const api = resourceHarness(ca, undefined, undefined, roles());
    for (
      const body of [
        { roles: ["admin"] },
        { roles: ["global", "read"] },
        { roles: "global" },
        { roles: ["global"], container_envvars: [{ key: "DOCKERCLOUD_AUTH", value: "Basic x" }] },
      ]
    ) {
      const res = await call(api, ca, "alice", "POST", SERVICES, {
        image: "tiny:latest",
        name: "bad",
        ...body,
      });
      expect(res.status).toBe(400);
    }
    expect(api.services.list()).toEqual([]);
    const bare = resourceHarness(ca);
    const res = await call(bare, ca, "alice", "POST", SERVICES, {
      image: "tiny:latest",
      name: "r",
      roles: ["read"],
    });
    expect(res.status).toBe(400);
    expect(res.body["error"]).toContain("roles need the agent's HTTPS listener");
  });
});
