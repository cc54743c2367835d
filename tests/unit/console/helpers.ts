/**
 * Fixtures for the console tests: a real CA in a temp state directory (alice with OU ops, carol with none; a
 * certificate can be revoked mid-test), API keys for alice and bob saved in a temp state directory, and the
 * console app wired the way src/cli/serve-console.ts wires it, with a controllable clock.
 */
import { sampleAuditEvent } from "../../helpers/audit-event.ts";
import "reflect-metadata";
import { join } from "node:path";
import { apiKeyAuthenticator } from "../../../src/api/apikey-authenticator.ts";
import { certificateAuthenticator } from "../../../src/api/certificate-authenticator.ts";
import {
  type ApiKeySet,
  apiKeyStatus,
  createApiKey,
  emptyApiKeySet,
  FailedAttemptLimiter,
  LastUsedTimes,
  loadApiKeys,
  saveApiKeys,
} from "../../../src/apikey/index.ts";
import type { AuditEvent } from "../../../src/audit/event.ts";
import {
  certificateGate,
  initAuthority,
  issueCertificate,
  loadCertificateGateState,
  revokeCertificates,
} from "../../../src/ca/index.ts";
import { type ConsoleDeps, createConsoleApp } from "../../../src/console/console-app.ts";
import { DecisionFeed } from "../../../src/console/decision-feed.ts";
import { ConsoleSessions } from "../../../src/console/sessions.ts";
import { certificateGateOf, isCertificateGate } from "../../../src/decide/certificate-gate.ts";
import type { Gate } from "../../../src/decide/gate.ts";
import { policyGate } from "../../../src/decide/policy-gate.ts";
import { loadPolicy, type Policy } from "../../../src/policy/index.ts";
import type { HttpsConnection } from "../../../src/ports.ts";
import { nodeFileSystem } from "../../../src/runtime/node-file-system.ts";
import type { LoadedState } from "../../../src/server/plugin-state.ts";
import { type StateLayout, stateLayout } from "../../../src/store/layout.ts";
import { seededRandom, tempDir } from "../../helpers/fixtures.ts";
import { fixedClock, newCaContext } from "../ca/helpers.ts";

/** alice administers; bob reads containers and may create unprivileged ones; carol has no rule. */
export const POLICY = `version: 1
administrators: [alice]
groups:
  ops: [alice]
rules:
  - id: ops-all
    who: ["group:ops"]
    allow: ["*"]
  - id: bob-containers
    who: [bob]
    allow: [container:list, container:inspect, container:logs, container:create]
  - id: bob-no-privileged
    who: [bob]
    deny: [container:create]
    when: { privileged: true }
`;

export const START = Date.parse("2026-06-01T10:00:00.000Z");

export const CONNECTION: HttpsConnection = {
  address: "192.0.2.10",
  peerCertificatesPem: [],
  peerVerified: false,
};

export interface ConsoleCa {
  readonly pems: Readonly<Record<"alice" | "carol", string>>;
  /** The certificate gate of the CA as its files say now (reloaded after a revocation). */
  gate(): Promise<Gate>;
  revoke(name: string): Promise<void>;
}

export async function consoleCa(seed = "console-ca"): Promise<ConsoleCa> {
  const ctx = await newCaContext({ seed });
  await initAuthority(ctx, { name: "console-test-ca" });
  const dir = join(ctx.root, "out");
  const issue = async (name: string, ous: string[] = []) =>
    (await issueCertificate(ctx, { kind: "api", name, organizationalUnits: ous }, { dir, force: true }))
      .certificatePem;
  const pems = { alice: await issue("alice", ["ops"]), carol: await issue("carol") };
  return {
    pems,
    async gate() {
      const state = await loadCertificateGateState(nodeFileSystem, ctx.caDir);
      return certificateGateOf(certificateGate(state!, fixedClock()));
    },
    async revoke(name) {
      await revokeCertificates(ctx, { target: name });
    },
  };
}

/** The connection of a browser presenting `pem`, verified by TLS. */
export function withCertificate(pem: string): HttpsConnection {
  return { ...CONNECTION, peerCertificatesPem: [pem], peerVerified: true };
}

export interface SignedIn {
  readonly cookie: string;
  readonly csrf: string;
  readonly body: Record<string, unknown>;
  readonly response: Response;
}

export interface ConsoleHarness {
  readonly app: ReturnType<typeof createConsoleApp>;
  readonly sessions: ConsoleSessions;
  readonly feed: DecisionFeed;
  readonly layout: StateLayout;
  readonly policy: Policy;
  readonly keys: Readonly<Record<"alice" | "bob", { readonly key: string; readonly id: string }>>;
  /** The state in force (swap it to simulate a reload). */
  state: LoadedState;
  /** The clock of the app and of the sessions (ms since the epoch). */
  nowMs: number;
  readonly calls: { changed: number; revokedSerials: string[] };
  request(path: string, init?: RequestInit, connection?: HttpsConnection): Promise<Response>;
  signIn(fields: Record<string, unknown>, connection?: HttpsConnection): Promise<SignedIn>;
  /** Swaps in the certificate gate as the CA's files say now. */
  reloadGates(): Promise<void>;
}

