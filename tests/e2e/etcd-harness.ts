/**
 * A real etcd cluster for end-to-end tests: N members of Debian's /usr/bin/etcd on loopback, each in its own
 * temp data dir, client TLS with certificates from the agent's own CA (issued by the agent CLI, as an
 * operator would), --client-cert-auth so the certificate's CN is the etcd user. Peers talk plain http on
 * loopback. Needs no dockerd. Every process started is stopped by pid, every directory made is removed.
 */
import { readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import type { EtcdClient, EtcdConnectOptions } from "../../src/fleet/etcd.ts";
import { compactEtcd, connectEtcd } from "../../src/runtime/etcd-grpc.ts";
import { agentCli, spawnLogged, tempDir } from "./harness.ts";

export const ETCD = "/usr/bin/etcd";

/** Why the etcd tests cannot run here, or undefined when they can (CI must have etcd: see skipOrFail). */
export function etcdUnavailable(): string | undefined {
  if (!Bun.which("etcd") && !Bun.which(ETCD)) return "etcd is not installed (apt-get install etcd-server)";
  return undefined;
}

/** Prints a banner when etcd is missing; under CI=true a missing etcd is a failure, not a skip. */
export function etcdSkipBanner(file: string, why: string): void {
  if (process.env.CI === "true") {
    throw new Error(`${file}: CI must run the etcd end-to-end tests, but ${why}`);
  }
  console.log(`\n###### SKIP ${file}: needs etcd (${why}) ######\n`);
}

export interface ClientCert {
  readonly name: string;
  readonly certPem: string;
  readonly keyPem: string;
  readonly certFile: string;
  readonly keyFile: string;
}

export interface EtcdMember {
  readonly name: string;
  readonly endpoint: string;
  /** The running process's pid (a restart changes it). */
  readonly pid: number;
  readonly running: boolean;
  /** SIGKILL, and waits until it is gone. */
  kill(): Promise<void>;
  /** SIGSTOP: the process hangs with its sockets open (a frozen member). */
  stop(): void;
  /** SIGCONT after stop(). */
  cont(): void;
  /** Starts the same member again (same data dir and ports) and waits until it serves linearizable reads. */
  start(): Promise<void>;
  log(): string;
}

export interface EtcdCluster {
  readonly endpoints: readonly string[];
  readonly caPem: string;
  readonly caFile: string;
  /** The agent state directory whose CA signed the members (an operator's host can be started on it). */
  readonly caStateDir: string;
  /** A client certificate (CN = name, clientAuth) from the agent's CA; issued on first use. */
  clientCert(name: string): Promise<ClientCert>;
  /** Connect options for `name`'s certificate (default: every member's endpoint). */
  options(name: string, endpoints?: readonly string[]): Promise<EtcdConnectOptions>;
  /** A client with `name`'s certificate; closed by stop(). */
  client(name: string, endpoints?: readonly string[]): Promise<EtcdClient>;
  member(i: number): EtcdMember;
  /** The index of the member that leads now (from the members' logs), or undefined while there is none. */
  leader(): number | undefined;
  /** Compacts the store up to `revision` (as root). */
  compact(revision: number): Promise<void>;
  /** Kills every member by pid, closes clients, removes the temp dirs. */
  stop(): Promise<void>;
}

/**
 * `agent fleet init` as the operator on the CA's host runs it against this cluster (root's certificate, the
 * demo policy, etcd's auth on); the caller adds `--state-dir cluster.caStateDir` and runs it its own way.
 */
export async function fleetInitArgs(cluster: EtcdCluster, name: string): Promise<string[]> {
  const root = await cluster.clientCert("root");
  return [
    "fleet",
    "init",
    "--endpoints",
    cluster.endpoints.join(","),
    "--cert",
    root.certFile,
    "--key",
    root.keyFile,
    "--ca",
    cluster.caFile,
    "--demo",
    "--setup-auth",
    "--name",
    name,
  ];
}

export interface EtcdClusterOptions {
  readonly members?: number;
}

/** A free loopback port (bound, read, released: a race with other processes is possible but rare here). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function cli(args: string[]): Promise<void> {
  const r = await agentCli(args);
  if (r.code !== 0) throw new Error(`agent ${args.slice(0, 2).join(" ")} failed: ${r.stderr}`);
}

export async function startEtcdCluster(options: EtcdClusterOptions = {}): Promise<EtcdCluster> {
  const count = options.members ?? 3;
  const dir = tempDir("etcd");
  const stateDir = join(dir, "state");
  const certDir = join(dir, "certs");
  const caFile = join(stateDir, "ca", "cluster.crt");
  await cli(["ca", "init", "--state-dir", stateDir, "--name", "etcd-e2e-ca"]);
  const caPem = readFileSync(caFile, "utf8");

  const issued = new Map<string, Promise<ClientCert>>();
  const clientCert = (name: string): Promise<ClientCert> => {
    let cert = issued.get(name);
    if (!cert) {
      const certFile = join(certDir, `${name}.crt`);
      const keyFile = join(certDir, `${name}.key`);
      cert = cli(["ca", "create-api-certificate", name, "--state-dir", stateDir, "--out", certDir])
        .then(() => ({
          name,
          certFile,
          keyFile,
          certPem: readFileSync(certFile, "utf8"),
          keyPem: readFileSync(keyFile, "utf8"),
        }));
      issued.set(name, cert);
    }
    return cert;
  };

  const names = Array.from({ length: count }, (_, i) => `etcd${i + 1}`);
  const ports = await Promise.all(
    names.map(async () => ({ client: await freePort(), peer: await freePort() })),
  );
  // Sequential: the CA's index is one file.
  for (const name of names) {
    await cli([
      "ca",
      "create-node-certificate",
      name,
      "--san",
      "localhost",
      "--san",
      "127.0.0.1",
      "--state-dir",
      stateDir,
      "--out",
      certDir,
    ]);
  }
  const initialCluster = names.map((name, i) => `${name}=http://127.0.0.1:${ports[i]?.peer}`).join(",");
  const token = `e2e-${process.pid}-${Bun.randomUUIDv7()}`;
  const root = await clientCert("root");
  const clients: EtcdClient[] = [];

  const members: Member[] = names.map((name, i) => {
    const port = ports[i] as { client: number; peer: number };
    const endpoint = `https://localhost:${port.client}`;
    const args = [
      ETCD,
      "--name",
      name,
      "--data-dir",
      join(dir, `${name}.data`),
      "--listen-client-urls",
      `https://127.0.0.1:${port.client}`,
      "--advertise-client-urls",
      endpoint,
      "--listen-peer-urls",
      `http://127.0.0.1:${port.peer}`,
      "--initial-advertise-peer-urls",
      `http://127.0.0.1:${port.peer}`,
      "--initial-cluster",
      initialCluster,
      "--initial-cluster-token",
      token,
      "--initial-cluster-state",
      "new",
      "--cert-file",
      join(certDir, `${name}.crt`),
      "--key-file",
      join(certDir, `${name}.key`),
      "--client-cert-auth",
      "--trusted-ca-file",
      caFile,
      "--logger",
      "zap",
      "--log-outputs",
      "stderr",
    ];
    return new Member(name, endpoint, args, join(dir, `${name}.log`), {
      endpoints: [endpoint],
      caPem,
      certPem: root.certPem,
      keyPem: root.keyPem,
      callTimeoutMs: 1_000,
    });
  });

  const stop = async () => {
    for (const client of clients) client.close();
    await Promise.all(members.map((m) => m.kill()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const member of members) member.spawn();
    await Promise.all(members.map((m) => m.ready()));
  } catch (error) {
    const logs = members.map((m) => `--- ${m.name}\n${m.log().slice(-2000)}`).join("\n");
    await stop();
    throw new Error(`${(error as Error).message}\n${logs}`);
  }

  const endpoints = members.map((m) => m.endpoint);
  const optionsFor = async (name: string, only?: readonly string[]): Promise<EtcdConnectOptions> => {
    const cert = await clientCert(name);
    return { endpoints: only ?? endpoints, caPem, certPem: cert.certPem, keyPem: cert.keyPem };
  };
  return {
    endpoints,
    caPem,
    caFile,
    caStateDir: stateDir,
    clientCert,
    options: optionsFor,
    async client(name, only) {
      const client = connectEtcd(await optionsFor(name, only));
      clients.push(client);
      return client;
    },
    member(i) {
      const member = members[i];
      if (!member) throw new Error(`no member ${i}`);
      return member;
    },
    leader() {
      // The leader logs "became leader at term N"; the highest term among running members is the current one.
      let best: { i: number; term: number } | undefined;
      members.forEach((m, i) => {
        if (!m.running) return;
        for (const match of m.log().matchAll(/became leader at term (\d+)/g)) {
          const term = Number(match[1]);
          if (!best || term > best.term) best = { i, term };
        }
      });
      return best?.i;
    },
    async compact(revision) {
      await compactEtcd(await optionsFor("root"), revision);
    },
    stop,
  };
}

class Member implements EtcdMember {
  readonly name: string;
  readonly endpoint: string;
  readonly #args: string[];
  readonly #logFile: string;
  readonly #probe: EtcdConnectOptions;
  #proc: ReturnType<typeof Bun.spawn> | undefined;
  #starts = 0;

  constructor(name: string, endpoint: string, args: string[], logFile: string, probe: EtcdConnectOptions) {
    this.name = name;
    this.endpoint = endpoint;
    this.#args = args;
    this.#logFile = logFile;
    this.#probe = probe;
  }

  get pid(): number {
    return this.#proc?.pid ?? 0;
  }

  get running(): boolean {
    return this.#proc !== undefined && this.#proc.exitCode === null && this.#proc.signalCode === null;
  }

  /** The log of the current (last) start. */
  log(): string {
    try {
      return readFileSync(`${this.#logFile}.${this.#starts}`, "utf8");
    } catch {
      return "";
    }
  }

  spawn(): void {
    this.#starts++;
    const logFile = `${this.#logFile}.${this.#starts}`;
    this.#proc = spawnLogged(this.#args, logFile, { stdin: "ignore" });
  }

  /** Linearizable reads work on this member: it is in the cluster, with a leader, caught up. */
  async ready(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const client = connectEtcd(this.#probe);
    try {
      while (Date.now() < deadline) {
        if (!this.running) throw new Error(`etcd member ${this.name} exited`);
        const ok = await client.get("e2e-probe").then(() => true, () => false);
        if (ok) return;
        await Bun.sleep(100);
      }
      throw new Error(`etcd member ${this.name} did not become ready in ${timeoutMs} ms`);
    } finally {
      client.close();
    }
  }

  async kill(): Promise<void> {
    const proc = this.#proc;
    if (!proc || !this.running) return;
    // SIGKILL ends a stopped process too. No SIGCONT first: a frozen member given a moment to run would
    // send what it had queued (watch events among them) before it dies.
    proc.kill("SIGKILL");
    await proc.exited;
  }

  stop(): void {
    if (this.#proc && this.running) process.kill(this.#proc.pid, "SIGSTOP");
  }

  cont(): void {
    if (this.#proc && this.running) process.kill(this.#proc.pid, "SIGCONT");
  }

  async start(): Promise<void> {
    if (this.running) throw new Error(`etcd member ${this.name} is running`);
    this.spawn();
    await this.ready();
  }
}

export interface FleetAuthOptions {
  /** The fleet's key prefix: hosts read all of it and write only under PREFIX + "revoked/". */
  readonly prefix: string;
  /** Host users (certificate CNs) given the host role. */
  readonly hosts: readonly string[];
  readonly hostRole?: string;
}

/**
 * Turns auth on the way an operator would, through the client's auth API as root (CN root, no password):
 * the root user with the root role, a host role (read on the prefix, readwrite on its revoked/), the hosts.
 * Idempotent: what exists already is left as it is.
 */
export async function enableFleetAuth(root: EtcdClient, options: FleetAuthOptions): Promise<void> {
  const hostRole = options.hostRole ?? "fleet-host";
  const users = new Set(await root.auth.users());
  const roles = new Set(await root.auth.roles());
  if (!users.has("root")) {
    await root.auth.addUser("root");
    // etcd's root role needs no RoleAdd: granting it creates the binding AuthEnable checks for.
    await root.auth.grantRole("root", "root");
  }
  if (!roles.has(hostRole)) {
    await root.auth.addRole(hostRole);
    await root.auth.grantPermission(hostRole, { key: options.prefix, prefix: true, type: "read" });
    await root.auth.grantPermission(hostRole, {
      key: `${options.prefix}revoked/`,
      prefix: true,
      type: "readwrite",
    });
  }
  for (const host of options.hosts) {
    if (users.has(host)) continue;
    await root.auth.addUser(host);
    await root.auth.grantRole(host, hostRole);
  }
  await root.auth.enable();
}
