/** Evaluation sits on every Docker API call: a 200-rule policy must decide in microseconds. */
import { describe, expect, test } from "bun:test";
import { loadPolicy, type PolicyRequest } from "../../../src/policy/index.ts";

/** 200 rules: per-user allows, group allows, "*" deny rules with conditions, seed-style rules. */
export function benchmarkPolicy(): string {
  const lines = [
    "version: 1",
    "groups:",
    "  devs: [" + Array.from({ length: 40 }, (_, i) => `u${i}`).join(", ") + "]",
    "rules:",
  ];
  for (let i = 0; i < 80; i++) {
    lines.push(`  - {id: user-${i}, who: [u${i}], allow: [container:list, "image:*", container:inspect]}`);
  }
  for (let i = 0; i < 40; i++) {
    lines.push(`  - {id: group-${i}, who: ["group:devs"], allow: [container:create, container:start]}`);
  }
  const whens = [
    "{privileged: true}",
    "{host_mounts: true}",
    "{bind_sources: [/var/run/docker.sock, '/etc/**']}",
    "{network_mode: [host, 'container:*']}",
    "{cap_add: [SYS_ADMIN, NET_ADMIN]}",
    "{unconfined: true}",
    "{image: ['evil/**']}",
    "{devices: true}",
  ];
  for (let i = 0; i < 40; i++) {
    lines.push(`  - {id: deny-${i}, who: ["*"], deny: [container:create], when: ${whens[i % whens.length]}}`);
  }
  for (let i = 0; i < 40; i++) {
    lines.push(
      `  - {id: seed-${i}, who: [s${i}], methods: [GET], uri: "^/v1\\\\.[0-9]+/containers/${i}/json"}`,
    );
  }
  return `${lines.join("\n")}\n`;
}

const body = {
  Image: "alpine:3.19",
  Cmd: ["sh"],
  HostConfig: {
    Binds: ["cache:/cache"],
    NetworkMode: "bridge",
    CapAdd: ["CHOWN"],
    SecurityOpt: ["no-new-privileges"],
  },
};

describe("performance", () => {
  test("a 200-rule policy (the size scripts/bench times) compiles and decides each request correctly", () => {
    const policy = loadPolicy(benchmarkPolicy(), "bench.yaml");
    expect(policy.ruleCount).toBe(200);
    const requests: PolicyRequest[] = [
      {
        user: "u3",
        method: "GET",
        uri: "/v1.41/containers/json",
        path: "/containers/json",
        action: "container:list",
        effect: "read",
        body: undefined,
      },
      {
        user: "u7",
        method: "POST",
        uri: "/v1.41/containers/create",
        path: "/containers/create",
        action: "container:create",
        effect: "write",
        body,
      },
      {
        user: "s5",
        method: "GET",
        uri: "/v1.41/containers/5/json",
        path: "/containers/5/json",
        action: "container:inspect",
        effect: "read",
        body: undefined,
      },
      {
        user: "nobody",
        method: "GET",
        uri: "/v1.41/info",
        path: "/info",
        action: "system:info",
        effect: "read",
        body: undefined,
      },
    ];
    // No timing threshold here (timings belong to scripts/bench); the same answers every round.
    const first = requests.map((r) => policy.evaluate(r).allow);
    for (let round = 0; round < 1000; round++) {
      expect(requests.map((r) => policy.evaluate(r).allow)).toEqual(first);
    }
    expect(first[1]).toBe(true);
    expect(first[3]).toBe(false);
  });
});
