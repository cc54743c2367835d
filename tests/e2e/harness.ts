/**
 * End-to-end harness: a private dockerd (flags from shared/design/docker-authz.md) whose authorization
 * plugin is the agent, driven with the real docker CLI. Everything started is stopped by pid, and every
 * spec file, socket, mount and directory made is removed.
 */
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";

export const ROOT = join(import.meta.dir, "..", "..");
const BUN = join(ROOT, "node_modules", ".bin", "bun");
const MAIN = join(ROOT, "src", "main.ts");

/** Why e2e cannot run here, or undefined when it can. */
export function e2eUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "not root";
  for (const bin of ["dockerd", "docker", "busybox", "openssl"]) {
    if (!Bun.which(bin)) return `${bin} is not installed`;
  }
  return undefined;
}

export function skipBanner(file: string, why: string): void {
  console.log(
    `\n###### SKIP ${file}: e2e needs root, dockerd, docker, busybox and openssl (${why}) ######\n`,
  );
}

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export async function run(
  cmd: string[],
  options: { env?: Record<string, string>; stdin?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  const proc = Bun.spawn(cmd, {
    env: { ...process.env, ...options.env },
    stdin: options.stdin === undefined ? "ignore" : new Blob([options.stdin]),
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), options.timeoutMs ?? 60_000);
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** A fresh /tmp/agent-e2e-PREFIX-XXXXXX (no shared parent is left behind); the test removes it. */
export function tempDir(prefix: string): string {
  return mkdtempSync(join("/tmp", `agent-e2e-${prefix}-`));
}

/**
 * Spawns `command` with its stdout and stderr both appended to `logFile`, through one descriptor.
 * `Bun.file(path)` as stdio opens the file once per stream, at offset 0 and without O_APPEND (probed): the
 * two streams write over each other, and a process restarted on the same file writes over its predecessor's
 * lines, where a test reading the log past the length it had seen would not find its own.
 */
export function spawnLogged(
  command: readonly string[],
  logFile: string,
  options: { readonly env?: Record<string, string | undefined>; readonly stdin?: "ignore" } = {},
): Bun.Subprocess {
  const fd = openSync(logFile, "a");
  try {
    return Bun.spawn([...command], { ...options, stdout: fd, stderr: fd });
  } finally {
    closeSync(fd); // the child has its own copy
  }
}

/** Polls `probe` until it returns true (errors count as false); throws after `timeoutMs`. */
export async function waitFor(
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    // A probe that throws (even synchronously: a file not written yet) has just not seen it yet.
    if (await Promise.resolve().then(probe).catch(() => false)) return;
    await Bun.sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

// ---------------------------------------------------------------- the agent

export interface AgentProcess {
  readonly socket: string;
  readonly stateDir: string;
  readonly pid: number;
  log(): string;
  stop(signal?: "SIGTERM" | "SIGKILL"): Promise<number>;
}

export interface AgentOptions {
  readonly stateDir: string;
  readonly socket: string;
  readonly policyFile?: string;
  readonly args?: string[];
  readonly env?: Record<string, string>;
  /** The program (and its leading arguments) that runs the agent; default `bun src/main.ts`. */
  readonly command?: readonly string[];
}

/** `args` with `--state-dir dir` added before any `--` (after it, words are operands: a nonce, a command). */
export function inStateDir(args: readonly string[], dir: string): string[] {
  const end = args.indexOf("--");
  return end < 0
    ? [...args, "--state-dir", dir]
    : [...args.slice(0, end), "--state-dir", dir, ...args.slice(end)];
}

/** Runs `agent <args>` from source and returns its result (for CLI commands). */
export function agentCli(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return run([BUN, MAIN, ...args], { env });
}

export async function startAgent(options: AgentOptions): Promise<AgentProcess> {
  const logFile = join(options.stateDir, "serve.log");
  mkdirSync(options.stateDir, { recursive: true });
  const args = [
    "serve",
    "--state-dir",
    options.stateDir,
    "--socket",
    options.socket,
    ...(options.args ?? []),
  ];
  if (options.policyFile) args.push("--policy", options.policyFile);
  const proc = spawnLogged([...(options.command ?? [BUN, MAIN]), ...args], logFile, {
    env: { ...process.env, ...options.env },
  });
  const log = () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : "");
  await waitFor("the agent's socket", async () => {
    if (proc.exitCode !== null) throw new Error(`agent exited ${proc.exitCode}: ${log()}`);
    const res = await fetch("http://plugin/", { unix: options.socket } as RequestInit);
    return res.ok;
  }, 20_000).catch((err) => {
    proc.kill("SIGKILL");
    throw new Error(`${(err as Error).message}\n${log()}`);
  });
  return {
    socket: options.socket,
    stateDir: options.stateDir,
    pid: proc.pid,
    log,
    async stop(signal = "SIGTERM") {
      proc.kill(signal);
      return await proc.exited;
    },
  };
}

/** POSTs a raw plugin call to the agent's socket (what dockerd would send). */
export async function pluginCall(
  socket: string,
  endpoint: string,
  body: string,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`http://plugin${endpoint}`, { method: "POST", body, unix: socket } as RequestInit);
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

// ---------------------------------------------------------------- plugin registration

/** Writes /etc/docker/plugins/NAME.spec pointing at the socket; returns a function that removes it. */
export function registerPlugin(name: string, socket: string): () => void {
  mkdirSync("/etc/docker/plugins", { recursive: true });
  const spec = `/etc/docker/plugins/${name}.spec`;
  writeFileSync(spec, `unix://${socket}\n`);
  return () => rmSync(spec, { force: true });
}

// ---------------------------------------------------------------- TLS material (openssl)

export interface TlsFiles {
  readonly dir: string;
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  /** DOCKER_CERT_PATH-style directories (ca.pem, cert.pem, key.pem) per user. */
  certPath(user: string): string;
}

/** A CA, a server certificate for localhost/127.0.0.1, and client certificates, made with openssl. */
export async function opensslTls(dir: string, users: string[]): Promise<TlsFiles> {
  mkdirSync(dir, { recursive: true });
  const sh = async (script: string) => {
    const r = await run(["bash", "-euo", "pipefail", "-c", script], { env: { D: dir } });
    if (r.code !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  };
  await sh(`cd "$D"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 2 -subj "/CN=e2e-ca" \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr -subj "/CN=localhost" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile server.ext 2>/dev/null`);
  for (const user of users) {
    await sh(`cd "$D"; mkdir -p ${user}
      openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ${user}/key.pem -out ${user}.csr -subj "/O=e2e/CN=${user}" 2>/dev/null
      printf 'extendedKeyUsage=clientAuth\\n' > client.ext
      openssl x509 -req -in ${user}.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out ${user}/cert.pem -days 2 -extfile client.ext 2>/dev/null
      cp ca.pem ${user}/ca.pem`);
  }
  return {
    dir,
    ca: join(dir, "ca.pem"),
    serverCert: join(dir, "server.pem"),
    serverKey: join(dir, "server.key"),
    certPath: (user) => join(dir, user),
  };
}

// ---------------------------------------------------------------- dockerd

export interface Dockerd {
  readonly dir: string;
  readonly socket: string;
  readonly tcpPort: number | undefined;
  readonly pid: number;
  /** The docker CLI over the unix socket (anonymous: dockerd reports no user). */
  docker(args: string[], options?: { env?: Record<string, string>; stdin?: string }): Promise<RunResult>;
  /** The docker CLI over TLS as the user whose DOCKER_CERT_PATH directory is given. */
  dockerTls(certPath: string, args: string[], options?: { env?: Record<string, string> }): Promise<RunResult>;
  log(): string;
  /** Stops dockerd (SIGTERM) and starts it again on the same directories and daemon.json; `pid` changes. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface DockerdOptions {
  readonly dir: string;
  readonly authorizationPlugins: string[];
  readonly tls?: { readonly ca: string; readonly cert: string; readonly key: string };
  /**
   * The plugins go in daemon.json instead of flags, so a test can change dockerd's chain live (write
   * daemon.json, SIGHUP): dockerd refuses a reload that names them in both places.
   */
  readonly pluginsInConfig?: boolean;
}

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export function freePort(): number {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = server.port;
  server.stop(true);
  return port;
}

export async function startDockerd(options: DockerdOptions): Promise<Dockerd> {
  const d = options.dir;
  const socket = join(d, "docker.sock");
  const logFile = join(d, "dockerd.log");
  const args = [
    "dockerd",
    "--host",
    `unix://${socket}`,
    "--data-root",
    join(d, "data"),
    "--exec-root",
    join(d, "exec"),
    "--pidfile",
    join(d, "docker.pid"),
    "--iptables=false",
    "--ip6tables=false",
    "--bridge=none",
    "--storage-driver=vfs",
    "--config-file",
    join(d, "daemon.json"),
  ];
  mkdirSync(d, { recursive: true });
  if (options.pluginsInConfig === true) {
    writeFileSync(
      join(d, "daemon.json"),
      JSON.stringify({ "authorization-plugins": options.authorizationPlugins }),
    );
  } else {
    writeFileSync(join(d, "daemon.json"), "{}\n");
    for (const plugin of options.authorizationPlugins) args.push(`--authorization-plugin=${plugin}`);
  }
  let tcpPort: number | undefined;
  if (options.tls) {
    tcpPort = freePort();
    args.push(
      "--tlsverify",
      "--tlscacert",
      options.tls.ca,
      "--tlscert",
      options.tls.cert,
      "--tlskey",
      options.tls.key,
    );
    args.push("--host", `tcp://127.0.0.1:${tcpPort}`);
  }
  let proc: Bun.Subprocess = spawnLogged(args, logFile, { env: { ...process.env } });
  const log = () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : "");
  const config = join(d, "docker-config");
  mkdirSync(config, { recursive: true });
  const docker = (args: string[], opts: { env?: Record<string, string>; stdin?: string } = {}) =>
    run(["docker", "-H", `unix://${socket}`, ...args], {
      env: { DOCKER_CONFIG: config, ...opts.env },
      stdin: opts.stdin,
    });
  const dockerTls = (certPath: string, args: string[], opts: { env?: Record<string, string> } = {}) =>
    run(["docker", "-H", `tcp://127.0.0.1:${tcpPort}`, "--tlsverify", ...args], {
      env: { DOCKER_CONFIG: config, DOCKER_CERT_PATH: certPath, ...opts.env },
    });
  const ready = () =>
    waitFor("dockerd", async () => {
      if (proc.exitCode !== null) throw new Error(`dockerd exited ${proc.exitCode}`);
      const res = await fetch("http://docker/_ping", { unix: socket } as RequestInit);
      return res.status === 200;
    }, 60_000);
  const terminate = async () => {
    proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), 20_000);
    await proc.exited;
    clearTimeout(timer);
  };
  try {
    await ready();
  } catch (err) {
    proc.kill("SIGKILL");
    await proc.exited;
    // The log is read before the directory holding it goes.
    const tail = log().slice(-3000);
    cleanupDockerdDir(d);
    throw new Error(`${(err as Error).message}\n${tail}`);
  }
  return {
    dir: d,
    socket,
    tcpPort,
    get pid() {
      return proc.pid;
    },
    docker,
    dockerTls,
    log,
    async restart() {
      await terminate();
      proc = spawnLogged(args, logFile, { env: { ...process.env } }); // after the first run's log
      await ready().catch((err) => {
        throw new Error(`${(err as Error).message}\n${log().slice(-3000)}`);
      });
    },
    async stop() {
      await terminate();
      cleanupDockerdDir(d);
    },
  };
}

