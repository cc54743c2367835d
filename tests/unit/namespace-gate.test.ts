/**
 * The namespace gate on the plugin socket (src/decide/namespace-gate.ts): dockerd's requests cannot be
 * rewritten, so another namespace's objects, labels and references are refused, and prunes must stay within
 * the requester's namespaces. alice is in the policy group team; root and certificates with OU=ops are
 * administrators.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { PeerCertificate } from "../../src/ca/index.ts";
import { decide } from "../../src/decide/decide.ts";
import type { RequestFacts } from "../../src/decide/facts.ts";
import { DecisionProofs } from "../../src/decide/decision-proof.ts";
import type { Gate } from "../../src/decide/gate.ts";
import { namespaceGate } from "../../src/decide/namespace-gate.ts";
import type { EngineClient } from "../../src/docker/engine-client.ts";
import { objectLookup } from "../../src/docker/object-lookup.ts";
import { policyGate } from "../../src/decide/policy-gate.ts";
import { loadPolicy } from "../../src/policy/index.ts";
import { nodeFileSystem } from "../../src/runtime/node-file-system.ts";
import { createPluginApp } from "../../src/server/plugin-app.ts";
import { PluginStateStore } from "../../src/server/plugin-state.ts";
import { stateLayout } from "../../src/store/layout.ts";
import { removeTempDirs, seededRandom, tempDir } from "../helpers/fixtures.ts";
import { facts } from "./decide/macaroon-gate-helpers.ts";
import { fakeLookup, IDS, NS } from "./namespace-fixtures.ts";

afterAll(removeTempDirs);

const POLICY_TEXT = `version: 1
administrators: [root, "ou:ops"]
groups:
  team: [alice]
rules:
  - id: all
    who: "*"
    allow: ["*"]
`;
const POLICY = loadPolicy(POLICY_TEXT, "namespaces.yaml");

function gate(lookup = fakeLookup()) {
  return { lookup, gate: namespaceGate(POLICY, lookup) };
}

function certificate(organizationalUnits: string[]): PeerCertificate {
  return {
    serial: "1",
    commonName: undefined,
    organizations: [],
    organizationalUnits,
    issuer: "CN=cluster",
    authorityKeyId: undefined,
    notAfter: new Date(Date.UTC(2030, 0, 1)),
    fingerprint: "00",
  };
}

type As = { user?: string; ous?: string[] };

function request(as: As, method: string, uri: string, body?: unknown): RequestFacts {
  const built = facts(method, uri, {
    ...(as.user === undefined ? {} : { user: as.user }),
    ...(body === undefined ? {} : { body }),
  });
  return as.ous === undefined ? built : { ...built, leafCertificate: certificate(as.ous) };
}

async function verdict(as: As, method: string, uri: string, body?: unknown, lookup = fakeLookup()) {
  return await gate(lookup).gate.check(request(as, method, uri, body));
}

const ALICE: As = { user: "alice" };
const BOB: As = { user: "bob" };
const ANONYMOUS: As = {};
const ROOT: As = { user: "root" };
const elsewhere = (what: string, ref: string) => ({
  allow: false,
  ruleId: "namespace",
  reason: `${what} ${ref} belongs to another namespace`,
});
const ALLOWED = { allow: true, ruleId: undefined, reason: "allowed" };

describe("objects the path names", () => {
  const matrix: readonly [string, As, readonly string[], readonly string[]][] = [
    ["alice", ALICE, ["web", "ci", "legacy", "lookalike", "missing"], ["db"]],
    ["bob", BOB, ["db", "legacy", "lookalike", "missing"], ["web", "ci"]],
    ["anonymous", ANONYMOUS, ["legacy", "lookalike", "missing"], ["web", "db", "ci"]],
    ["a certificate with OU=team", { user: "carol", ous: ["team"] }, ["ci", "legacy"], ["web", "db"]],
  ];
  for (const [who, as, allowed, refused] of matrix) {
    test(`${who}: its own, unlabelled and missing containers pass; another namespace's are refused`, async () => {
      for (const name of allowed) {
        const refs = name in IDS
          ? [name, IDS[name as keyof typeof IDS].slice(0, 12), IDS[name as keyof typeof IDS]]
          : [name];
        for (const ref of refs) expect(await verdict(as, "GET", `/containers/${ref}/json`)).toEqual(ALLOWED);
      }
      for (const name of refused) {
        const full = IDS[name as keyof typeof IDS];
        for (const ref of [name, full.slice(0, 12), full]) {
          expect(await verdict(as, "POST", `/v1.41/containers/${ref}/start`)).toEqual(
            elsewhere("container", ref),
          );
        }
      }
    });
  }

  test("administrators (by name or certificate OU) pass without a lookup", async () => {
    for (const as of [ROOT, { user: "dave", ous: ["ops"] }]) {
      const lookup = fakeLookup();
      expect(await verdict(as, "DELETE", "/containers/db", undefined, lookup)).toEqual(ALLOWED);
      expect(lookup.calls).toEqual([]);
    }
  });

  test("exec instances, volumes and networks", async () => {
    expect(await verdict(ALICE, "POST", `/exec/${IDS.execInDb}/start`, {})).toEqual(
      elsewhere("exec instance", IDS.execInDb),
    );
    expect(await verdict(ALICE, "POST", `/exec/${IDS.execInWeb}/start`, {})).toEqual(ALLOWED);
    expect(await verdict(ALICE, "POST", "/exec/unknown/start", {})).toEqual(ALLOWED);
    expect(await verdict(ALICE, "DELETE", "/volumes/bobvol")).toEqual(elsewhere("volume", "bobvol"));
    expect(await verdict(ALICE, "GET", "/volumes/teamvol")).toEqual(ALLOWED);
    expect(await verdict(ALICE, "GET", "/volumes/oldvol")).toEqual(ALLOWED);
    expect(await verdict(ALICE, "DELETE", `/networks/${IDS.bobnet}`)).toEqual(
      elsewhere("network", IDS.bobnet),
    );
    const lookup = fakeLookup();
    expect(await verdict(BOB, "POST", "/networks/bridge/connect", { Container: "db" }, lookup)).toEqual(
      ALLOWED,
    );
    expect(lookup.calls).toEqual(["container db"]);
  });

  test("a reason names only what the requester sent", async () => {
    const { reason } = await verdict(ALICE, "GET", "/containers/db/json");
    expect(reason).not.toContain(IDS.db);
    expect(reason).not.toContain("bob");
  });
});

describe("labels a create asks for", () => {
  const create = (as: As, path: string, labels: unknown, extra: Record<string, unknown> = {}) =>
    verdict(as, "POST", path, { Name: "n", Image: "tiny", Labels: labels, ...extra });

  test("io.agent.namespace naming one's own namespaces only", async () => {
    for (const path of ["/containers/create", "/volumes/create", "/networks/create"]) {
      expect(await create(ALICE, path, { [NS]: "alice" })).toEqual(ALLOWED);
      expect(await create(ALICE, path, { [NS]: "team" })).toEqual(ALLOWED);
      expect(await create(ALICE, path, { a: "b" })).toEqual(ALLOWED);
      expect(await create(ALICE, path, { [NS]: "bob" })).toEqual({
        allow: false,
        ruleId: "namespace",
        reason: "the label io.agent.namespace may only name your own namespaces",
      });
      expect((await create(ANONYMOUS, path, { [NS]: "alice" })).allow).toBe(false);
      expect(await create(ROOT, path, { [NS]: "bob" })).toEqual(ALLOWED);
    }
  });

  test("no other io.agent. label, in any case, and malformed labels are refused", async () => {
    for (const key of ["io.agent.service", "IO.AGENT.NAMESPACE", "Io.Agent.X"]) {
      expect(await create(ALICE, "/containers/create", { [key]: "alice" })).toEqual({
        allow: false,
        ruleId: "namespace",
        reason: `labels under io.agent. are set by the agent only (${key})`,
      });
    }
    expect((await create(ALICE, "/containers/create", { a: 1 })).allow).toBe(false);
    expect((await create(ALICE, "/containers/create", ["x"])).allow).toBe(false);
    expect((await verdict(ALICE, "POST", "/containers/create", ["x"])).allow).toBe(false);
    expect((await verdict(ALICE, "POST", "/containers/create", { Labels: {}, labels: {} })).reason).toBe(
      "the request body sets Labels more than once (Labels and labels)",
    );
    // Go's case-insensitive keys are read too.
    expect((await verdict(ALICE, "POST", "/containers/create", { labels: { [NS]: "bob" } })).allow).toBe(
      false,
    );
  });

  test("a mount's VolumeOptions.Labels and a service's task labels", async () => {
    const mount = {
      HostConfig: { Mounts: [{ Type: "volume", Target: "/d", VolumeOptions: { Labels: { [NS]: "bob" } } }] },
    };
    expect((await verdict(ALICE, "POST", "/containers/create", mount)).allow).toBe(false);
    const service = { TaskTemplate: { ContainerSpec: { Labels: { [NS]: "bob" } } } };
    expect((await verdict(ALICE, "POST", "/services/create", service)).allow).toBe(false);
    expect((await verdict(BOB, "POST", "/services/create", service)).allow).toBe(true);
  });

  test("a container that would inherit another namespace's label from its image", async () => {
    expect(await verdict(ALICE, "POST", "/containers/create", { Image: "trojan" })).toEqual({
      allow: false,
      ruleId: "namespace",
      reason:
        "containers of image trojan would belong to another namespace (its label io.agent.namespace): set that label to one of your namespaces",
    });
    expect(await verdict(ALICE, "POST", "/containers/create", { Image: "trojan", Labels: { [NS]: "alice" } }))
      .toEqual(ALLOWED);
    expect(await verdict(ALICE, "POST", "/containers/create", { Image: "mine" })).toEqual(ALLOWED);
    expect(await verdict(ALICE, "POST", "/containers/create", { Image: "unknown" })).toEqual(ALLOWED);
    expect(await verdict(BOB, "POST", "/containers/create", { Image: "trojan" })).toEqual(ALLOWED);
  });

  test("a volume create of another namespace's volume name", async () => {
    expect(await verdict(ALICE, "POST", "/volumes/create", { Name: "bobvol" })).toEqual(
      elsewhere("volume", "bobvol"),
    );
    expect(await verdict(ALICE, "POST", "/volumes/create", { Name: "oldvol" })).toEqual(ALLOWED);
  });
});

describe("what a container create body uses", () => {
  const cases: readonly [string, Record<string, unknown>, string, string][] = [
    ["NetworkMode", { HostConfig: { NetworkMode: "bobnet" } }, "network", "bobnet"],
    ["NetworkMode container:", { HostConfig: { NetworkMode: "container:db" } }, "container", "db"],
    ["EndpointsConfig", { NetworkingConfig: { EndpointsConfig: { bobnet: null } } }, "network", "bobnet"],
    [
      "endpoint Links",
      {
        NetworkingConfig: { EndpointsConfig: { alicenet: { Links: ["db:d"] } } },
      },
      "container",
      "db",
    ],
    ["Links", { HostConfig: { Links: ["/db:/me/d"] } }, "container", "db"],
    ["VolumesFrom", { HostConfig: { VolumesFrom: [`${IDS.db}:ro`] } }, "container", IDS.db],
    ["PidMode", { HostConfig: { PidMode: "container:db" } }, "container", "db"],
    ["IpcMode", { HostConfig: { IpcMode: "container:db" } }, "container", "db"],
    ["Cgroup", { HostConfig: { Cgroup: "container:db" } }, "container", "db"],
    ["Binds", { HostConfig: { Binds: ["bobvol:/d:ro"] } }, "volume", "bobvol"],
    [
      "Mounts",
      { HostConfig: { Mounts: [{ Type: "volume", Source: "bobvol", Target: "/d" }] } },
      "volume",
      "bobvol",
    ],
    ["folded keys", { hostconfig: { networkmode: "bobnet" } }, "network", "bobnet"],
  ];
  for (const [what, body, kind, ref] of cases) {
    test(`${what}: another namespace's ${kind} is refused`, async () => {
      expect(await verdict(ALICE, "POST", "/containers/create", { Image: "tiny", ...body })).toEqual(
        elsewhere(kind, ref),
      );
    });
  }

  test("one's own, unlabelled, missing and built-in objects pass", async () => {
    expect(
      await verdict(ALICE, "POST", "/containers/create?name=db", {
        Image: "tiny",
        HostConfig: {
          NetworkMode: "teamnet",
          Links: ["legacy:l", "web"],
          VolumesFrom: ["nothing"],
          Binds: ["oldvol:/o", "fresh:/f", "/srv:/srv"],
          PidMode: "host",
        },
        NetworkingConfig: { EndpointsConfig: { bridge: {}, alicenet: {} } },
      }),
    ).toEqual(ALLOWED);
  });

  test("one object named in several places is looked up once", async () => {
    const lookup = fakeLookup();
    const body = {
      Image: "tiny",
      HostConfig: { NetworkMode: "alicenet", Links: ["web:a", "web:b"], VolumesFrom: ["web"] },
      NetworkingConfig: { EndpointsConfig: { alicenet: { Links: ["web:c"] } } },
    };
    expect(await verdict(ALICE, "POST", "/containers/create", body, lookup)).toEqual(ALLOWED);
    expect(lookup.calls).toEqual(["network alicenet", "container web", "image tiny"]);
  });

  test("network connect of another namespace's container, and a build in its network", async () => {
    expect(await verdict(ALICE, "POST", "/networks/alicenet/connect", { Container: "db" })).toEqual(
      elsewhere("container", "db"),
    );
    expect(await verdict(ALICE, "POST", "/build?networkmode=container:db")).toEqual(
      elsewhere("container", "db"),
    );
    expect(await verdict(ALICE, "POST", "/build?networkmode=default")).toEqual(ALLOWED);
  });
});

describe("prunes must stay within the requester's namespaces", () => {
  const prune = (as: As, filters?: unknown) =>
    verdict(
      as,
      "POST",
      `/containers/prune${
        filters === undefined ? "" : `?filters=${encodeURIComponent(JSON.stringify(filters))}`
      }`,
    );

  test("limited to one of its namespaces, or to unlabelled objects only", async () => {
    expect(await prune(ALICE, { label: { [`${NS}=alice`]: true } })).toEqual(ALLOWED);
    expect(await prune(ALICE, { label: [`${NS}=team`, "x=y"], until: ["1h"] })).toEqual(ALLOWED);
    expect(await prune(ANONYMOUS, { "label!": { [NS]: true } })).toEqual(ALLOWED);
    expect(await prune(ROOT)).toEqual(ALLOWED);
  });

  test("anything else is refused", async () => {
    expect(await prune(ALICE)).toEqual({
      allow: false,
      ruleId: "namespace",
      reason:
        "a prune on this socket must stay within your namespaces: add --filter label=io.agent.namespace=NAMESPACE (one of yours), or --filter label!=io.agent.namespace",
    });
    expect((await prune(ALICE, { label: { [`${NS}=bob`]: true } })).reason).toBe(
      "a prune on this socket must stay within your namespaces: the label filter names another namespace",
    );
    for (
      const filters of [
        { label: { [NS]: true } },
        { label: { [`${NS}=`]: true } },
        { "label!": { [NS]: true, "x": true } },
        { "label!": { [`${NS}=bob`]: true } },
      ]
    ) {
      expect((await prune(ALICE, filters)).allow).toBe(false);
    }
    for (const kind of ["volumes", "networks"]) {
      expect((await verdict(BOB, "POST", `/${kind}/prune`)).allow).toBe(false);
    }
    expect((await verdict(ALICE, "POST", "/containers/prune?filters=%7B")).reason).toBe(
      "invalid filter: the filters query parameter is not valid JSON",
    );
  });
});

describe("what the gate leaves alone", () => {
  test("other doors, the agent's own token and the AuthZRes phase, without a lookup", async () => {
    const { gate: g, lookup } = gate();
    const refused = request(ALICE, "GET", "/containers/db/json");
    expect(await g.check({ ...refused, door: "api" })).toEqual(ALLOWED);
    expect(await g.check({ ...refused, door: "gateway" })).toEqual(ALLOWED);
    expect(await g.check({ ...request(ANONYMOUS, "GET", "/containers/db/json"), agentToken: true })).toEqual(
      ALLOWED,
    );
    expect(await g.check(facts("GET", "/containers/db/json", { user: "alice", phase: "response" }))).toEqual(
      ALLOWED,
    );
    expect(lookup.calls).toEqual([]);
  });

  test("images and the system pass without a lookup", async () => {
    const lookup = fakeLookup();
    for (
      const [method, uri] of [["DELETE", "/images/trojan"], ["GET", "/info"], [
        "GET",
        "/containers/json",
      ]] as const
    ) {
      expect(await verdict(ALICE, method, uri, undefined, lookup)).toEqual(ALLOWED);
    }
    expect(lookup.calls).toEqual([]);
  });

  test("a failed lookup fails the gate (the plugin then denies)", async () => {
    const lookup = fakeLookup();
    lookup.down = true;
    await expect(verdict(ALICE, "GET", "/containers/web/json", undefined, lookup)).rejects.toThrow("ENOENT");
  });
});

describe("in the plugin's decision", () => {
  test("decided by the namespace gate after the policy allowed", async () => {
    const gates = [policyGate(POLICY), namespaceGate(POLICY, fakeLookup())];
    const denied = await decide(request(ALICE, "GET", "/containers/db/json"), gates);
    expect({ allow: denied.allow, decidedBy: denied.decidedBy, ruleId: denied.ruleId, reason: denied.reason })
      .toEqual({
        allow: false,
        decidedBy: "namespace",
        ruleId: "namespace",
        reason: "container db belongs to another namespace",
      });
    const allowed = await decide(request(ALICE, "GET", "/containers/web/json"), gates);
    expect({ allow: allowed.allow, ruleId: allowed.ruleId }).toEqual({ allow: true, ruleId: "all" });
  });

  test("the state store adds the gate, last, only when given a lookup", async () => {
    const root = await tempDir();
    const policyFile = join(root, "policy.yaml");
    await writeFile(policyFile, POLICY_TEXT);
    const clock = () => new Date(Date.UTC(2026, 0, 1));
    const open = (extra: { namespaceLookup?: ReturnType<typeof fakeLookup> }) =>
      PluginStateStore.open({
        fs: nodeFileSystem,
        layout: stateLayout(join(root, "state")),
        policy: { file: policyFile },
        clock,
        ...extra,
      });
    expect((await open({})).state.gates.map((g) => g.name)).toEqual(["policy"]);
    const store = await open({ namespaceLookup: fakeLookup() });
    expect(store.state.gates.map((g) => g.name)).toEqual(["policy", "namespace"]);
    expect(store.state.summary).toContain("gates: policy, namespace");
  });
});

/**
 * The plugin and a dockerd stand-in: every call to "dockerd" (the gate's lookups) is first put to the plugin
 * as dockerd would (AuthZReq, then AuthZRes), and refused when the plugin refuses it.
 */
