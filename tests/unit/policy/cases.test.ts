/** Runs the table-driven conformance cases in tests/vectors/policy/cases.yaml. */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { loadPolicy, type Policy, type PolicyRequest } from "../../../src/policy/index.ts";
import { effectOf } from "../../helpers/route-effect.ts";

interface CaseRequest {
  readonly user?: string | null;
  readonly certificate?: { readonly ou: string[]; readonly o: string[] };
  readonly method: string;
  readonly uri: string;
  readonly action: string | null;
  /** Default: the route table's effect for the action. */
  readonly effect?: "read" | "write";
  readonly agentToken?: boolean;
  readonly body?: unknown;
}

interface Case {
  readonly id: string;
  readonly title: string;
  readonly source: string;
  readonly policy?: string;
  readonly request: CaseRequest;
  readonly expect: { readonly allow: boolean; readonly ruleId: string | null; readonly reason: string };
}

const file = new URL("../../vectors/policy/cases.yaml", import.meta.url);
const vectors = parse(readFileSync(file, "utf8")) as {
  policies: Record<string, string>;
  cases: Case[];
};

const policies = new Map<string, Policy>(
  Object.entries(vectors.policies).map(([name, text]) => [name, loadPolicy(text, `${name}.yaml`)]),
);

function toRequest(r: CaseRequest): PolicyRequest {
  const query = r.uri.indexOf("?");
  const path = (query < 0 ? r.uri : r.uri.slice(0, query)).replace(/^\/v[0-9][0-9.]*(?=\/)/, "");
  return {
    user: r.user ?? undefined,
    certificate: r.certificate === undefined
      ? undefined
      : { organizationalUnits: r.certificate.ou, organizations: r.certificate.o },
    method: r.method,
    uri: r.uri,
    path,
    action: r.action ?? undefined,
    effect: r.effect ?? effectOf(r.action ?? undefined),
    body: "body" in r ? r.body : undefined,
    ...(r.agentToken === undefined ? {} : { agentToken: r.agentToken }),
  };
}

describe("policy conformance cases", () => {
  test("case ids are unique and every case names its source", () => {
    const ids = vectors.cases.map((c) => c.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const c of vectors.cases) expect(c.source.length).toBeGreaterThan(0);
  });

  for (const c of vectors.cases) {
    test(`${c.id}: ${c.title}`, () => {
      const policy = policies.get(c.policy ?? "main");
      if (policy === undefined) throw new Error(`case ${c.id} names an unknown policy`);
      const decision = policy.evaluate(toRequest(c.request));
      expect({ allow: decision.allow, ruleId: decision.ruleId ?? null }).toEqual({
        allow: c.expect.allow,
        ruleId: c.expect.ruleId,
      });
      expect(decision.reason).toContain(c.expect.reason);
    });
  }
});
