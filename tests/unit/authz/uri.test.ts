import { describe, expect, test } from "bun:test";
import { normalizeUri } from "../../../src/authz/uri.ts";
import { AgentError } from "../../../src/errors.ts";

describe("normalizeUri", () => {
  test("strips the version prefix and splits the query", () => {
    const u = normalizeUri("/v1.41/containers/json?all=1&limit=5");
    expect(u.path).toBe("/containers/json");
    expect(u.version).toBe("1.41");
    expect(u.query.get("all")).toBe("1");
    expect(u.decoded).toBe("/v1.41/containers/json?all=1&limit=5");
  });

  test("unversioned paths are served by dockerd and normalise to the same path", () => {
    expect(normalizeUri("/containers/create").path).toBe("/containers/create");
    expect(normalizeUri("/containers/create").version).toBeUndefined();
  });

  test("percent-encoded slashes and letters decode to the path dockerd routes", () => {
    expect(normalizeUri("/v1.41/containers%2Fcreate").path).toBe("/containers/create");
    expect(normalizeUri("/v1.41/%63ontainers/create").path).toBe("/containers/create");
    expect(normalizeUri("/%761.41/containers/json").path).toBe("/containers/json");
  });

  test("double encoding decodes once, as dockerd does", () => {
    expect(normalizeUri("/v1.41/%2563ontainers/create").path).toBe("/%63ontainers/create");
  });

  test("an upper-case version prefix is not a version (dockerd would not route it)", () => {
    expect(normalizeUri("/V1.41/containers/json").path).toBe("/V1.41/containers/json");
  });

  for (
    const bad of [
      "",
      "containers/json",
      "/a/../b",
      "/a/./b",
      "//containers/json",
      "/a%2F..%2Fb",
      "/a%00b",
      "/%zz",
    ]
  ) {
    test(`refuses ${JSON.stringify(bad)} with ERR_REQUEST_URI`, () => {
      let error: unknown;
      try {
        normalizeUri(bad);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(AgentError);
      expect((error as AgentError).code).toBe("ERR_REQUEST_URI");
    });
  }

  test("refuses a URI over the length limit", () => {
    expect(() => normalizeUri("/" + "a".repeat(20_000))).toThrow(
      "request URI is missing, too long or not a path",
    );
  });
});

test("a long version prefix like /v1.41.0 is stripped as moby's [0-9.]+ does", () => {
  expect(normalizeUri("/v1.41.0/containers/json").path).toBe("/containers/json");
});

test("the in-place clean-path scan refuses exactly what splitting on / refuses", () => {
  const clean = (path: string) =>
    !path.includes("//") && !path.includes("\0") &&
    path.split("/").every((segment) => segment !== "." && segment !== "..");
  const accepted = (uri: string) => {
    try {
      normalizeUri(uri);
      return true;
    } catch {
      return false;
    }
  };
  const paths = [
    "/containers/json",
    "/containers/./json",
    "/containers/../json",
    "/containers/..json",
    "/containers/.json",
    "/containers/json/.",
    "/containers/json/..",
    "/containers/json/...",
    "/.",
    "/..",
    "/.../x",
    "/a/.b/..c/...",
    "/a//b",
    "/a/%2E/b",
    "/a/%2e%2e/b",
    "/a/.%2e/b",
    "/a/%00/b",
    "/.hidden",
    "/",
  ];
  for (const path of paths) {
    const decoded = decodeURIComponent(path);
    expect([path, accepted(path)]).toEqual([path, clean(decoded)]);
  }
  // Randomised: paths of slashes, dots and letters.
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  for (let i = 0; i < 5000; i++) {
    let path = "/";
    for (let n = next() % 9; n > 0; n--) path += "/.a"[next() % 3];
    expect([path, accepted(path)]).toEqual([path, clean(path)]);
  }
});

test("the query is parsed on first use, and is what URLSearchParams makes of it", () => {
  const u = normalizeUri("/v1.41/images/create?fromImage=busybox&tag=latest&x=%2F");
  expect(u.query).toBe(u.query); // parsed once
  expect([...u.query]).toEqual([...new URLSearchParams("fromImage=busybox&tag=latest&x=%2F")]);
  expect([...normalizeUri("/info").query]).toEqual([]);
});