function pluginWithDaemon(options: { proofs: boolean; maxInFlight?: number; policy?: typeof POLICY }) {
  const proofs = new DecisionProofs({ random: seededRandom("namespace gate"), nowMs: () => 1_000 });
  const gates: Gate[] = [];
  let n = 0;
  const app = createPluginApp({
    state: () => ({ gates, policyHash: "h" }),
    audit: () => {},
    clock: () => new Date(Date.UTC(2026, 0, 1)),
    monotonicMs: () => 0,
    newDecisionId: () => (++n).toString(16).padStart(12, "0"),
    info: { name: "agent", version: "test", startedAt: new Date(Date.UTC(2026, 0, 1)) },
    proofs,
  });
  const authz = async (phase: "Req" | "Res", body: Record<string, unknown>) => {
    const res = await app.request(`/AuthZPlugin.AuthZ${phase}`, {
      method: "POST",
      body: JSON.stringify(body),
    });
    return (await res.json()) as { Allow: boolean; Msg?: string };
  };
  const asked: string[] = [];
  const client: EngineClient = {
    async getJson(path, headers) {
      asked.push(path);
      const request = {
        RequestMethod: "GET",
        RequestUri: path,
        RequestHeaders: Object.fromEntries(Object.entries(headers ?? {}).map(([k, v]) => [k, [v]])),
      };
      if (!(await authz("Req", request)).Allow) throw new Error("dockerd: authorization denied");
      const found = path === "/containers/db/json"
        ? { Id: IDS.db, Name: "/db", Config: { Labels: { [NS]: "bob" } } }
        : undefined;
      if (!(await authz("Res", { ...request, ResponseStatusCode: found ? 200 : 404 })).Allow) {
        throw new Error("dockerd: authorization denied");
      }
      return found;
    },
    send: () => Promise.reject(new Error("not used")),
    stream: () => Promise.reject(new Error("not used")),
  };
  const lookup = objectLookup({
    client,
    ...(options.proofs ? { proofs, newId: () => `f${(++n).toString(16).padStart(11, "0")}` } : {}),
    ...(options.maxInFlight === undefined ? {} : { maxInFlight: options.maxInFlight }),
  });
  const policy = options.policy ?? POLICY;
  gates.push(policyGate(policy), namespaceGate(policy, lookup));
  const ask = (user: string | undefined, uri: string) =>
    authz("Req", {
      RequestMethod: "GET",
      RequestUri: uri,
      RequestHeaders: {},
      ...(user === undefined ? {} : { User: user, UserAuthNMethod: "TLS" }),
    });
  return { ask, asked, proofs };
}

