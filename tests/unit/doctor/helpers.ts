/** A host in a temp dir that the doctor finds healthy, and a fake running agent answering on its socket. */
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { initAuthority, issueCertificate } from "../../../src/ca/index.ts";
import { DEFAULT_POLICY } from "../../../src/install/index.ts";
import { initKeyring, saveKeyring } from "../../../src/macaroon/index.ts";
import type { Platform } from "../../../src/ports.ts";
import { nodeFileSystem } from "../../../src/runtime/node-file-system.ts";
import { stateLayout } from "../../../src/store/layout.ts";
import { refusingPlatform } from "../../helpers/refusing-platform.ts";
import { agent, type CliRun, fixedClock, NOW, snapshot, tempRoot } from "../install/helpers.ts";

export { NOW, snapshot };

export interface TestHost {
  readonly root: string;
  readonly stateDir: string;
  readonly policy: string;
  readonly socket: string;
  readonly dockerConfig: string;
  /** The running dockerd's socket (the fake platform answers GET /info on it). */
  readonly dockerSocket: string;
  readonly specDir: string;
  readonly policyHash: string;
  path(p: string): string;
}

export interface HostOptions {
  readonly ca?: boolean;
  readonly macaroons?: boolean;
}

let seed = 0;
const random = (n: number) => {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + ++seed) & 0xff;
  return out;
};

export async function healthyHost(options: HostOptions = {}): Promise<TestHost> {
  const root = await tempRoot("agent-doctor-test-");
  const path = (p: string) => join(root, p);
  const stateDir = path("var/lib/agent");
  await mkdir(stateDir, { recursive: true });
  await chmod(stateDir, 0o700);
  await mkdir(path("etc/agent"), { recursive: true });
  await writeFile(path("etc/agent/policy.yaml"), DEFAULT_POLICY, { mode: 0o644 });
  await mkdir(path("run"), { recursive: true });
  const socket = path("run/agent.sock");
  await writeFile(socket, ""); // the fake platform answers; the doctor only needs it to exist
  const dockerSocket = path("run/docker.sock");
  await writeFile(dockerSocket, "");
  const specDir = path("etc/docker/plugins");
  await mkdir(specDir, { recursive: true });
  await writeFile(join(specDir, "agent.spec"), `unix://${socket}\n`);
  await writeFile(path("etc/docker/daemon.json"), '{"authorization-plugins": ["agent"]}\n');
  const layout = stateLayout(stateDir);
  if (options.ca !== false) {
    const ctx = { fs: nodeFileSystem, clock: fixedClock(), random, caDir: layout.caDir };
    await initAuthority(ctx, { name: "doctor-ca", days: 3650 });
    await issueCertificate(ctx, { kind: "server", name: "docker1", days: 365 }, { dir: path("out") });
  }
  if (options.macaroons) {
    await saveKeyring(nodeFileSystem, layout, await initKeyring(undefined, random, fixedClock()), "create");
  }
  return {
    root,
    stateDir,
    policy: path("etc/agent/policy.yaml"),
    socket,
    dockerConfig: path("etc/docker/daemon.json"),
    dockerSocket,
    specDir,
    policyHash: bytesToHex(sha256(new TextEncoder().encode(DEFAULT_POLICY))),
    path,
  };
}

/** What `GET /` on the agent's socket answers; a function that throws plays a dead socket. */
export type Answer = () => unknown;

export function runningAgent(host: TestHost, gates: string[] = ["policy", "certificate"]): Answer {
  return () => ({ name: "agent", version: "1.2.3", policyHash: host.policyHash, gates, uptimeSeconds: 5 });
}

/** What the running dockerd answers to GET /info: a Response as is, anything else as JSON with status 200. */
export type DaemonAnswer = () => unknown;

/** A dockerd whose authorization chain is `plugins` (`null` is how dockerd says "none"). */
export function runningDockerd(plugins: string[] | null = ["agent"]): DaemonAnswer {
  return () => ({ ID: "x", Plugins: { Volume: ["local"], Authorization: plugins } });
}

/** dockerd's error answer, e.g. a plugin's refusal: {"message": ...} with `status`. */
export function dockerdError(status: number, message: string): DaemonAnswer {
  return () => Response.json({ message }, { status });
}

export function fakePlatform(
  answer: Answer,
  calls: string[] = [],
  daemon: { readonly socket?: string; readonly answer: DaemonAnswer } = { answer: runningDockerd() },
): Platform {
  // The refusing platform's harmless answers would hide a doctor that did more than fetch: these throw too.
  const unused = () => {
    throw new Error("doctor must only fetch");
  };
  return {
    ...refusingPlatform("doctor, which must only fetch"),
    hostNames: unused,
    onSignal: unused,
    watchFile: unused,
    sleep: unused,
    unixFetch(socket, path) {
      calls.push(`${socket} ${path}`);
      const docker = path === "/info" && (daemon.socket === undefined || socket === daemon.socket);
      return Promise.resolve().then(() => {
        const value = docker ? daemon.answer() : answer();
        return value instanceof Response ? value : Response.json(value);
      });
    },
  };
}

export interface DoctorRun extends CliRun {
  readonly findings: { check: string; status: string; message: string }[];
  readonly status: string;
}

export async function doctor(
  host: TestHost,
  answer: Answer,
  options: { at?: Date; args?: string[]; daemon?: DaemonAnswer } = {},
): Promise<DoctorRun> {
  const r = await agent(
    [
      "doctor",
      "--json",
      "--state-dir",
      host.stateDir,
      "--policy",
      host.policy,
      "--socket",
      host.socket,
      "--docker-config",
      host.dockerConfig,
      "--docker-socket",
      host.dockerSocket,
      ...(options.args ?? []),
    ],
    {
      platform: fakePlatform(answer, [], {
        socket: host.dockerSocket,
        answer: options.daemon ?? runningDockerd(),
      }),
      clock: fixedClock(options.at ?? NOW),
    },
  );
  const parsed = JSON.parse(r.out) as { status: string; findings: DoctorRun["findings"] };
  return { ...r, ...parsed };
}

/** The finding of one check (its first, when a check reports several). */
export function finding(run: DoctorRun, check: string) {
  const found = run.findings.find((f) => f.check === check);
  if (!found) throw new Error(`no finding for ${check}: ${JSON.stringify(run.findings)}`);
  return found;
}

export const days = (n: number) => new Date(NOW.getTime() + n * 86_400_000);
