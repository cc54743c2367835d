/**
 * dockerd's events as the Stream API's: the mapping table, only containers of the agent's services in their
 * namespace, malformed and foreign events give nothing; and the events of actions and service changes.
 */
import { describe, expect, test } from "bun:test";
import type { ActionRecord } from "../../../src/api/action.ts";
import { memoryServiceStore } from "../../../src/api/service-store.ts";
import type { ServiceRecord } from "../../../src/api/service-store.ts";
import { checkEvent, type NewStreamEvent } from "../../../src/stream/event.ts";
import {
  actionEvent,
  belongsToServices,
  type DockerEventContext,
  DockerEventTranslator,
  parseDockerEvent,
  serviceEvent,
  translateDockerEvent,
} from "../../../src/stream/docker-events.ts";
import { ID_A, ID_B, SVC_A, SVC_B } from "./helpers.ts";

const services = memoryServiceStore([
  { uuid: SVC_A, namespace: "alice", name: "web" } as ServiceRecord,
  { uuid: SVC_B, namespace: "team", name: "db" } as ServiceRecord,
]);
const context: DockerEventContext = {
  belongs: belongsToServices(services),
  serviceState: (uuid) => (uuid === SVC_A ? "Partly running" : undefined),
};
const LABELS = { "io.agent.namespace": "alice", "io.agent.service": SVC_A };
const NANO = 1780315200123456789; // 2026-06-01T12:00:00.123Z (as a JSON number: not exact, ms are)

function dockerEvent(action: string, attributes: Record<string, string> = {}, id = ID_A): unknown {
  return {
    Type: "container",
    Action: action,
    Actor: { ID: id, Attributes: { ...LABELS, image: "nginx", name: "web-1", ...attributes } },
    scope: "local",
    time: 1780315200,
    timeNano: NANO,
  };
}

const states = (action: string, attributes: Record<string, string> = {}) =>
  translateDockerEvent(dockerEvent(action, attributes), context).map((e) =>
    `${e.type} ${e.action} ${e.state}`
  );

