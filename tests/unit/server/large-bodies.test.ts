/**
 * Large plugin requests take turns (at most N decoded at once, in arrival order) and the runtime is asked for
 * a collection once per budget of large bytes; small requests never wait. The plugin app takes the turn
 * before it reads a large body and gives it back once the request is decided, even when deciding fails.
 */
import { describe, expect, test } from "bun:test";
import { LARGE_BODY_BYTES, LargeBodies } from "../../../src/server/large-bodies.ts";
import { createPluginApp } from "../../../src/server/plugin-app.ts";

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("large bodies", () => {
  test("what is large: at least LARGE_BODY_BYTES, a known length", () => {
    expect(LargeBodies.isLarge(LARGE_BODY_BYTES)).toBe(true);
    expect(LargeBodies.isLarge(LARGE_BODY_BYTES - 1)).toBe(false);
    expect(LargeBodies.isLarge(Number.NaN)).toBe(false);
    expect(LargeBodies.isLarge(Number.POSITIVE_INFINITY)).toBe(false);
  });

  test("at most atOnce at a time; the rest wait and go in arrival order", async () => {
    const bodies = new LargeBodies({ atOnce: 2, budgetBytes: Number.MAX_SAFE_INTEGER });
    const order: number[] = [];
    const first = await bodies.admit(1);
    const second = await bodies.admit(1);
    const later = [3, 4, 5].map((n) => bodies.admit(1).then((release) => (order.push(n), release)));
    await tick();
    expect(order).toEqual([]);
    expect(bodies.load).toEqual({ active: 2, waiting: 3 });
    first();
    first(); // a second release changes nothing
    await tick();
    expect(order).toEqual([3]);
    expect(bodies.load).toEqual({ active: 2, waiting: 2 });
    second();
    await tick();
    expect(order).toEqual([3, 4]);
    for (const release of await Promise.all(later.slice(0, 2))) release();
    await tick();
    expect(order).toEqual([3, 4, 5]);
    (await later[2]!)();
    expect(bodies.load).toEqual({ active: 0, waiting: 0 });
  });

  test("one collection per budget of large bytes, not one per request", async () => {
    let collections = 0;
    const bodies = new LargeBodies({ atOnce: 4, budgetBytes: 1000, collect: () => collections++ });
    for (let i = 0; i < 9; i++) (await bodies.admit(300))();
    expect(collections).toBe(2); // at 1200 and at 1200 more
    (await bodies.admit(1000))();
    expect(collections).toBe(3);
  });

  test("the plugin app: a large body waits for its turn, a small one does not, and a failure gives it back", async () => {
    const bodies = new LargeBodies({ atOnce: 1, budgetBytes: Number.MAX_SAFE_INTEGER });
    const app = createPluginApp({
      state: () => ({ gates: [], policyHash: undefined }),
      audit: () => {},
      clock: () => new Date("2026-12-01T00:00:00Z"),
      monotonicMs: () => 0,
      newDecisionId: () => "0123456789ab",
      info: { name: "agent", version: "test", startedAt: new Date("2026-12-01T00:00:00Z") },
      largeBodies: bodies,
    });
    const ask = (body: string) =>
      app.fetch(
        new Request("http://plugin/AuthZPlugin.AuthZReq", {
          method: "POST",
          body,
          headers: { "content-length": String(new TextEncoder().encode(body).length) },
        }),
      );
    const large = JSON.stringify({
      User: "bob",
      RequestMethod: "GET",
      RequestUri: "/v1.41/containers/json",
      Pad: "x".repeat(LARGE_BODY_BYTES),
    });
    const held = await bodies.admit(1); // someone else's turn
    const waiting = ask(large);
    await tick();
    expect(bodies.load.waiting).toBe(1);
    // A small request is decided meanwhile (no gates: default deny, with its reason).
    const small = await (await ask('{"User":"bob","RequestMethod":"GET","RequestUri":"/_ping"}')).json();
    expect(small["Allow"]).toBe(false);
    held();
    const answer = await (await waiting).json();
    expect(answer["Allow"]).toBe(false);
    expect(bodies.load).toEqual({ active: 0, waiting: 0 });
    // Not JSON at all: refused, and the turn comes back.
    const broken = await (await ask("{" + "x".repeat(LARGE_BODY_BYTES))).json();
    expect(broken["Allow"]).toBe(false);
    expect(bodies.load).toEqual({ active: 0, waiting: 0 });
  });
});