function cleanupDockerdDir(d: string): void {
  // dockerd leaves mounts (netns, shm) under its roots when it dies; unmount before removing.
  const mounts = readFileSync("/proc/self/mounts", "utf8").split("\n").map((l) => l.split(" ")[1] ?? "")
    .filter((m) => m.startsWith(d)).sort((a, b) => b.length - a.length);
  for (const m of mounts) Bun.spawnSync(["umount", "-l", m]);
  rmSync(d, { recursive: true, force: true });
}

/** Imports a one-file busybox image as tiny:latest (no registry is reachable). */
export async function importTinyImage(dockerd: Dockerd, dir: string): Promise<void> {
  const rootfs = join(dir, "rootfs");
  mkdirSync(join(rootfs, "bin"), { recursive: true });
  Bun.spawnSync(["cp", Bun.which("busybox")!, join(rootfs, "bin", "busybox")]);
  for (const app of ["sh", "echo", "cat", "sleep", "ls", "true", "id", "touch"]) {
    symlinkSync("busybox", join(rootfs, "bin", app));
  }
  const tar = Bun.spawnSync(["tar", "-C", rootfs, "-c", "."]);
  const proc = Bun.spawn(["docker", "-H", `unix://${dockerd.socket}`, "import", "-", "tiny:latest"], {
    stdin: tar.stdout,
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, DOCKER_CONFIG: join(dockerd.dir, "docker-config") },
  });
  if ((await proc.exited) !== 0) {
    throw new Error(`docker import failed: ${await new Response(proc.stderr).text()}`);
  }
  rmSync(rootfs, { recursive: true, force: true });
}