describe("dockerd events -> stream events", () => {
  test("the mapping table", () => {
    const table: Record<string, string> = {
      create: "create Stopped",
      start: "update Running",
      restart: "update Running",
      pause: "update Running",
      unpause: "update Running",
      oom: "update Running",
      die: "update Stopped",
      stop: "update Stopped",
      destroy: "delete Terminated",
    };
    for (const [action, expected] of Object.entries(table)) {
      expect([action, ...states(action)]).toEqual([
        action,
        `container ${expected}`,
        "service update Partly running",
      ]);
    }
    expect(states("kill", { signal: "15" })[0]).toBe("container update Stopping");
    expect(states("kill", { signal: "SIGKILL" })[0]).toBe("container update Stopping");
    expect(states("kill", { signal: "1" })[0]).toBe("container update Running");
    expect(states("kill")[0]).toBe("container update Running");
    // A rename changes no state: no service event; its state is the last known (Running when unknown).
    expect(states("rename", { oldName: "/old" })).toEqual(["container update Running"]);
  });

  test("the container event's fields: URIs of its namespace, the Docker id, Docker Cloud's date", () => {
    const [container, service] = translateDockerEvent(dockerEvent("start"), context);
    expect(container).toEqual({
      type: "container",
      action: "update",
      parents: [`/api/app/v1/alice/service/${SVC_A}/`],
      resource_uri: `/api/app/v1/alice/container/${ID_A}/`,
      state: "Running",
      uuid: ID_A,
      datetime: "2026-06-01T12:00:00Z",
      namespace: "alice",
    });
    expect(service).toEqual({
      type: "service",
      action: "update",
      parents: [],
      resource_uri: `/api/app/v1/alice/service/${SVC_A}/`,
      state: "Partly running",
      uuid: SVC_A,
      datetime: "2026-06-01T12:00:00Z",
      namespace: "alice",
    });
    expect(checkEvent(container!)).toBeUndefined();
    expect(checkEvent(service!)).toBeUndefined();
    // Without timeNano, `time` (seconds) is used.
    const noNano = { ...(dockerEvent("start") as object), timeNano: undefined };
    expect(translateDockerEvent(noNano, context)[0]?.datetime).toBe("2026-06-01T12:00:00Z");
  });

  test("no service event when the caller knows no state for it", () => {
    const team = dockerEvent("start", { "io.agent.namespace": "team", "io.agent.service": SVC_B }, ID_B);
    expect(translateDockerEvent(team, context).map((e) => e.type)).toEqual(["container"]);
  });

  test("containers that are not the agent's services' in their namespace give nothing", () => {
    const foreign = [
      dockerEvent("start", { "io.agent.namespace": "", "io.agent.service": "" }),
      { ...(dockerEvent("start") as object), Actor: { ID: ID_A, Attributes: { image: "nginx" } } },
      { ...(dockerEvent("start") as object), Actor: { ID: ID_A } },
      // The label names a namespace, but not the one of the service it names.
      dockerEvent("start", { "io.agent.namespace": "bob" }),
      dockerEvent("start", { "io.agent.namespace": "team" }),
      // A service the agent does not know.
      dockerEvent("start", { "io.agent.service": "33333333-3333-4333-8333-333333333333" }),
    ];
    for (const event of foreign) expect(translateDockerEvent(event, context)).toEqual([]);
    // A belongs callback that throws counts as "not ours".
    const throwing: DockerEventContext = {
      ...context,
      belongs: () => {
        throw new Error("store broken");
      },
    };
    expect(translateDockerEvent(dockerEvent("start"), throwing)).toEqual([]);
  });

  test("other actions and other types give nothing", () => {
    for (
      const action of [
        "exec_create: sh",
        "exec_start: sh",
        "exec_die",
        "health_status: healthy",
        "health_status",
        "attach",
        "detach",
        "commit",
        "top",
        "resize",
        "update",
        "copy",
        "export",
        "archive-path",
        "constructor",
        "__proto__",
        "toString",
        "",
      ]
    ) {
      expect([action, ...states(action)]).toEqual([action]);
    }
    for (const type of ["image", "network", "volume", "daemon", "plugin", "Container"]) {
      expect(translateDockerEvent({ ...(dockerEvent("create") as object), Type: type }, context)).toEqual([]);
    }
  });

  test("malformed events give nothing", () => {
    const good = dockerEvent("start") as Record<string, unknown>;
    const malformed: unknown[] = [
      null,
      undefined,
      "start",
      42,
      [],
      [good],
      {},
      { ...good, Action: 1 },
      { ...good, Actor: null },
      { ...good, Actor: "x" },
      { ...good, Actor: { ID: "abc", Attributes: LABELS } },
      { ...good, Actor: { ID: ID_A.toUpperCase(), Attributes: LABELS } },
      { ...good, Actor: { ID: `${ID_A}0`, Attributes: LABELS } },
      { ...good, time: undefined, timeNano: undefined },
      { ...good, time: "1780315200", timeNano: "1780315200123456789" },
      { ...good, time: -1, timeNano: -1 },
      { ...good, time: Number.POSITIVE_INFINITY, timeNano: Number.NaN },
      { ...good, time: 1e300, timeNano: undefined },
    ];
    for (const value of malformed) expect(translateDockerEvent(value, context)).toEqual([]);
    // Attributes that are not strings are left out (a label of another type cannot make it ours).
    const parsed = parseDockerEvent({
      ...good,
      Actor: { ID: ID_A, Attributes: { "io.agent.namespace": ["alice"], name: "x" } },
    });
    expect(parsed?.attributes).toEqual({ name: "x" });
  });

  test("DockerEventTranslator remembers states: a rename reports the last one; destroy forgets", () => {
    const translator = new DockerEventTranslator(context);
    const rename = dockerEvent("rename", { oldName: "/a" });
    expect(translator.translate(dockerEvent("stop"))[0]?.state).toBe("Stopped");
    expect(translator.translate(rename)[0]?.state).toBe("Stopped");
    translator.translate(dockerEvent("start"));
    expect(translator.translate(rename)[0]?.state).toBe("Running");
    translator.translate(dockerEvent("die"));
    translator.translate(dockerEvent("destroy"));
    expect(translator.translate(rename)[0]?.state).toBe("Running");
    translator.seed(ID_A, "Stopped");
    expect(translator.translate(rename)[0]?.state).toBe("Stopped");
    expect(translator.translate({ nonsense: true })).toEqual([]);
  });
});

