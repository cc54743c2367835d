import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import { DEMO_POLICY, loadPolicy, type PolicyRequest } from "../../../src/policy/index.ts";
import { effectOf } from "../../helpers/route-effect.ts";

const create = (user: string | undefined, body: unknown): PolicyRequest => ({
  user,
  method: "POST",
  uri: "/v1.41/containers/create",
  path: "/containers/create",
  action: "container:create",
  effect: "write",
  body,
});

const request = (
  user: string | undefined,
  action: string,
  method = "GET",
  uri = "/v1.41/x",
): PolicyRequest => ({
  user,
  method,
  uri,
  path: uri.replace(/^\/v[0-9.]+/, ""),
  action,
  effect: effectOf(action),
  body: undefined,
});

describe("loadPolicy", () => {
  test("reports the sha256 of the text's bytes, the rule count and the source name", () => {
    const text = "version: 1\nrules:\n  - {id: a, who: bob, allow: container:list}\n";
    const policy = loadPolicy(text, "/etc/agent/policy.yaml");
    expect(policy.hash).toBe(bytesToHex(sha256(new TextEncoder().encode(text))));
    expect(policy.ruleCount).toBe(1);
    expect(policy.source).toBe("/etc/agent/policy.yaml");
    expect(Object.isFrozen(policy)).toBe(true);
  });

  test("the same text always hashes the same, a changed byte changes the hash", () => {
    const text = "version: 1\nrules: []\n";
    expect(loadPolicy(text, "a").hash).toBe(loadPolicy(text, "b").hash);
    expect(loadPolicy(`${text}# x\n`, "a").hash).not.toBe(loadPolicy(text, "a").hash);
  });

  test("rejects text that is not a string with a typed error", () => {
    expect(() => loadPolicy(42 as unknown as string, "p.yaml")).toThrow("p.yaml:1:1: policy is not text");
  });
});

describe("the demo policy", () => {
  const demo = loadPolicy(DEMO_POLICY, "demo");

  test("loads", () => {
    expect(demo.ruleCount).toBeGreaterThan(5);
  });

  test("alice (ops) may do everything, including plugin changes", () => {
    expect(demo.evaluate(request("alice", "plugin:disable", "POST")).allow).toBe(true);
    expect(demo.evaluate(create("alice", { Image: "alpine", HostConfig: { Privileged: true } })).allow).toBe(
      true,
    );
  });

  test("bob reads, works with images and runs plain containers", () => {
    expect(demo.evaluate(request("bob", "container:list")).allow).toBe(true);
    expect(demo.evaluate(request("bob", "image:pull", "POST")).allow).toBe(true);
    // Developers pull and read images but may not remove or push them.
    expect(demo.evaluate(request("bob", "image:remove", "DELETE")).allow).toBe(false);
    expect(demo.evaluate(request("bob", "image:push", "POST")).allow).toBe(false);
    expect(demo.evaluate(create("bob", { Image: "alpine", Cmd: ["sh"] })).allow).toBe(true);
    expect(demo.evaluate(request("bob", "system:ping", "HEAD", "/_ping")).allow).toBe(true);
  });

  test("bob is never privileged, never mounts the host and never joins host namespaces", () => {
    const denied = [
      { Image: "alpine", HostConfig: { Privileged: true } },
      { Image: "alpine", hostconfig: { privileged: true } },
      { Image: "alpine", HostConfig: { Binds: ["/:/host"] } },
      {
        Image: "alpine",
        HostConfig: { Mounts: [{ Type: "bind", Source: "/var/run/docker.sock", Target: "/s" }] },
      },
      { Image: "alpine", HostConfig: { NetworkMode: "host" } },
      { Image: "alpine", HostConfig: { PidMode: "host" } },
      { Image: "alpine", HostConfig: { CapAdd: ["SYS_ADMIN"] } },
      { Image: "alpine", HostConfig: { Devices: [{ PathOnHost: "/dev/sda" }] } },
      { Image: "alpine", HostConfig: { SecurityOpt: ["seccomp=unconfined"] } },
      undefined,
    ];
    for (const body of denied) expect(demo.evaluate(create("bob", body)).allow).toBe(false);
  });

  test("bob may not change plugins or do what no rule names", () => {
    expect(demo.evaluate(request("bob", "plugin:enable", "POST")).ruleId).toBe("builtin:plugin-admin");
    expect(demo.evaluate(request("bob", "swarm:init", "POST")).allow).toBe(false);
  });

  test("the unix socket (anonymous) may do everything; unknown users get nothing", () => {
    expect(demo.evaluate(create(undefined, { Image: "alpine", HostConfig: { Privileged: true } })).allow)
      .toBe(true);
    expect(demo.evaluate(request("mallory", "container:list")).allow).toBe(false);
    expect(demo.evaluate(request("mallory", "system:ping", "HEAD", "/_ping")).allow).toBe(false);
  });
});