// ---------------------------------------------------------------- a host guarded by the agent

export interface GuardedHost {
  /** The running agent (replaced by restartAgent). */
  readonly agent: AgentProcess;
  readonly dockerd: Dockerd;
  /** Starts the agent again with the same options (after the test stopped it). */
  restartAgent(): Promise<AgentProcess>;
  /** Stops dockerd and the agent, removes the plugin spec and the whole directory. */
  stop(): Promise<void>;
}

export interface GuardedHostOptions {
  readonly dir: string;
  /** The plugin name dockerd is given (a spec file /etc/docker/plugins/NAME.spec while the host runs). */
  readonly plugin: string;
  readonly agent: Omit<AgentOptions, "socket"> & { readonly socket?: string };
  readonly dockerdDir?: string;
  readonly tls?: DockerdOptions["tls"];
  readonly pluginsInConfig?: boolean;
}

/** The agent, registered as dockerd's authorization plugin, and a private dockerd using it. */
export async function startGuardedHost(options: GuardedHostOptions): Promise<GuardedHost> {
  const agentOptions: AgentOptions = {
    ...options.agent,
    socket: options.agent.socket ?? join(options.dir, "agent.sock"),
  };
  // A host that fails to start removes its directory too: the test's afterAll has no host to stop.
  let agent: AgentProcess;
  try {
    agent = await startAgent(agentOptions);
  } catch (err) {
    rmSync(options.dir, { recursive: true, force: true });
    throw err;
  }
  const unregister = registerPlugin(options.plugin, agentOptions.socket);
  let dockerd: Dockerd;
  try {
    dockerd = await startDockerd({
      dir: options.dockerdDir ?? join(options.dir, "dockerd"),
      authorizationPlugins: [options.plugin],
      tls: options.tls,
      ...(options.pluginsInConfig === true ? { pluginsInConfig: true } : {}),
    });
  } catch (err) {
    await agent.stop();
    unregister();
    rmSync(options.dir, { recursive: true, force: true });
    throw err;
  }
  return {
    get agent() {
      return agent;
    },
    dockerd,
    async restartAgent() {
      agent = await startAgent(agentOptions);
      return agent;
    },
    async stop() {
      await dockerd.stop();
      await agent.stop();
      unregister();
      rmSync(options.dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------- the HTTPS API on a guarded host

export interface ApiHost {
  readonly host: GuardedHost;
  readonly state: string;
  /** `https://127.0.0.1:PORT` */
  readonly base: string;
  readonly port: number;
  /** Each user's API key (`agent apikey create USER`). */
  readonly keys: Readonly<Record<string, string>>;
  /** The agent's CA (what clients trust). */
  readonly caPem: string;
  /** `Basic base64(user:key)` */
  authorization(user: string): string;
}

/**
 * A guarded host whose agent also serves the HTTPS API on 127.0.0.1: a CA, an API key per user, the
 * policy, the tiny image imported, the listener answering. Stop it with `host.stop()`.
 */
export async function startApiHost(options: {
  readonly dir: string;
  readonly plugin: string;
  readonly policy: string;
  readonly users: readonly string[];
}): Promise<ApiHost> {
  const { dir } = options;
  const state = join(dir, "state");
  const init = await agentCli(["ca", "init", "--name", options.plugin, "--state-dir", state]);
  if (init.code !== 0) throw new Error(`agent ca init failed: ${init.stderr}`);
  const keys: Record<string, string> = {};
  for (const user of options.users) {
    const key = await agentCli(["apikey", "create", user, "--state-dir", state]);
    if (key.code !== 0) throw new Error(`agent apikey create ${user} failed: ${key.stderr}`);
    keys[user] = key.stdout.trim().split("\n").pop()!;
  }
  writeFileSync(join(dir, "policy.yaml"), options.policy);
  const port = freePort();
  const host = await startGuardedHost({
    dir,
    plugin: options.plugin,
    agent: {
      stateDir: state,
      policyFile: join(dir, "policy.yaml"),
      args: ["--listen", `127.0.0.1:${port}`, "--docker-socket", join(dir, "dockerd", "docker.sock")],
    },
  });
  const caPem = readFileSync(join(state, "ca", "cluster.crt"), "utf8");
  const base = `https://127.0.0.1:${port}`;
  const authorization = (user: string) => `Basic ${btoa(`${user}:${keys[user]}`)}`;
  try {
    await importTinyImage(host.dockerd, dir);
    const first = options.users[0];
    if (first !== undefined) {
      await waitFor("the HTTPS listener", async () => {
        const res = await fetch(`${base}/api/infra/v1/node/`, {
          headers: { authorization: authorization(first) },
          tls: { ca: caPem },
        } as RequestInit);
        await res.body?.cancel();
        return res.status !== 0;
      }, 20_000);
    }
  } catch (err) {
    await host.stop();
    throw err;
  }
  return { host, state, base, port, keys, caPem, authorization };
}

// ---------------------------------------------------------------- gateway mode on a guarded host

export interface GatewayHost {
  readonly host: GuardedHost;
  readonly dir: string;
  readonly state: string;
  readonly port: number;
  /** Each user's API key (`agent apikey create USER`), for the users given `keys`. */
  readonly keys: Readonly<Record<string, string>>;
  /** The agent's CA (what clients trust). */
  readonly caPem: string;
  /** The docker CLI's environment for the gateway with USER's client certificate (DOCKER_CERT_PATH). */
  env(user: string): Record<string, string>;
  /** The docker CLI through the gateway as USER (client certificate). */
  docker(user: string, args: string[], stdin?: string): Promise<RunResult>;
  /** The docker CLI through the gateway with USER's API key in config.json HttpHeaders (the CA only, no cert). */
  dockerWithKey(user: string, args: string[]): Promise<RunResult>;
  /** The audit log's events, parsed. */
  audit(): Record<string, unknown>[];
}

/**
 * A guarded host whose agent serves the Engine API on its listener (`--gateway`): a CA, a client certificate
 * (docker layout: ca.pem, cert.pem, key.pem) for each of `users`, an API key for each of `keys`, the policy,
 * the tiny image imported, the gateway answering. Stop it with `host.stop()`.
 */
export async function startGatewayHost(options: {
  readonly dir: string;
  readonly plugin: string;
  readonly policy: string;
  readonly users: readonly string[];
  readonly keys?: readonly string[];
  /** dockerd's plugins in daemon.json, so the test can change the chain live (see DockerdOptions). */
  readonly pluginsInConfig?: boolean;
}): Promise<GatewayHost> {
  const { dir } = options;
  const state = join(dir, "state");
  const setup = [
    ["ca", "init", "--name", options.plugin],
    ...options.users.map((
      u,
    ) => ["ca", "create-api-certificate", u, "--out", join(dir, u), "--docker-layout"]),
  ];
  for (const args of setup) {
    const r = await agentCli([...args, "--state-dir", state]);
    if (r.code !== 0) throw new Error(`agent ${args.join(" ")} failed: ${r.stderr}`);
  }
  const keys: Record<string, string> = {};
  for (const user of options.keys ?? []) {
    const r = await agentCli(["apikey", "create", user, "--state-dir", state]);
    if (r.code !== 0) throw new Error(`agent apikey create ${user} failed: ${r.stderr}`);
    keys[user] = r.stdout.trim().split("\n").pop()!;
  }
  writeFileSync(join(dir, "policy.yaml"), options.policy);
  const port = freePort();
  const host = await startGuardedHost({
    dir,
    plugin: options.plugin,
    ...(options.pluginsInConfig === true ? { pluginsInConfig: true } : {}),
    agent: {
      stateDir: state,
      policyFile: join(dir, "policy.yaml"),
      args: [
        "--listen",
        `127.0.0.1:${port}`,
        "--gateway",
        "--docker-socket",
        join(dir, "dockerd", "docker.sock"),
      ],
    },
  });
  const env = (user: string): Record<string, string> => ({
    DOCKER_HOST: `tcp://127.0.0.1:${port}`,
    DOCKER_TLS_VERIFY: "1",
    DOCKER_CERT_PATH: join(dir, user),
    DOCKER_CONFIG: join(dir, `config-${user}`),
  });
  const docker = (user: string, args: string[], stdin?: string) =>
    run(["docker", ...args], { env: env(user), ...(stdin === undefined ? {} : { stdin }) });
  const dockerWithKey = (user: string, args: string[]) => {
    const config = join(dir, `keyconfig-${user}`);
    mkdirSync(config, { recursive: true });
    writeFileSync(
      join(config, "config.json"),
      JSON.stringify({ HttpHeaders: { Authorization: `Basic ${btoa(`${user}:${keys[user]}`)}` } }),
    );
    writeFileSync(join(config, "ca.pem"), readFileSync(join(state, "ca", "cluster.crt")));
    return run(["docker", ...args], {
      env: {
        DOCKER_HOST: `tcp://127.0.0.1:${port}`,
        DOCKER_TLS_VERIFY: "1",
        DOCKER_CERT_PATH: config,
        DOCKER_CONFIG: config,
      },
    });
  };
  const audit = () =>
    readFileSync(join(state, "audit.log"), "utf8").trim().split("\n").map((l) =>
      JSON.parse(l) as Record<string, unknown>
    );
  try {
    await importTinyImage(host.dockerd, dir);
    const first = options.users[0];
    if (first !== undefined) {
      await waitFor("the gateway", async () => (await docker(first, ["version"])).code === 0, 20_000);
    }
  } catch (err) {
    await host.stop();
    throw err;
  }
  const caPem = readFileSync(join(state, "ca", "cluster.crt"), "utf8");
  return { host, dir, state, port, keys, caPem, env, docker, dockerWithKey, audit };
}
