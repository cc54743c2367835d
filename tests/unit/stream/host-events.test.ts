/** Plugin decisions as action events of the user's namespace; the node's events, every namespace's. */
import { describe, expect, test } from "bun:test";
import type { AuditEvent } from "../../../src/audit/event.ts";
import {
  acceptsOf,
  checkEvent,
  decisionEvent,
  EventLog,
  EVERY_NAMESPACE,
  type NewStreamEvent,
} from "../../../src/stream/index.ts";

function audit(overrides: Partial<AuditEvent>): AuditEvent {
  return {
    time: "2026-06-01T10:00:00.000Z",
    decisionId: "0a1b2c3d4e5f",
    phase: "request",
    user: "alice",
    authMethod: "TLS",
    method: "POST",
    uri: "/containers/create",
    action: "container:create",
    resources: {},
    allow: true,
    decidedBy: "policy",
    ruleId: "r",
    reason: "ok",
    code: null,
    policyHash: null,
    status: null,
    durationMs: 1,
    ...overrides,
  } as AuditEvent;
}

const node: NewStreamEvent = {
  type: "node",
  action: "update",
  parents: [],
  resource_uri: "/api/infra/v1/node/39edfa46-b2ed-8933-9dc9-d7089bfca1c8/",
  state: "Deployed",
  uuid: "39edfa46-b2ed-8933-9dc9-d7089bfca1c8",
  datetime: "2026-06-01T10:00:00Z",
  namespace: EVERY_NAMESPACE,
};

describe("events of the host", () => {
  test("a plugin decision of a user is an action event of that user's namespace", () => {
    expect(decisionEvent(audit({}))).toEqual({
      type: "action",
      action: "create",
      parents: [],
      resource_uri: "/api/audit/v1/action/00000000-0000-4000-8000-0a1b2c3d4e5f/",
      state: "Success",
      uuid: "00000000-0000-4000-8000-0a1b2c3d4e5f",
      datetime: "2026-06-01T10:00:00Z",
      namespace: "alice",
    });
    expect(decisionEvent(audit({ allow: false }))?.state).toBe("Failed");
    for (
      const none of [
        audit({ user: null }),
        audit({ phase: "response" }),
        audit({ door: "api" }),
        audit({ decidedBy: "api" }),
        audit({ decisionId: "not hex!" }),
      ]
    ) expect(decisionEvent(none)).toBeUndefined();
  });

  test("the node's event is every namespace's, and only a node's may be", () => {
    expect(checkEvent(node)).toBeUndefined();
    expect(checkEvent({ ...node, type: "container" })).toBe("only a node's event is every namespace's");
    expect(checkEvent({ ...node, parents: ["/api/app/v1/alice/service/x/"] })).toBeDefined();
    const log = new EventLog();
    const seen: string[] = [];
    for (const who of ["alice", "bob"]) {
      log.subscribe({
        accepts: acceptsOf({}, (ns) => ns === who),
        queueLimit: 10,
        deliver: (e) => void seen.push(`${who} ${e.type}`),
        overflow: () => undefined,
      });
    }
    log.append(node);
    log.append({
      ...node,
      type: "container",
      namespace: "alice",
      resource_uri: "/api/app/v1/alice/container/x/",
    });
    expect(seen).toEqual(["alice node", "bob node", "alice container"]);
  });
});