describe("evaluation is total", () => {
  const policy = loadPolicy(
    "version: 1\nrules:\n  - {id: ok, who: ['*', anonymous], allow: '*'}\n" +
      "  - {id: np, who: '*', deny: [container:create, container:exec], when: {privileged: true}}\n" +
      "  - {id: ou, who: 'ou:x', allow: '*'}\n",
    "p.yaml",
  );

  test("a malformed request object is denied, never thrown", () => {
    const bad = { ...create("bob", {}), certificate: { organizations: 5, organizationalUnits: null } };
    const decision = policy.evaluate(bad as unknown as PolicyRequest);
    expect(decision).toEqual({ allow: false, ruleId: undefined, reason: "policy evaluation failed" });
  });

  test("random JSON bodies never throw, and decide deterministically", () => {
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const keys = [
      "HostConfig",
      "hostconfig",
      "Privileged",
      "PRIVILEGED",
      "Binds",
      "Mounts",
      "Image",
      "User",
      "x",
    ];
    const value = (depth: number): unknown => {
      const r = next();
      if (depth > 3 || r < 0.2) {
        return [true, false, null, 0, "", "/", "host", "root"][Math.floor(next() * 8)];
      }
      if (r < 0.5) return Array.from({ length: Math.floor(next() * 3) }, () => value(depth + 1));
      const o: Record<string, unknown> = {};
      for (let i = 0; i < 3; i++) o[keys[Math.floor(next() * keys.length)] as string] = value(depth + 1);
      return o;
    };
    for (let i = 0; i < 2000; i++) {
      const body = value(0);
      const first = policy.evaluate(create("bob", body));
      expect(policy.evaluate(create("bob", body))).toEqual(first);
      expect(typeof first.allow).toBe("boolean");
    }
  });

  test("any case-mangling of a privileged request is denied", () => {
    let seed = 3;
    const flip = (s: string) =>
      [...s].map((
        c,
      ) => ((seed = (seed * 69069 + 1) % 4294967296) % 2 === 0 ? c.toUpperCase() : c.toLowerCase()))
        .join("");
    for (let i = 0; i < 200; i++) {
      const body = { [flip("Image")]: "alpine", [flip("HostConfig")]: { [flip("Privileged")]: true } };
      expect(policy.evaluate(create("bob", body)).ruleId).toBe("np");
    }
  });
});

describe("purity", () => {
  test("src/policy imports no runtime module and touches no runtime global", () => {
    const dir = new URL("../../../src/policy/", import.meta.url);
    for (const name of readdirSync(dir)) {
      const text = readFileSync(new URL(name, dir), "utf8");
      expect({ name, bad: /from\s+["'](bun|node:[^"']*|deno)["']|\bBun\.|\bDeno\.|\bprocess\./.test(text) })
        .toEqual({ name, bad: false });
    }
  });
});

describe("a deny rule with `when` and a request without a body", () => {
  const demo = loadPolicy(DEMO_POLICY, "demo");

  test("says that the body was missing and the rule failed closed, instead of claiming what the body held", () => {
    const decision = demo.evaluate(create("bob", undefined));
    expect(decision).toMatchObject({ allow: false, ruleId: "developers-no-privileged" });
    expect(decision.reason).toBe(
      "denied by rule developers-no-privileged: privileged containers (the request has no body to check, " +
        "and a deny rule with `when` assumes the worst without one)",
    );
  });

  test("with the body, the reason is the rule's own", () => {
    const decision = demo.evaluate(create("bob", { Image: "busybox", HostConfig: { Privileged: true } }));
    expect(decision.reason).toBe("denied by rule developers-no-privileged: privileged containers");
    expect(demo.evaluate(create("bob", { Image: "busybox" }))).toMatchObject({ allow: true });
  });
});
