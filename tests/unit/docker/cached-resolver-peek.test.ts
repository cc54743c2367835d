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
const TINY_IMAGE = `sha256:${"1".repeat(64)}`;
const OTHER_IMAGE = `sha256:${"2".repeat(64)}`;

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
  const first = check();
  expect(first).toBeInstanceOf(Promise);
  expect(await first).toBe(true);
  expect(asked).toEqual(["/containers/web/json"]);
  expect(resolver.cached("container", "web")).toEqual({ id: WEB });
  // A hit is judged at once: no promise, so the request's verdict waits on no later turn.
  expect(check()).toBe(true);
  expect(asked).toHaveLength(1);
  // A known absence is cached too, and still refuses.
  resolver.clear();
  const gone = cachedResolver({ getJson: () => Promise.resolve(undefined) } as unknown as EngineClient);
  expect(await checkTargetCaveat(caveat, new RequestTargets(request as never, gone, 1_000))).toContain(
    "no such container",
  );
  expect(gone.cached("container", "web")).toEqual({ id: undefined });
  expect(checkTargetCaveat(caveat, new RequestTargets(request as never, gone, 1_000))).toContain(
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

test("two images in a creation body: a cached first and an uncached second are both judged, in order", async () => {
  const asked: string[] = [];
  const resolver = cachedResolver({
    getJson: (path: string) => {
      asked.push(path);
      return Promise.resolve({ Id: path.includes("other") ? OTHER_IMAGE : TINY_IMAGE });
    },
  } as unknown as EngineClient);
  await resolver.resolveImage("tiny");
  const request = {
    action: "container:create",
    method: "POST",
    upgrade: false,
    resources: {},
    body: { Image: "tiny", image: "other" },
  };
  const result = checkTargetCaveat(
    dockerCaveat("image_id", TINY_IMAGE),
    new RequestTargets(request as never, resolver, 1_000),
  );
  expect(result).toBeInstanceOf(Promise);
  expect(await result).toContain('the request acts on image "other"');
  expect(asked).toEqual(["/images/tiny/json", "/images/other/json"]);
});