function action(extra: Partial<ActionRecord> = {}): ActionRecord {
  return {
    uuid: "44444444-4444-4444-8444-444444444444",
    resource_uri: "/api/audit/v1/action/44444444-4444-4444-8444-444444444444/",
    namespace: "alice",
    object: `/api/app/v1/alice/service/${SVC_A}/`,
    action: "Service Start",
    method: "POST",
    path: `/api/app/v1/alice/service/${SVC_A}/start/`,
    user: "alice",
    user_agent: "curl",
    ip: "192.0.2.1",
    start_date: "2026-06-01T12:00:00.000Z",
    end_date: null,
    state: "In progress",
    logs: "",
    decision: { id: "d", allowed: true, rule: "r", decided_by: "all-gates" },
    is_user_action: true,
    can_be_canceled: false,
    can_be_retried: false,
    ...extra,
  };
}

describe("events of actions and services", () => {
  test("an action: create when it starts, update when it ends; its object is the parent", () => {
    const started = actionEvent(action(), "create");
    expect(started).toEqual({
      type: "action",
      action: "create",
      parents: [`/api/app/v1/alice/service/${SVC_A}/`],
      resource_uri: "/api/audit/v1/action/44444444-4444-4444-8444-444444444444/",
      state: "In progress",
      uuid: "44444444-4444-4444-8444-444444444444",
      datetime: "2026-06-01T12:00:00Z",
      namespace: "alice",
    });
    const ended = actionEvent(action({ state: "Success", end_date: "2026-06-01T12:00:05.000Z" }), "update");
    expect([ended.action, ended.state, ended.datetime]).toEqual([
      "update",
      "Success",
      "2026-06-01T12:00:05Z",
    ]);
    // The collection of a create that failed is a parent of the namespace too.
    expect(actionEvent(action({ object: "/api/app/v1/alice/service/" }), "update").parents).toEqual([
      "/api/app/v1/alice/service/",
    ]);
    expect(checkEvent(started)).toBeUndefined();
  });

  test("an action whose object is not of its namespace names no parent (never another namespace's)", () => {
    for (const object of ["/api/app/v1/bob/service/x/", "", "garbage", "/api/audit/v1/action/x/"]) {
      const e: NewStreamEvent = actionEvent(action({ object }), "create");
      expect(e.parents).toEqual([]);
      expect(checkEvent(e)).toBeUndefined();
    }
  });

  test("a service change", () => {
    const created = serviceEvent(
      { uuid: SVC_A, namespace: "alice" },
      "create",
      "Not running",
      "2026-06-01T12:00:00Z",
    );
    expect(created).toEqual({
      type: "service",
      action: "create",
      parents: [],
      resource_uri: `/api/app/v1/alice/service/${SVC_A}/`,
      state: "Not running",
      uuid: SVC_A,
      datetime: "2026-06-01T12:00:00Z",
      namespace: "alice",
    });
    const at = new Date(Date.UTC(2026, 5, 1, 13));
    expect(serviceEvent({ uuid: SVC_A, namespace: "alice" }, "delete", "Terminated", at)).toMatchObject({
      action: "delete",
      state: "Terminated",
      datetime: "2026-06-01T13:00:00Z",
    });
  });
});
