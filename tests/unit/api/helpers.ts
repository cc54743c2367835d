/**
 * Fixtures for the HTTPS API tests: a real CA in a temp state directory (alice with OU ops, bob revoked,
 * carol with no rule), another CA, the gates a serve would build, and the API app with a fake dockerd.
 */
import "reflect-metadata";
import { join } from "node:path";
import { createApiApp } from "../../../src/api/index.ts";
import type { AuditEvent } from "../../../src/audit/event.ts";
import {
  certificateGate,
  initAuthority,
  issueCertificate,
  loadCertificateGateState,
  revokeCertificates,
} from "../../../src/ca/index.ts";
import { certificateAuthenticator, roleAuthenticator, type RoleCredentials } from "../../../src/api/index.ts";
import { FailedAttemptLimiter } from "../../../src/apikey/index.ts";
import { ActionLog } from "../../../src/api/action.ts";
import type { StreamDeps } from "../../../src/api/events.ts";
import { certificateGateOf } from "../../../src/decide/certificate-gate.ts";
import { DecisionProofs } from "../../../src/decide/decision-proof.ts";
import type { Gate } from "../../../src/decide/gate.ts";
import { policyGate } from "../../../src/decide/policy-gate.ts";
import { loadPolicy, type Policy } from "../../../src/policy/index.ts";
import { memoryServiceStore, type ServiceStore } from "../../../src/api/index.ts";
import { FakeDocker } from "./fake-docker.ts";
import type { HttpsConnection } from "../../../src/ports.ts";
import { nodeFileSystem } from "../../../src/runtime/node-file-system.ts";
import { fixedClock, newCaContext } from "../ca/helpers.ts";
import { seededRandom } from "../../helpers/fixtures.ts";

export const POLICY = `version: 1
groups:
  readers: [dave]
rules:
  - id: ops-info
    who: ["ou:ops", "group:readers"]
    allow: ["system:info"]
  - id: bob-info
    who: [bob]
    allow: ["system:info"]
`;

/** dockerd's GET /info on a 20.10 engine (trimmed). */
export const INFO = {
  ID: "TJSZ:O44Y:PWGZ:ZWZM:SA73:2UHI:VVKV:KLAH:5NPO:AXQZ:XWZD:6IRJ",
  Name: "host-1",
  ServerVersion: "20.10.24+dfsg1",
  Driver: "vfs",
  NCPU: 4,
  MemTotal: 8 * 1024 * 1024 * 1024,
  Containers: 5,
  ContainersRunning: 2,
  ContainersPaused: 1,
  ContainersStopped: 2,
};

export interface CaFixture {
  readonly pems: Readonly<Record<"alice" | "bob" | "carol" | "dave", string>>;
  /** A certificate from another CA, for a user called alice too. */
  readonly foreignAlice: string;
  readonly caPem: string;
  readonly gates: (policyText?: string) => Gate[];
}

export async function caFixture(): Promise<CaFixture> {
  const ctx = await newCaContext({ seed: "api-ca" });
  await initAuthority(ctx, { name: "api-test-ca" });
  const dir = join(ctx.root, "out");
  const issue = async (name: string, ous: string[] = []) =>
    (await issueCertificate(ctx, { kind: "api", name, organizationalUnits: ous }, { dir, force: true }))
      .certificatePem;
  const pems = {
    alice: await issue("alice", ["ops"]),
    bob: await issue("bob"),
    carol: await issue("carol"),
    dave: await issue("dave"),
  };
  await revokeCertificates(ctx, { target: "bob" });
  const other = await newCaContext({ seed: "api-other-ca" });
  await initAuthority(other, { name: "someone-else" });
  const foreignAlice =
    (await issueCertificate(other, { kind: "api", name: "alice", organizationalUnits: ["ops"] }, {
      dir: join(other.root, "out"),
    })).certificatePem;
  const caState = await loadCertificateGateState(nodeFileSystem, ctx.caDir);
  const caPem = await nodeFileSystem.readText(join(ctx.caDir, "cluster.crt"));
  return {
    pems,
    foreignAlice,
    caPem,
    gates: (policyText = POLICY) => [
      policyGate(loadPolicy(policyText, "policy.yaml")),
      certificateGateOf(certificateGate(caState!, fixedClock())),
    ],
  };
}

