/** The policy's membership questions the HTTPS API asks: a user's groups (namespaces) and administrators. */
import { describe, expect, test } from "bun:test";
import { loadPolicy } from "../../../src/policy/index.ts";

const POLICY = `version: 1
administrators: ["group:ops", "ou:platform"]
groups:
  ops: [alice]
  dev: [alice, bob]
rules:
  - id: r
    who: [bob]
    allow: [system:info]
`;

describe("policy membership", () => {
  test("groupsOf names every group a user is a member of, and none for a stranger", () => {
    const policy = loadPolicy(POLICY, "p.yaml");
    expect(policy.groupsOf!("alice")).toEqual(["ops", "dev"]);
    expect(policy.groupsOf!("bob")).toEqual(["dev"]);
    expect(policy.groupsOf!("carol")).toEqual([]);
  });

  test("isAdministrator: members of an administrators group and certificates with an administrators OU", () => {
    const policy = loadPolicy(POLICY, "p.yaml");
    expect(policy.isAdministrator!({ user: "alice", certificate: undefined })).toBe(true);
    expect(policy.isAdministrator!({ user: "bob", certificate: undefined })).toBe(false);
    expect(policy.isAdministrator!({
      user: "carol",
      certificate: { organizations: [], organizationalUnits: ["platform"] },
    })).toBe(true);
    expect(policy.isAdministrator!({ user: undefined, certificate: undefined })).toBe(false);
  });
});
