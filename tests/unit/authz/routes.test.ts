import { describe, expect, test } from "bun:test";
import { actionNames, listRoutes, matchRoute, requestEffect } from "../../../src/authz/routes.ts";
import vectors from "../../vectors/routes/cases.json";
import moby from "../../vectors/routes/moby-routes.json";

interface RouteCase {
  readonly id: string;
  readonly title: string;
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly action: string | null;
  readonly resources: Readonly<Record<string, string | undefined>>;
  readonly source: string;
}

const cases: readonly RouteCase[] = vectors.cases;
/** The only GET/HEAD routes that act (audited against moby's handlers): the websocket attach. */
const GET_ROUTES_THAT_WRITE = new Set(["GET /containers/{name:.*}/attach/ws"]);
const expectedEffect = (method: string, action: string) =>
  (method === "GET" || method === "HEAD") && action !== "container:attach" ? "read" : "write";

describe("route table vectors (tests/vectors/routes/cases.json)", () => {
  for (const c of cases) {
    test(`${c.id}: ${c.title}`, () => {
      const match = matchRoute(c.method, c.path, new URLSearchParams(c.query));
      if (c.action === null) {
        expect(match).toBeUndefined();
        return;
      }
      expect(match).toEqual({
        action: c.action,
        resources: c.resources,
        effect: expectedEffect(c.method, c.action),
      });
    });
  }

  test("vector ids are unique", () => {
    expect(new Set(cases.map((c) => c.id)).size).toBe(cases.length);
  });
});

describe("listRoutes", () => {
  test("lists exactly the routes moby registers from Engine 20.10 to master", () => {
    const ours = new Set(listRoutes().map((r) => `${r.method} ${r.pattern}`));
    const theirs = new Set(moby.routes.map((r) => `${r.method} ${r.pattern}`));
    expect([...ours].filter((r) => !theirs.has(r))).toEqual([]);
    expect([...theirs].filter((r) => !ours.has(r))).toEqual([]);
  });

  test("lists routes in moby's registration order, which decides between overlapping templates", () => {
    const ours = listRoutes()
      .map((r) => `${r.method} ${r.pattern}`)
      .filter((key, i, all) => all.indexOf(key) === i);
    expect(ours).toEqual(moby.routes.map((r) => `${r.method} ${r.pattern}`));
  });

  test("lists POST /images/create twice, as a pull and as an import, and no other route twice", () => {
    const counts = new Map<string, string[]>();
    for (const r of listRoutes()) {
      const key = `${r.method} ${r.pattern}`;
      counts.set(key, [...(counts.get(key) ?? []), r.action]);
    }
    const repeated = [...counts].filter(([, actions]) => actions.length > 1);
    expect(repeated).toEqual([["POST /images/create", ["image:pull", "image:import"]]]);
  });

  test("every route is reached by a vector whose source names it", () => {
    const unreached = listRoutes().filter((r) =>
      !cases.some((c) => c.action === r.action && c.source.includes(`${r.method} ${r.pattern}`))
    );
    expect(unreached).toEqual([]);
  });

  test("every action is reached by at least one vector", () => {
    const reached = new Set(cases.map((c) => c.action));
    expect(actionNames().filter((action) => !reached.has(action))).toEqual([]);
  });

  test("every route has a description and a noun:verb action", () => {
    for (const r of listRoutes()) {
      expect(r.action).toMatch(/^[a-z]+:[a-z]+(?:-[a-z]+)*$/);
      expect(r.description.length).toBeGreaterThan(0);
    }
  });

  test("returns the same frozen list on every call", () => {
    expect(listRoutes()).toBe(listRoutes());
    expect(Object.isFrozen(listRoutes())).toBe(true);
    expect(Object.isFrozen(listRoutes()[0])).toBe(true);
  });
});

describe("actionNames", () => {
  test("is sorted and unique", () => {
    const names = actionNames();
    expect([...names].sort()).toEqual([...names]);
    expect(new Set(names).size).toBe(names.length);
  });

  test("holds exactly the actions of listRoutes", () => {
    expect([...actionNames()]).toEqual([...new Set(listRoutes().map((r) => r.action))].sort());
  });

  test("includes the actions other modules rely on by name", () => {
    for (
      const name of [
        "system:ping",
        "container:exec",
        "exec:start",
        "image:pull",
        "plugin:disable",
        "image:commit",
      ]
    ) {
      expect(actionNames()).toContain(name);
    }
  });
});