export interface DockerCall {
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
}

export interface ApiHarness {
  readonly events: AuditEvent[];
  readonly dockerCalls: DockerCall[];
  readonly proofs: DecisionProofs;
  readonly docker: FakeDocker;
  readonly services: ServiceStore;
  /** The app's action records. */
  readonly actions: ActionLog;
  /** What the fake dockerd answers to /info: the document, or an error to throw. */
  info: unknown;
  request(path: string, init?: RequestInit, connection?: Partial<HttpsConnection>): Promise<Response>;
}

export interface ApiHarnessOptions {
  /** The policy in force (its groups are namespaces); the gates decide either way. */
  readonly policy?: Policy;
  readonly services?: ServiceStore;
  /** API roles' credentials: with them, the role authenticator is tried after the certificate one. */
  readonly roles?: RoleCredentials;
  /** The Stream API's event log (events.ts). */
  readonly stream?: StreamDeps;
}

export function apiHarness(gates: readonly Gate[], options: ApiHarnessOptions = {}): ApiHarness {
  const events: AuditEvent[] = [];
  const dockerCalls: DockerCall[] = [];
  const docker = new FakeDocker(INFO);
  let uuids = 0;
  let n = 0;
  let now = 0;
  const proofs = new DecisionProofs({ random: seededRandom("api-proofs"), nowMs: () => now });
  const harness: ApiHarness = {
    events,
    dockerCalls,
    proofs,
    docker,
    services: options.services ?? memoryServiceStore(),
    actions: new ActionLog(),
    get info() {
      return docker.info;
    },
    set info(value: unknown) {
      docker.info = value;
    },
    request: (path, init = {}, connection = {}) =>
      Promise.resolve(app.request(path, init, {
        connection: {
          address: "192.0.2.10",
          peerCertificatesPem: [],
          peerVerified: false,
          ...connection,
        },
      })),
  };
  const app = createApiApp({
    state: () => ({
      gates,
      policyHash: "policy-hash",
      ...(options.policy === undefined ? {} : { policy: options.policy }),
    }),
    authenticators: [
      certificateAuthenticator({ gates: () => gates }),
      ...(options.roles === undefined ? [] : [
        roleAuthenticator({
          services: harness.services,
          roles: options.roles,
          limiter: new FailedAttemptLimiter(() => new Date(now)),
        }),
      ]),
    ],
    ...(options.roles === undefined ? {} : { roles: options.roles }),
    ...(options.stream === undefined ? {} : { stream: options.stream }),
    audit: (event) => events.push(event),
    clock: fixedClock(new Date("2026-06-01T10:00:00Z")),
    monotonicMs: () => (now += 1),
    newDecisionId: () => (++n).toString(16).padStart(12, "0"),
    docker: {
      getJson(path, headers = {}) {
        dockerCalls.push({ path, headers: { ...headers } });
        return docker.getJson(path, headers);
      },
      send(method, path, sendOptions = {}) {
        dockerCalls.push({ path, headers: { ...sendOptions.headers } });
        return docker.send(method, path, sendOptions);
      },
    },
    services: harness.services,
    actions: harness.actions,
    newUuid: () => `0000000${++uuids}-0000-4000-8000-000000000000`.slice(-36),
    proofs,
  });
  return harness;
}

/** The connection of a client presenting `pem`, verified by TLS against the agent's CA unless told otherwise. */
export function withCertificate(pem: string, verified = true): Partial<HttpsConnection> {
  return { peerCertificatesPem: [pem], peerVerified: verified };
}
