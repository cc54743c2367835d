/** The staleness gate: reads always go on; writes stop once etcd has been away longer than the limit. */
import { describe, expect, test } from "bun:test";
import { fleetGate } from "../../../src/decide/fleet-gate.ts";
import type { RequestFacts } from "../../../src/decide/facts.ts";
import type { GateVerdict } from "../../../src/decide/gate.ts";

const facts = (effect: "read" | "write" | undefined) => ({ effect }) as unknown as RequestFacts;

function check(stale: number | null, limit: number, effect: "read" | "write" | undefined): GateVerdict {
  return fleetGate(() => stale, limit).check(facts(effect)) as GateVerdict;
}

describe("fleetGate", () => {
  test("is the fleet gate", () => {
    expect(fleetGate(() => 0, 60).name).toBe("fleet");
  });

  test("fresh (connected, or within the limit, the limit included): everything allowed", () => {
    for (const stale of [0, 1, 59, 60]) {
      for (const effect of ["read", "write", undefined] as const) {
        expect(check(stale, 60, effect)).toEqual({
          allow: true,
          ruleId: "fleet",
          reason: "the fleet's state is current",
        });
      }
    }
  });

  test("past the limit: reads go on from the snapshot, writes are refused with the reason", () => {
    expect(check(61, 60, "read")).toEqual({
      allow: true,
      ruleId: "fleet:read",
      reason: "reads continue from the snapshot",
    });
    const refused = check(61, 60, "write");
    expect(refused.allow).toBe(false);
    expect(refused.ruleId).toBe("fleet:stale");
    expect(refused.reason).toBe(
      "this host has not heard from the fleet's etcd for 61 s (limit 60 s): writes are refused until it reconnects",
    );
  });

  test("a request whose effect is unknown counts as a write (fails closed)", () => {
    expect(check(61, 60, undefined).allow).toBe(false);
  });

  test("never heard from (null): writes refused whatever the limit, reads allowed", () => {
    expect(check(null, 86_400, "read").allow).toBe(true);
    const refused = check(null, Number.MAX_SAFE_INTEGER, "write");
    expect(refused.allow).toBe(false);
    expect(refused.reason).toContain("for ever");
  });

  test("the reason reads in seconds, minutes or hours", () => {
    expect(check(119, 60, "write").reason).toContain("for 119 s (limit 60 s)");
    expect(check(120, 60, "write").reason).toContain("for 2 min");
    expect(check(7_199, 60, "write").reason).toContain("for 119 min");
    expect(check(90_000, 86_400, "write").reason).toContain("for 25 h (limit 24 h)");
  });

  test("staleness is read at each check, not once", () => {
    let stale: number | null = 0;
    const gate = fleetGate(() => stale, 10);
    expect((gate.check(facts("write")) as GateVerdict).allow).toBe(true);
    stale = 11;
    expect((gate.check(facts("write")) as GateVerdict).allow).toBe(false);
    stale = 0;
    expect((gate.check(facts("write")) as GateVerdict).allow).toBe(true);
  });
});