export interface HarnessOptions {
  readonly fleetMember?: boolean;
  readonly withoutCa?: boolean;
}

export async function consoleHarness(ca: ConsoleCa, options: HarnessOptions = {}): Promise<ConsoleHarness> {
  const root = await tempDir("agent-console-test-");
  const layout = stateLayout(root);
  const random = seededRandom(`console:${root}`);
  const policy = loadPolicy(POLICY, "policy.yaml");
  let keySet: ApiKeySet = emptyApiKeySet();
  const clockAt = () => new Date(harness.nowMs);
  const made: Record<string, { key: string; id: string }> = {};
  for (const user of ["alice", "bob"]) {
    const created = createApiKey(keySet, { user, name: "laptop" }, random, () => new Date(START));
    keySet = created.set;
    made[user] = { key: created.key, id: created.record.id };
  }
  await saveApiKeys(nodeFileSystem, layout, keySet);
  const gatesWith = (certificate: Gate): Gate[] => [policyGate(policy), certificate];
  const sessions = new ConsoleSessions({
    random,
    nowMs: () => harness.nowMs,
    // As serve-console.ts: the keys in force, active at the clock's time.
    keyActive: (id) => {
      const key = harness.state.apiKeys.keys.find((k) => k.id === id);
      return key !== undefined && apiKeyStatus(key, clockAt()) === "active";
    },
    certificateActive: (certificate) => {
      const gate = harness.state.gates.find(isCertificateGate);
      return gate !== undefined && gate.certificates.check(certificate, certificate.commonName).allow;
    },
  });
  const feed = new DecisionFeed();
  const calls = { changed: 0, revokedSerials: [] as string[] };
  const deps: ConsoleDeps = {
    sessions,
    feed,
    apiKeyAuthenticator: apiKeyAuthenticator({
      keys: () => harness.state.apiKeys,
      clock: clockAt,
      limiter: new FailedAttemptLimiter(clockAt),
      lastUsed: new LastUsedTimes(),
    }),
    certificateAuthenticator: certificateAuthenticator({ gates: () => harness.state.gates }),
    state: () => harness.state,
    report: () => ({
      policy: { digest: "policy-digest", loadedAt: "2026-06-01T09:00:00.000Z", error: null },
    }),
    fs: nodeFileSystem,
    layout,
    clock: clockAt,
    random,
    host: () => ({ name: "host-1", version: "9.9.9-test", fleet: null, nodes: [] }),
    fleetMember: options.fleetMember ?? false,
    ...(options.withoutCa === true ? {} : {
      ca: {
        list: () => Promise.resolve([{ serial: "0a", kind: "api", name: "alice", status: "valid" }]),
        revoke: (serial: string) => {
          calls.revokedSerials.push(serial);
          return Promise.resolve();
        },
      },
    }),
    macaroons: () =>
      Promise.resolve({
        keys: [{ id: "k1", status: "current", createdAt: "2026-01-01T00:00:00.000Z", retiredAt: null }],
        revocations: [],
      }),
    policyText: () => Promise.resolve(POLICY),
    // As serve's reload: the console wrote the key file, the keys in force follow it now.
    changed: async () => {
      calls.changed++;
      harness.state = { ...harness.state, apiKeys: await loadApiKeys(nodeFileSystem, layout) };
    },
  };
  const app = createConsoleApp(deps);
  const harness: ConsoleHarness = {
    app,
    sessions,
    feed,
    layout,
    policy,
    keys: { alice: made["alice"]!, bob: made["bob"]! },
    state: {
      gates: gatesWith(await ca.gate()),
      policyHash: policy.hash,
      policy,
      summary: "test state",
      apiKeys: keySet,
    },
    nowMs: START,
    calls,
    request: (path, init = {}, connection = CONNECTION) =>
      Promise.resolve(app.request(path, init, { connection })),
    async signIn(fields, connection = CONNECTION) {
      const response = await harness.request("/console/api/session", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(fields),
      }, connection);
      const body = (await response.clone().json()) as Record<string, unknown>;
      const setCookie = response.headers.get("set-cookie") ?? "";
      return { cookie: setCookie.split(";")[0]!, csrf: String(body["csrf"]), body, response };
    },
    async reloadGates() {
      harness.state = { ...harness.state, gates: gatesWith(await ca.gate()) };
    },
  };
  return harness;
}

/** An audit event as the plugin or the API writes it (only what the tests vary is given). */
export function auditEvent(n: number, user: string | null, extra: Partial<AuditEvent> = {}): AuditEvent {
  return sampleAuditEvent({
    time: new Date(START + n * 1000).toISOString(),
    decisionId: n.toString(16).padStart(12, "0"),
    user,
    authMethod: user === null ? null : "TLS",
    ruleId: "ops-all",
    policyHash: "policy-hash",
    durationMs: 1,
    ...extra,
  });
}
