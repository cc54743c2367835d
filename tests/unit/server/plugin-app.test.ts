import { describe, expect, test } from "bun:test";
import type { AuditEvent } from "../../../src/audit/event.ts";
import type { Gate } from "../../../src/decide/gate.ts";
import { createPluginApp, type PluginState } from "../../../src/server/plugin-app.ts";

/** A gate that allows GETs and HEADs only, so tests can see both outcomes. */
const readOnly: Gate = {
  name: "policy",
  check: (facts) =>
    facts.request.method === "GET" || facts.request.method === "HEAD"
      ? { allow: true, ruleId: "reads", reason: "allowed by rule reads" }
      : {
        allow: false,
        ruleId: undefined,
        reason: `no rule allows ${facts.route?.action} for ${facts.request.user ?? "anonymous"}`,
      },
};
const throwing: Gate = {
  name: "macaroon",
  check: () => {
    throw new Error("secret-key-material-in-an-exception");
  },
};

function makeApp(gates: readonly Gate[] = [readOnly]) {
  const events: AuditEvent[] = [];
  const state: PluginState = { gates, policyHash: "abc123" };
  let n = 0;
  const app = createPluginApp({
    state: () => state,
    audit: (e) => events.push(e),
    clock: () => new Date("2026-11-23T10:00:00Z"),
    monotonicMs: () => 0,
    newDecisionId: () => `d${(++n).toString().padStart(11, "0")}`,
    info: { name: "agent", version: "test", startedAt: new Date("2026-11-23T09:00:00Z") },
  });
  const call = async (path: string, body: unknown) => {
    const res = await app.request(path, {
      method: "POST",
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
    return {
      status: res.status,
      type: res.headers.get("content-type"),
      json: (await res.json()) as Record<string, unknown>,
    };
  };
  return { app, events, call };
}

describe("plugin endpoints", () => {
  test("Plugin.Activate implements authz", async () => {
    const { call } = makeApp();
    expect((await call("/Plugin.Activate", "")).json).toEqual({ Implements: ["authz"] });
  });

  test("AuthZReq allows what every gate allows and audits it", async () => {
    const { call, events } = makeApp();
    const r = await call("/AuthZPlugin.AuthZReq", {
      User: "bob",
      UserAuthNMethod: "TLS",
      RequestMethod: "GET",
      RequestUri: "/v1.41/containers/json",
    });
    expect(r.json).toEqual({ Allow: true });
    expect(events[0]).toMatchObject({
      user: "bob",
      action: "container:list",
      allow: true,
      ruleId: "reads",
      phase: "request",
      policyHash: "abc123",
    });
  });

  test("AuthZReq denies with the reason and the decision id in Msg, as HTTP 200 JSON", async () => {
    const { call } = makeApp();
    const r = await call("/AuthZPlugin.AuthZReq", {
      User: "bob",
      RequestMethod: "POST",
      RequestUri: "/v1.41/volumes/create",
    });
    expect(r.status).toBe(200);
    expect(r.type).toBe("application/json");
    expect(r.json).toEqual({
      Allow: false,
      Msg: "no rule allows volume:create for bob (decision d00000000001)",
    });
  });

  test("AuthZRes records the response status", async () => {
    const { call, events } = makeApp();
    await call("/AuthZPlugin.AuthZRes", {
      User: "bob",
      RequestMethod: "GET",
      RequestUri: "/_ping",
      ResponseStatusCode: 200,
    });
    expect(events[0]).toMatchObject({ phase: "response", status: 200, action: "system:ping" });
  });

  test("an unknown Engine API route is denied", async () => {
    const { call } = makeApp();
    const r = await call("/AuthZPlugin.AuthZReq", {
      User: "bob",
      RequestMethod: "GET",
      RequestUri: "/v1.41/nonsense",
    });
    expect(r.json["Allow"]).toBe(false);
    expect(r.json["Msg"]).toContain("unknown API route GET /nonsense");
  });

  test("malformed JSON is denied with a clear message, never a crash", async () => {
    const { call, events } = makeApp();
    const r = await call("/AuthZPlugin.AuthZReq", "{not json");
    expect(r.json["Allow"]).toBe(false);
    expect(r.json["Msg"]).toContain("not valid JSON");
    expect(events[0]?.code).toBe("ERR_REQUEST_JSON");
  });

  test("a gate that throws yields a JSON deny that leaks nothing", async () => {
    const { call, events } = makeApp([readOnly, throwing]);
    const r = await call("/AuthZPlugin.AuthZReq", {
      User: "bob",
      RequestMethod: "GET",
      RequestUri: "/_ping",
    });
    expect(r.json["Allow"]).toBe(false);
    expect(r.json["Msg"]).toContain("internal error");
    expect(events[0]).toMatchObject({ allow: false, user: "bob", code: "ERR_INTERNAL" });
    expect(JSON.stringify(events)).not.toContain("secret-key-material");
    expect(JSON.stringify(r.json)).not.toContain("secret-key-material");
  });

  test("a withheld JSON body is denied", async () => {
    const { call } = makeApp([{
      name: "policy",
      check: () => ({ allow: true, ruleId: "all", reason: "ok" }),
    }]);
    const r = await call("/AuthZPlugin.AuthZReq", {
      User: "alice",
      RequestMethod: "POST",
      RequestUri: "/v1.41/containers/create",
      RequestHeaders: { "Content-Type": ["application/json"], "Content-Length": ["1600000"] },
    });
    expect(r.json["Allow"]).toBe(false);
    expect(r.json["Msg"]).toContain("not forwarded by dockerd");
  });

  test("a plugin request over the size limit is denied without reading it all", async () => {
    const { app } = makeApp();
    const res = await app.request("/AuthZPlugin.AuthZReq", {
      method: "POST",
      body: "x".repeat(9 * 1024 * 1024),
    });
    const json = (await res.json()) as Record<string, unknown>;
    expect(json["Allow"]).toBe(false);
    expect(json["Msg"]).toContain("larger than");
  });

  test("a form-encoded write is denied: its fields would override the query dockerd reads", async () => {
    const { call } = makeApp([{
      name: "policy",
      check: () => ({ allow: true, ruleId: "all", reason: "ok" }),
    }]);
    const r = await call("/AuthZPlugin.AuthZReq", {
      User: "alice",
      RequestMethod: "POST",
      RequestUri: "/v1.41/images/create?fromImage=tiny",
      RequestHeaders: { "Content-Type": ["application/x-www-form-urlencoded"] },
    });
    expect(r.json["Allow"]).toBe(false);
    expect(r.json["Msg"]).toContain("form-encoded");
  });

  test("no gates configured means deny", async () => {
    const { call } = makeApp([]);
    const r = await call("/AuthZPlugin.AuthZReq", {
      User: "bob",
      RequestMethod: "GET",
      RequestUri: "/_ping",
    });
    expect(r.json["Allow"]).toBe(false);
  });

  test("unknown endpoints answer JSON 404, not HTML", async () => {
    const { app } = makeApp();
    const res = await app.request("/nope", { method: "POST" });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ Err: "unknown plugin endpoint" });
  });

  test("GET / reports name, version, policy hash and uptime", async () => {
    const { app } = makeApp();
    const json = (await (await app.request("/")).json()) as Record<string, unknown>;
    expect(json).toMatchObject({
      name: "agent",
      version: "test",
      policyHash: "abc123",
      uptimeSeconds: 3600,
      gates: ["policy"],
    });
  });
});
