/** An audit event as the plugin writes it (bob lists containers, allowed): tests give only what they vary. */
import type { AuditEvent } from "../../src/audit/event.ts";

export function sampleAuditEvent(over: Partial<AuditEvent> = {}): AuditEvent {
  return {
    time: "2026-11-23T10:00:00.123Z",
    decisionId: "0a1b2c3d4e5f",
    phase: "request",
    user: "bob",
    authMethod: "TLS",
    method: "GET",
    uri: "/v1.41/containers/json",
    action: "container:list",
    resources: {},
    allow: true,
    decidedBy: "all-gates",
    ruleId: "bob-reads",
    reason: "allowed",
    code: null,
    policyHash: "h",
    status: null,
    durationMs: 0.01,
    ...over,
  };
}
