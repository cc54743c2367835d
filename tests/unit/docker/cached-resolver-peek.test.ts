/**
 * A cached answer is used without a lookup (and without the lookup's deadline timer): the caveat check of a
 * repeated token costs no timer per request. An uncached one still goes to the daemon, with its deadline.
 */
import { expect, test } from "bun:test";
import { checkTargetCaveat, RequestTargets } from "../../../src/decide/docker-caveats.ts";
import { cachedResolver } from "../../../src/docker/cached-resolver.ts";
import type { EngineClient } from "../../../src/docker/engine-client.ts";
import { dockerCaveat } from "../../../src/macaroon/index.ts";

const WEB = "3f2a9c".padEnd(64, "1");

test("the cache is peeked: a hit answers at once, a miss asks the daemon once and is then a hit", async () => {
  const asked: string[] = [];
  const client = {
    getJson: (path: string) => {
      asked.push(path);
      return Promise.resolve({ Id: WEB });
    },
  } as unknown as EngineClient;
  const resolver = cachedResolver(client);
  expect(resolver.cached("container", "web")).toBeUndefined();
  const request = {
    action: "container:inspect",
    method: "GET",
    upgrade: false,
    resources: { container: "web" },
    body: undefined,
  };
  const caveat = dockerCaveat("container_id", WEB);
  const check = () => checkTargetCaveat(caveat, new RequestTargets(request as never, resolver, 1_000));
  expect(await check()).toBe(true);
  expect(asked).toEqual(["/containers/web/json"]);
  expect(resolver.cached("container", "web")).toEqual({ id: WEB });
  expect(await check()).toBe(true);
  expect(asked).toHaveLength(1);
  // A known absence is cached too, and still refuses.
  resolver.clear();
  const gone = cachedResolver({ getJson: () => Promise.resolve(undefined) } as unknown as EngineClient);
  expect(await checkTargetCaveat(caveat, new RequestTargets(request as never, gone, 1_000))).toContain(
    "no such container",
  );
  expect(gone.cached("container", "web")).toEqual({ id: undefined });
  expect(await checkTargetCaveat(caveat, new RequestTargets(request as never, gone, 1_000))).toContain(
    "no such container",
  );
});

test("a lookup that never answers still ends in a deny at its deadline", async () => {
  const stuck = cachedResolver({ getJson: () => new Promise(() => {}) } as unknown as EngineClient);
  const request = {
    action: "container:inspect",
    method: "GET",
    upgrade: false,
    resources: { container: "web" },
  };
  const targets = new RequestTargets(request as never, stuck, 30);
  await expect(checkTargetCaveat(dockerCaveat("container_id", WEB), targets)).rejects.toThrow("in time");
});
