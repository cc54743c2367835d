import { describe, expect, test } from "bun:test";
import { DEFAULT_POLICY } from "../../../src/install/index.ts";
import { defaultPolicyWithTlsExample } from "../../../src/install/default-policy.ts";
import { loadPolicy, type PolicyRequest } from "../../../src/policy/index.ts";
import { effectOf } from "../../helpers/route-effect.ts";

function request(user: string | undefined, action: string, body: unknown = undefined): PolicyRequest {
  return { user, method: "POST", uri: "/v1.41/x", path: "/x", action, effect: effectOf(action), body };
}

/** What an operator does: remove the "# " in front of the example lines. */
function uncommented(text: string): string {
  return text.replace(/^# (groups:| {2}\S)/gm, "$1").replace(/^ {2}# (- | {2})/gm, "  $1");
}

describe("default policy written by install", () => {
  const policy = loadPolicy(DEFAULT_POLICY, "policy.yaml");

  test("loads", () => {
    expect(policy.ruleCount).toBe(1);
  });

  test("allows the local unix socket (anonymous) everything", () => {
    for (const action of ["container:create", "image:pull", "plugin:enable", "system:info"]) {
      expect(policy.evaluate(request(undefined, action)).allow).toBe(true);
    }
  });

  test("refuses every TLS user, whatever the action", () => {
    for (const user of ["alice", "root", "anonymous", "*"]) {
      expect(policy.evaluate(request(user, "container:list")).allow).toBe(false);
    }
  });

  test("its commented TLS example, once uncommented, loads and means what it says", () => {
    const text = uncommented(DEFAULT_POLICY);
    expect(text).toBe(defaultPolicyWithTlsExample());
    const example = loadPolicy(text, "policy.yaml");
    expect(example.ruleCount).toBe(6);
    expect(example.evaluate(request("alice", "container:create", { HostConfig: { Privileged: true } })).allow)
      .toBe(
        true,
      );
    expect(example.evaluate(request("bob", "container:list")).allow).toBe(true);
    expect(example.evaluate(request("bob", "container:create", { HostConfig: { Privileged: true } })).allow)
      .toBe(
        false,
      );
    expect(example.evaluate(request("carol", "container:list")).allow).toBe(false);
  });
});