describe("matchRoute", () => {
  test("routes HEAD wherever GET is routed", () => {
    const query = new URLSearchParams();
    for (const r of listRoutes().filter((route) => route.method === "GET" && !route.pattern.includes("{"))) {
      expect(matchRoute("HEAD", r.pattern, query)?.action).toBe(r.action);
    }
    expect(matchRoute("HEAD", "/images/a/b:1/json", query)).toEqual({
      action: "image:inspect",
      resources: { image: "a/b:1" },
      effect: "read",
    });
  });

  test("returns a fresh resources object each call, so callers cannot poison later matches", () => {
    const query = new URLSearchParams();
    const first = matchRoute("GET", "/containers/web/json", query);
    (first?.resources as Record<string, string>)["container"] = "other";
    expect(matchRoute("GET", "/containers/web/json", query)?.resources).toEqual({ container: "web" });
  });

  test("reads the query only through the URLSearchParams it is given", () => {
    const query = new URLSearchParams("fromImage=alpine&tag=3");
    matchRoute("POST", "/images/create", query);
    expect(query.toString()).toBe("fromImage=alpine&tag=3");
  });
});

describe("route effects (what counts as a read)", () => {
  test("every route declares an effect, read or write", () => {
    for (const r of listRoutes()) expect(["read", "write"]).toContain(r.effect);
  });

  test("every route that is not GET or HEAD writes", () => {
    const reads = listRoutes().filter((r) =>
      r.method !== "GET" && r.method !== "HEAD" && r.effect !== "write"
    );
    expect(reads).toEqual([]);
  });

  test("the GET and HEAD routes that write are exactly the websocket attach", () => {
    const writes = listRoutes()
      .filter((r) => (r.method === "GET" || r.method === "HEAD") && r.effect === "write")
      .map((r) => `${r.method} ${r.pattern}`);
    expect(writes).toEqual([...GET_ROUTES_THAT_WRITE]);
  });

  test("GET /containers/{id}/attach/ws is container:attach and writes, with HEAD and any query", () => {
    for (const method of ["GET", "HEAD"]) {
      for (const query of ["stream=1&stdin=1", "stream=1&stdout=1", ""]) {
        expect(matchRoute(method, "/containers/web/attach/ws", new URLSearchParams(query))).toEqual({
          action: "container:attach",
          resources: { container: "web" },
          effect: "write",
        });
      }
    }
  });

  test("reads that look like they act stay reads: export, archive, events, logs, stats, image save", () => {
    const query = new URLSearchParams();
    for (
      const [method, path] of [
        ["GET", "/containers/web/export"],
        ["GET", "/containers/web/archive"],
        ["HEAD", "/containers/web/archive"],
        ["GET", "/events"],
        ["GET", "/containers/web/logs"],
        ["GET", "/containers/web/stats"],
        ["GET", "/images/get"],
        ["GET", "/swarm/unlockkey"],
      ] as const
    ) {
      expect({ method, path, effect: matchRoute(method, path, query)?.effect }).toEqual({
        method,
        path,
        effect: "read",
      });
    }
  });

  test("each action has one effect, so an action pattern in a rule means one kind of call", () => {
    const effects = new Map<string, Set<string>>();
    for (const r of listRoutes()) effects.set(r.action, (effects.get(r.action) ?? new Set()).add(r.effect));
    expect([...effects].filter(([, set]) => set.size > 1)).toEqual([]);
  });

  test("a request asking for a protocol upgrade is a write even on a read route", () => {
    const h = (entries: [string, string][]) => new Map(entries);
    expect(requestEffect("read", h([]))).toBe("read");
    expect(requestEffect("read", h([["connection", "Upgrade"], ["upgrade", "tcp"]]))).toBe("write");
    expect(requestEffect("read", h([["upgrade", "websocket"]]))).toBe("write");
    expect(requestEffect("read", h([["connection", "keep-alive, upgrade"]]))).toBe("write");
    expect(requestEffect("read", h([["connection", "keep-alive"]]))).toBe("read");
    expect(requestEffect("write", h([]))).toBe("write");
  });
});
