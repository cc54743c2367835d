/** Shared fixtures of the service and container tests: a policy with groups, an administrator and deny rules. */
import { loadPolicy } from "../../../src/policy/index.ts";
import { type ApiHarness, apiHarness, type CaFixture, withCertificate } from "./helpers.ts";
import type { RoleCredentials, ServiceStore } from "../../../src/api/index.ts";

export const RESOURCE_POLICY = `version: 1
administrators: [dave]
groups:
  team: [alice, carol]
rules:
  - id: nobody-privileged
    description: privileged containers are not allowed on this host
    who: "*"
    deny: [container:create]
    when: { privileged: true }
  - id: containers
    who: [alice, carol, dave]
    allow: ["container:*"]
`;

/** carol may only read. */
export const READ_ONLY_POLICY = `version: 1
groups:
  team: [alice, carol]
rules:
  - id: alice-containers
    who: [alice]
    allow: ["container:*"]
  - id: carol-reads
    who: [carol]
    allow: [container:list, container:inspect]
`;

export function resourceHarness(
  ca: CaFixture,
  policyText = RESOURCE_POLICY,
  services?: ServiceStore,
  roles?: RoleCredentials,
): ApiHarness {
  return apiHarness(ca.gates(policyText), {
    policy: loadPolicy(policyText, "policy.yaml"),
    ...(services === undefined ? {} : { services }),
    ...(roles === undefined ? {} : { roles }),
  });
}

export type Who = "alice" | "carol" | "dave";

export async function call(
  api: ApiHarness,
  ca: CaFixture,
  who: Who,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const init: RequestInit = { method };
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
    init.headers = { "content-type": "application/json" };
  }
  const res = await api.request(path, init, withCertificate(ca.pems[who]));
  const text = await res.text();
  return { status: res.status, body: text === "" ? {} : JSON.parse(text), headers: res.headers };
}

/** Waits for the action a response names (X-DockerCloud-Action-URI) to end; its final record. */
export async function settled(api: ApiHarness, res: { headers: Headers }): Promise<Record<string, unknown>> {
  const uri = res.headers.get("x-dockercloud-action-uri");
  if (uri === null) throw new Error("the response names no action");
  const action = api.actions.get(uri.split("/").at(-2)!);
  if (action === undefined) throw new Error(`no action ${uri}`);
  for (let i = 0; i < 1000 && action.state === "In progress"; i++) {
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  if (action.state !== "In progress") return { ...action };
  throw new Error(`action ${uri} never ended`);
}
