/** The event shape: what is sent (no namespace), what the log accepts, Docker Cloud's dates. */
import { describe, expect, test } from "bun:test";
import {
  checkEvent,
  eventDate,
  inNamespace,
  isStreamEvent,
  namespaceOfUri,
  wireOf,
} from "../../../src/stream/event.ts";
import { containerEvent, ID_A } from "./helpers.ts";

describe("stream event", () => {
  test("wireOf leaves the namespace out and ends with seq, in Docker Cloud's order", () => {
    const wire = wireOf({ ...containerEvent("alice"), seq: 7 });
    expect(Object.keys(wire)).toEqual([
      "type",
      "action",
      "parents",
      "resource_uri",
      "state",
      "uuid",
      "datetime",
      "seq",
    ]);
    expect(JSON.stringify(wire)).not.toContain("namespace");
    expect(wire.seq).toBe(7);
  });

  test("namespaceOfUri reads namespaced resource URIs only", () => {
    expect(namespaceOfUri(`/api/app/v1/alice/container/${ID_A}/`)).toBe("alice");
    expect(namespaceOfUri("/api/app/v1/alice/service/")).toBe("alice");
    expect(namespaceOfUri("/api/infra/v1/team.x/node/n1/")).toBe("team.x");
    expect(namespaceOfUri("/api/audit/v1/action/x/")).toBeUndefined();
    expect(namespaceOfUri("/api/app/v1/alice/container/x")).toBeUndefined();
    expect(namespaceOfUri("/api/app/v1/alice/container/x/../../bob/")).toBeUndefined();
    expect(inNamespace("/api/app/v1/alice/service/x/", "alice")).toBe(true);
    expect(inNamespace("/api/app/v1/alice/service/x/", "bob")).toBe(false);
  });

  test("checkEvent refuses foreign parents, unknown types and actions, missing fields", () => {
    expect(checkEvent(containerEvent("alice"))).toBeUndefined();
    expect(checkEvent({ ...containerEvent("alice"), parents: ["/api/app/v1/bob/service/x/"] })).toContain(
      "another namespace",
    );
    expect(checkEvent({ ...containerEvent("alice"), type: "stack" as never })).toBeDefined();
    expect(checkEvent({ ...containerEvent("alice"), action: "remove" as never })).toBeDefined();
    expect(checkEvent({ ...containerEvent("alice"), state: "" })).toBeDefined();
    expect(checkEvent({ ...containerEvent("alice"), namespace: "../x" })).toBeDefined();
    expect(checkEvent({ ...containerEvent("alice"), parents: "x" as never })).toBeDefined();
    expect(isStreamEvent({ ...containerEvent("alice"), seq: 1 })).toBe(true);
    expect(isStreamEvent({ ...containerEvent("alice"), seq: 0 })).toBe(false);
    expect(isStreamEvent({ ...containerEvent("alice"), seq: 1.5 })).toBe(false);
    expect(isStreamEvent(null)).toBe(false);
    expect(isStreamEvent([])).toBe(false);
  });

  test("eventDate is ISO 8601 to the second, as Docker Cloud's events had it", () => {
    expect(eventDate("2014-10-13T11:01:43.000Z")).toBe("2014-10-13T11:01:43Z");
    expect(eventDate(new Date(Date.UTC(2026, 5, 1, 12)))).toBe("2026-06-01T12:00:00Z");
    expect(eventDate("not a date")).toBe("1970-01-01T00:00:00Z");
    expect(eventDate(new Date(Number.NaN))).toBe("1970-01-01T00:00:00Z");
  });
});
