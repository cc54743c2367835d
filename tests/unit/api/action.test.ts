/**
 * The action resource: every call that changes something is an action record of its namespace, named in
 * X-DockerCloud-Action-URI; reads are not; lists and gets show the addressed namespace's only; the ring
 * is bounded.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ActionLog } from "../../../src/api/action.ts";
import { removeTempDirs } from "../ca/helpers.ts";
import { type CaFixture, caFixture } from "./helpers.ts";
import { call, resourceHarness } from "./resources.ts";

let ca: CaFixture;
beforeAll(async () => {
  ca = await caFixture();
});
afterAll(removeTempDirs);

const POLICY_WITH_EVENTS = `version: 1
groups:
  team: [alice, carol]
rules:
  - id: nobody-privileged
    who: "*"
    deny: [container:create]
    when: { privileged: true }
  - id: containers
    who: [alice, carol]
    allow: ["container:*", "system:events"]
`;

describe("actions", () => {
  test("a create, a start and a refused create are actions of the namespace; reads are not", async () => {
    const api = resourceHarness(ca, POLICY_WITH_EVENTS);
    const created = await call(api, ca, "alice", "POST", "/api/app/v1/service/", {
      image: "tiny:latest",
      name: "web",
    });
    const uri = created.headers.get("x-dockercloud-action-uri")!;
    // Docker Cloud's action URIs name no namespace.
    expect(uri).toMatch(/^\/api\/audit\/v1\/action\/[0-9a-f-]{36}\/$/);
    expect(created.headers.get("x-agent-action-uri")).toBe(uri);
    const started = await call(
      api,
      ca,
      "alice",
      "POST",
      `/api/app/v1/service/${created.body["uuid"]}/start/`,
    );
    expect(started.headers.get("x-dockercloud-action-uri")).not.toBe(uri);
    await call(api, ca, "alice", "POST", "/api/app/v1/service/", {
      image: "tiny:latest",
      name: "p",
      privileged: true,
    });
    const read = await call(api, ca, "alice", "GET", "/api/app/v1/service/");
    expect(read.headers.get("x-dockercloud-action-uri")).toBeNull();

    const one = await call(api, ca, "alice", "GET", uri);
    expect(one.status).toBe(200);
    expect(one.body).toEqual({
      uuid: uri.split("/")[5],
      resource_uri: uri,
      object: created.body["resource_uri"],
      action: "Service Create",
      method: "POST",
      path: "/api/app/v1/service/",
      user: "alice",
      user_agent: "",
      ip: "192.0.2.10",
      start_date: "Mon, 01 Jun 2026 10:00:00 +0000",
      end_date: "Mon, 01 Jun 2026 10:00:00 +0000",
      location: null,
      state: "Success",
      logs: "",
      decision: {
        id: one.body["decision"] && (one.body["decision"] as { id: string }).id,
        allowed: true,
        rule: "containers",
        decided_by: "all-gates",
      },
      is_user_action: true,
      can_be_canceled: false,
      can_be_retried: false,
    });
    const list = await call(api, ca, "alice", "GET", "/api/audit/v1/action/");
    expect((list.body["objects"] as { action: string; state: string }[]).map((a) => [a.action, a.state]))
      .toEqual([
        ["Service Create", "Failed"],
        ["Service Start", "Success"],
        ["Service Create", "Success"],
      ]);
    const failed = await call(api, ca, "alice", "GET", "/api/audit/v1/alice/action/?state=Failed");
    expect(failed.body["meta"]).toMatchObject({ total_count: 1 });
    expect(api.events.at(-1)).toMatchObject({ action: "system:events", allow: true });
  });

  test("another namespace's action is 404; its namespace too; bad uuids 404; writes 405", async () => {
    const api = resourceHarness(ca, POLICY_WITH_EVENTS);
    const created = await call(api, ca, "alice", "POST", "/api/app/v1/service/", {
      image: "tiny:latest",
      name: "web",
    });
    const uri = created.headers.get("x-dockercloud-action-uri")!;
    const uuid = uri.split("/")[5];
    expect((await call(api, ca, "carol", "GET", `/api/audit/v1/action/${uuid}/`)).status).toBe(404);
    expect((await call(api, ca, "carol", "GET", uri)).status).toBe(404);
    expect((await call(api, ca, "carol", "GET", "/api/audit/v1/action/")).body["objects"]).toEqual([]);
    expect((await call(api, ca, "alice", "GET", "/api/audit/v1/action/nope/")).status).toBe(404);
    expect((await call(api, ca, "alice", "DELETE", uri)).status).toBe(405);
    const team = await call(api, ca, "alice", "POST", "/api/app/v1/team/service/", {
      image: "tiny:latest",
      name: "t",
    });
    const teamUri = team.headers.get("x-dockercloud-action-uri")!;
    expect(teamUri).toMatch(/^\/api\/audit\/v1\/action\//);
    // team's action is carol's to see too, through the URI as it is and through team's namespace; not
    // through her own.
    expect((await call(api, ca, "carol", "GET", teamUri)).status).toBe(200);
    const teamUuid = teamUri.split("/")[5];
    expect((await call(api, ca, "carol", "GET", `/api/audit/v1/team/action/${teamUuid}/`)).status).toBe(200);
    expect((await call(api, ca, "carol", "GET", `/api/audit/v1/carol/action/${teamUuid}/`)).status).toBe(404);
  });

  test("without system:events the actions are refused (403)", async () => {
    const api = resourceHarness(ca);
    expect((await call(api, ca, "alice", "GET", "/api/audit/v1/action/")).status).toBe(403);
  });

  test("the ring keeps the newest records only", () => {
    const log = new ActionLog(2);
    for (const n of [1, 2, 3]) {
      log.add({
        uuid: `u${n}`,
        namespace: "a",
        resource_uri: "",
        object: "",
        action: "Service Create",
        logs: "",
        decision: { id: "d", allowed: true, rule: null, decided_by: null },
        method: "POST",
        path: "/",
        user: "a",
        user_agent: "",
        ip: "",
        start_date: "",
        end_date: null,
        state: "Success",
        is_user_action: true,
        can_be_canceled: false,
        can_be_retried: false,
      });
    }
    expect(log.list("a").map((a) => a.uuid)).toEqual(["u3", "u2"]);
    expect(log.get("u1")).toBeUndefined();
  });
});