describe("the gate's own lookups through dockerd", () => {
  test("carry proofs the plugin redeems: one lookup, no gate asked again", async () => {
    const { ask, asked, proofs } = pluginWithDaemon({ proofs: true });
    const answer = await ask("alice", "/containers/db/json");
    expect(answer.Allow).toBe(false);
    expect(answer.Msg).toStartWith("container db belongs to another namespace (decision ");
    expect(asked).toEqual(["/containers/db/json"]);
    expect(proofs.pending).toBe(0);
    expect((await ask("bob", "/containers/db/json")).Allow).toBe(true);
  });

  test("without proofs, the recursion is bounded and ends in a deny", async () => {
    // A policy that lets the unix socket read: the gate's unproven lookups reach the gate again.
    const policy = loadPolicy(POLICY_TEXT.replace('who: "*"', 'who: ["*", anonymous]'), "open.yaml");
    const { ask, asked } = pluginWithDaemon({ proofs: false, maxInFlight: 3, policy });
    const answer = await ask("alice", "/containers/db/json");
    expect(answer.Allow).toBe(false);
    expect(answer.Msg).toStartWith("internal error in the authorization plugin");
    expect(asked).toHaveLength(3);
  });

  test("without proofs, a policy that refuses the unix socket fails every lookup: closed, never open", async () => {
    const { ask, asked } = pluginWithDaemon({ proofs: false });
    const answer = await ask("alice", "/containers/web/json");
    expect(answer.Allow).toBe(false);
    expect(answer.Msg).toStartWith("internal error in the authorization plugin");
    expect(asked).toEqual(["/containers/web/json"]);
  });
});
