/** `agent serve`: the authorization plugin on a unix socket, hot-reloading policy and state. */
import { cac } from "cac";
import { AuditSink } from "../audit/sink.ts";
import { AgentError, isAgentError } from "../errors.ts";
import { DEMO_POLICY } from "../policy/index.ts";
import { createPluginApp } from "../server/plugin-app.ts";
import { describeChange, PluginStateStore, type PolicySource } from "../server/plugin-state.ts";
import { macaroonDocker } from "../server/macaroon-docker.ts";
import { PUBLIC_FILE_MODE, SECRET_DIR_MODE, stateLayout } from "../store/layout.ts";
import { openServiceStore, randomUuid } from "../api/index.ts";
import {
  API_LIMITS,
  apiKeyAuthenticator,
  certificateAuthenticator,
  createApiApp,
  roleAuthenticator,
} from "../api/index.ts";
import { FailedAttemptLimiter, LastUsedTimes, saveLastUsed } from "../apikey/index.ts";
import { DecisionProofs } from "../decide/decision-proof.ts";
import { engineClient } from "../docker/engine-client.ts";
import { objectLookup } from "../docker/object-lookup.ts";
import type { HttpsServer } from "../ports.ts";
import {
  type CliContext,
  DEFAULT_POLICY_FILE,
  DEFAULT_SOCKET,
  type ExitCode,
  resolveStateDir,
} from "./context.ts";
import type { CommandGroup } from "./group.ts";
import { integer } from "./option-kinds.ts";
import { bytesToHex } from "@noble/hashes/utils.js";
import { addInstallCommands } from "./install.ts";
import { dockerSocketPath } from "./id/docker-socket.ts";
import { API_DOCKER_TIMEOUT_MS, checkListenOptions, type ListenerTls, listenerTls } from "./serve-listen.ts";
import { ListenerRefresh } from "./serve-listen-refresh.ts";
import { checkApiUrl, openRoles } from "./serve-roles.ts";
import { ActionKeeper } from "./serve-actions.ts";
import { StreamKeeper } from "./serve-stream.ts";
import { openGateway } from "./serve-gateway.ts";
import { openConsole } from "./serve-console.ts";
import { CONSOLE_PREFIX } from "../console/console-app.ts";
import type { DecisionFeed } from "../console/decision-feed.ts";
import { FleetKeeper, type FleetServeOptions, planFleet } from "./serve-fleet.ts";
import { checkNodeName } from "../fleet/membership.ts";
import { checkSyslogOptions, type SyslogOptions } from "../audit/syslog-options.ts";
import { openSyslogShipping } from "../audit/syslog-sink.ts";

export interface ServeOptions extends FleetServeOptions, SyslogOptions {
  readonly stateDir?: string;
  readonly policy?: string;
  readonly demo?: boolean;
  readonly socket?: string;
  readonly socketMode?: string;
  readonly auditLog?: string;
  readonly auditMaxBytes?: number;
  readonly reloadIntervalMs?: number;
  readonly dockerSocket?: string;
  /** `--listen ADDR:PORT`: the HTTPS API beside the plugin socket (off by default). */
  readonly listen?: string;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  /** `--api-url URL`: where containers of services with API roles reach the listener. */
  readonly apiUrl?: string;
  /** `--gateway`: the listener also serves the Docker Engine API (src/gateway/). */
  readonly gateway?: boolean;
}

/** How often the state files are checked for changes: revocations and new policies apply within this. */
const DEFAULT_RELOAD_INTERVAL_MS = 500;
/** The namespace gate's lookups run inside an AuthZReq: under the proof's lifetime (decision-proof.ts). */
const NAMESPACE_LOOKUP_TIMEOUT_MS = 4_000;
/** How often the API keys' last-used times are written (and once more at exit). */
const LAST_USED_WRITE_INTERVAL_MS = 30_000;

/** `--socket-mode 660`: three or four octal digits, at most 0777 (no setuid, setgid or sticky bits). */
function parseSocketMode(text: string | undefined): number {
  const value = text ?? "660";
  if (!/^0?[0-7]{3}$/.test(value)) {
    throw new AgentError(
      "ERR_USAGE",
      `--socket-mode must be an octal file mode such as 660 or 0660 (got ${JSON.stringify(value)})`,
    );
  }
  return parseInt(value, 8);
}

export async function serve(ctx: CliContext, options: ServeOptions): Promise<ExitCode> {
  const log = (message: string) => ctx.output.err(`${ctx.clock().toISOString()} agent: ${message}\n`);
  const describe = (err: unknown) => (isAgentError(err) ? `${err.message} [${err.code}]` : "internal error");
  // Every option is checked before anything is created: a bad one is a usage error (exit 2), not a
  // half-started server.
  if (options.demo && options.policy !== undefined) {
    throw new AgentError("ERR_USAGE", "give --policy FILE or --demo, not both");
  }
  const socketMode = parseSocketMode(options.socketMode);
  const stateDir = resolveStateDir(options.stateDir, ctx.env);
  const layout = stateLayout(stateDir);
  const fleetPlan = await planFleet(ctx, options, layout);
  if (options.nodeName !== undefined) checkNodeName(options.nodeName);
  if (fleetPlan !== undefined && (options.demo || options.policy !== undefined)) {
    throw new AgentError(
      "ERR_USAGE",
      "a fleet member decides with the fleet's policy: drop --policy/--demo (publish one with `agent fleet publish-policy FILE`)",
    );
  }
  const policy: PolicySource = fleetPlan !== undefined
    ? { file: fleetPlan.files.policy }
    : options.demo
    ? { file: undefined, embedded: DEMO_POLICY }
    : { file: options.policy ?? ctx.env["AGENT_POLICY"] ?? DEFAULT_POLICY_FILE };
  const socketPath = options.socket ?? ctx.env["AGENT_SOCKET"] ?? DEFAULT_SOCKET;
  const listen = await checkListenOptions(ctx, options, layout);
  checkApiUrl(options.apiUrl, listen !== undefined);
  if (options.gateway === true && listen === undefined) {
    throw new AgentError(
      "ERR_USAGE",
      "--gateway serves the Docker Engine API on the HTTPS listener: add --listen ADDR:PORT",
    );
  }

  const syslogPlan = await checkSyslogOptions(ctx.fs, options);

  await ctx.fs.mkdir(layout.root, SECRET_DIR_MODE);
  const startedAtIso = ctx.clock().toISOString();
  let tls: ListenerTls | undefined;
  if (listen !== undefined) {
    try {
      tls = await listenerTls(ctx, listen, layout);
    } catch (err) {
      log(`cannot start: ${describe(err)}`);
      return 1;
    }
    log(tls.summary);
  }
  // The macaroon gate's name lookups and daemon event stream (idle until `agent id init`).
  const dockerLink = macaroonDocker({
    platform: ctx.platform,
    socketPath: dockerSocketPath(options.dockerSocket, ctx.env),
    clock: ctx.clock,
    gates: () => store.state.gates,
    log,
  });
  const newDecisionId = () => bytesToHex(ctx.random(6));
  // One-time proofs for the agent's own calls to dockerd (the HTTPS API's, the gateway's forwarded ones, the
  // namespace gate's lookups), which the plugin redeems. The gateway holds one per open stream (a `logs -f`):
  // room for as many as the listener has connections.
  const proofs = new DecisionProofs({
    random: ctx.random,
    nowMs: () => ctx.platform.monotonicMs(),
    maxPending: API_LIMITS.maxConnections,
  });
  // Objects' namespaces (labels), looked up in dockerd: the plugin's namespace gate and the gateway share it.
  // The agent's own calls to dockerd (lookups, the fleet registry's GET /info), each with a proof.
  const lookupClient = engineClient({
    platform: ctx.platform,
    socketPath: dockerSocketPath(options.dockerSocket, ctx.env),
    headers: () => ({}),
    // Below the proof's lifetime: the gate's lookups run inside an AuthZReq.
    timeoutMs: NAMESPACE_LOOKUP_TIMEOUT_MS,
  });
  const namespaceLookup = objectLookup({
    client: lookupClient,
    proofs,
    newId: newDecisionId,
  });
  // A fleet member follows etcd into the state directory; with no snapshot yet it waits for a first one.
  const fleetRef: { reload?: (revision: number) => Promise<void> } = {};
  let fleet: FleetKeeper | undefined;
  if (fleetPlan !== undefined) {
    const hosts = ctx.platform.hostNames();
    try {
      fleet = await FleetKeeper.open(
        ctx,
        fleetPlan,
        layout,
        () => ({
          name: fleetPlan.config.name,
          addresses: hosts.addresses,
          agentVersion: ctx.build.version,
          startedAt: startedAtIso,
          ...(options.listen === undefined ? {} : { listen: options.listen }),
        }),
        log,
        (revision) => fleetRef.reload?.(revision),
      );
    } catch (err) {
      log(`cannot start: ${describe(err)}`);
      return 1;
    }
  }
  let store: PluginStateStore;
  try {
    store = await PluginStateStore.open({
      fs: ctx.fs,
      layout,
      policy,
      clock: ctx.clock,
      macaroon: { resolver: dockerLink.resolver, random: ctx.random },
      // Namespaces are made by the HTTPS API and the gateway: the plugin guards them where they exist (its
      // lookups cost a dockerd call per named object, so a plugin-only host does not pay for them).
      ...(listen === undefined ? {} : { namespaceLookup }),
      ...(fleet === undefined ? {} : { extraGates: [fleet.gate] }),
    });
  } catch (err) {
    log(`cannot start: ${describe(err)}`);
    await fleet?.stop();
    return 1;
  }

  const auditFile = new AuditSink(ctx.fs, {
    path: options.auditLog ?? layout.auditLog,
    maxBytes: options.auditMaxBytes,
    onError: (message) => log(`audit: ${message}`),
    nowMs: () => ctx.platform.monotonicMs(),
  });
  // Audit stays local and ships the conventional way: every event also goes to syslog when asked.
  const syslog = syslogPlan === undefined ? undefined : openSyslogShipping(ctx.platform, syslogPlan, {
    hostname: fleetPlan?.config.name ?? options.nodeName ?? ctx.platform.hostNames().hostname,
    onError: (message) => log(`audit: ${message}`),
  });
  // The console's live view, once the listener runs.
  const feedRef: { feed?: DecisionFeed } = {};
  const audit = {
    write(event: Parameters<AuditSink["write"]>[0]): void {
      auditFile.write(event);
      syslog?.write(event);
      feedRef.feed?.push(event);
    },
    async flush(): Promise<void> {
      await auditFile.flush();
      await syslog?.stop();
    },
  };
  const startedAt = ctx.clock();
  // When each API key was last used: recorded in memory per request, written in batches (never per request).
  const lastUsed = new LastUsedTimes();
  let lastUsedWrittenMs = ctx.platform.monotonicMs();
  let lastUsedFailing = false;
  const writeLastUsed = async () => {
    lastUsedWrittenMs = ctx.platform.monotonicMs();
    const fresh = lastUsed.take();
    if (fresh.size === 0) return;
    try {
      await saveLastUsed(ctx.fs, layout, fresh);
      lastUsedFailing = false;
    } catch (err) {
      lastUsed.restore(fresh); // the next batch carries them
      if (!lastUsedFailing) log(`cannot record when API keys were last used: ${describe(err)}`);
      lastUsedFailing = true;
    }
  };
  // The Stream API's log, once the listener runs: plugin decisions are action events too.
  const streamRef: { keeper?: StreamKeeper } = {};
  const app = createPluginApp({
    state: () => store.state,
    audit: (event) => {
      audit.write(event);
      streamRef.keeper?.decision(event);
    },
    clock: ctx.clock,
    monotonicMs: () => ctx.platform.monotonicMs(),
    newDecisionId,
    info: { name: "agent", version: ctx.build.version, startedAt },
    status: () => ({
      stateDir,
      state: store.report(),
      ...(fleet === undefined ? {} : { fleet: fleet.status() }),
    }),
    proofs,
  });
  await ctx.fs.mkdir(socketPath.slice(0, socketPath.lastIndexOf("/")) || "/", 0o755);
  let server;
  try {
    server = await ctx.platform.serveUnix({ socketPath, socketMode, fetch: app.fetch });
  } catch (err) {
    log(`cannot start: ${describe(err)}`);
    await audit.flush();
    return 1;
  }
  log(`listening on ${socketPath}; ${store.state.summary}`);
  let https: HttpsServer | undefined;
  let keeper: ActionKeeper | undefined;
  let stream: StreamKeeper | undefined;
  // Set once the listener runs; the role credentials read the CA in force through it.
  const refresh: { listener?: ListenerRefresh } = {};
  if (listen !== undefined && tls !== undefined) {
    const services = await openServiceStore(ctx.fs, layout.services);
    if (services.problem !== undefined) log(`the HTTPS API's services are unavailable: ${services.problem}`);
    keeper = await ActionKeeper.open(ctx, layout, log);
    stream = streamRef.keeper = await StreamKeeper.open(ctx, {
      layout,
      services,
      proofs,
      dockerSocket: dockerSocketPath(options.dockerSocket, ctx.env),
      log,
    });
    const limiter = new FailedAttemptLimiter(ctx.clock);
    const roles = await openRoles(
      ctx,
      layout,
      listen,
      tls,
      () => refresh.listener?.current.clientCaPem,
      () => https?.port ?? listen.address.port,
      log,
      options.apiUrl,
    );
    // Tried in order for every request: a client certificate of the agent's CA, an API key (Basic).
    const byCertificate = certificateAuthenticator({ gates: () => store.state.gates });
    const byApiKey = apiKeyAuthenticator({
      keys: () => store.state.apiKeys,
      clock: ctx.clock,
      limiter,
      lastUsed,
    });
    const authenticators = [
      byCertificate,
      ...(roles === undefined ? [] : [roleAuthenticator({ services, roles, limiter })]),
      byApiKey,
    ];
    // The web console: its session cookie is one more credential of the API (not of the gateway).
    const consoleDoor = openConsole(ctx, {
      store,
      layout,
      policy,
      certificateAuthenticator: byCertificate,
      apiKeyAuthenticator: byApiKey,
      fleetMember: fleet !== undefined,
      // `reload` is defined below; the console calls it only once serving.
      reload: () => reload("the console changed the state", false),
      host: () => ({
        name: fleetPlan?.config.name ?? options.nodeName ?? ctx.platform.hostNames().hostname,
        version: ctx.build.version,
        fleet: fleet?.status() ?? null,
        nodes: fleet?.nodes() ?? [],
      }),
    });
    feedRef.feed = consoleDoor.feed;
    const gateway = options.gateway === true
      ? openGateway(ctx, {
        dockerSocket: dockerSocketPath(options.dockerSocket, ctx.env),
        store,
        authenticators,
        proofs,
        lookup: namespaceLookup,
        audit: (event) => {
          audit.write(event);
          stream?.decision(event);
        },
        newDecisionId,
      })
      : undefined;
    const api = createApiApp({
      services,
      newUuid: () => randomUuid(ctx.random(16)),
      state: () => store.state,
      authenticators: [...authenticators, consoleDoor.authenticator],
      ...(roles === undefined ? {} : { roles }),
      actions: keeper.actions,
      stream: stream.deps,
      dockerStreams: { platform: ctx.platform, socketPath: dockerSocketPath(options.dockerSocket, ctx.env) },
      audit: (event) => audit.write(event),
      clock: ctx.clock,
      monotonicMs: () => ctx.platform.monotonicMs(),
      newDecisionId,
      docker: engineClient({
        platform: ctx.platform,
        socketPath: dockerSocketPath(options.dockerSocket, ctx.env),
        headers: () => ({}),
        timeoutMs: API_DOCKER_TIMEOUT_MS,
      }),
      proofs,
      ...(fleet === undefined
        ? {}
        : { fleet: { name: fleetPlan!.config.name, nodes: () => fleet!.nodes() } }),
    });
    try {
      https = await ctx.platform.serveHttps({
        hostname: listen.address.hostname,
        port: listen.address.port,
        certificatePem: tls.certificatePem,
        privateKeyPem: tls.privateKeyPem,
        ...(tls.clientCaPem === undefined ? {} : { clientCaPem: tls.clientCaPem }),
        limits: API_LIMITS,
        ...(gateway === undefined ? {} : { passThrough: gateway.owns }),
        fetch: (request, connection) => {
          const target = request.url.slice(request.url.indexOf("/", 8));
          if (target === "/console" || target.startsWith(CONSOLE_PREFIX)) {
            return consoleDoor.app.fetch(request, { connection });
          }
          // A browser pointed at the bare address is shown the console; API clients never ask for HTML.
          if (
            target === "/" && request.method === "GET" &&
            /text\/html/.test(request.headers.get("accept") ?? "")
          ) {
            return new Response(null, { status: 302, headers: { location: CONSOLE_PREFIX } });
          }
          return gateway !== undefined && gateway.owns(target)
            ? gateway.fetch(request, connection)
            : api.fetch(request, { connection });
        },
      });
    } catch (err) {
      log(`cannot start: ${describe(err)}`);
      await server.stop();
      await audit.flush();
      return 1;
    }
    const shown = listen.address.display.replace(/:[0-9]+$/, `:${https.port}`);
    log(
      `HTTPS API${
        gateway === undefined ? "" : " and the Docker Engine API (gateway)"
      } listening on ${shown}; ${tls.clients}; the web console at https://${
        // A wildcard address is no place for a browser: the host's name is.
        shown.replace(/^(0\.0\.0\.0|\[::\])(?=:)/, ctx.platform.hostNames().hostname)}${CONSOLE_PREFIX}`,
    );
  }
  // Renews the listener's certificate and follows a new CA while running (checked on each reload).
  const listener = listen && tls && https &&
    await ListenerRefresh.start(ctx, { plan: listen, layout, tls, server: https, log });
  if (listener) refresh.listener = listener;
  // Commands that change state find this agent here to confirm it applied the change (confirm-applied.ts).
  const serving = JSON.stringify({ socket: socketPath, pid: ctx.platform.pid }) + "\n";
  await ctx.fs.writeAtomic(layout.serving, serving, PUBLIC_FILE_MODE).catch(() => undefined);
  dockerLink.follow(store.state.gates);
  // A change from the fleet is loaded as soon as it is written, not at the next poll.
  fleetRef.reload = (revision) => reload(`fleet revision ${revision}`, false);
  fleet?.start(async () => {
    const id = newDecisionId();
    const proof = proofs.issue(id, "GET", "/info", { by: "agent" });
    if (proof === undefined) return undefined;
    try {
      return await lookupClient.getJson("/info", proof);
    } finally {
      proofs.withdraw(id);
    }
  });

  const reloadOnce = async (reason: string, force: boolean) => {
    const before = store.state;
    const changes = await store.refresh(force);
    for (const change of changes) log(`${describeChange(change)} (${reason})`);
    if (store.state !== before) {
      dockerLink.follow(store.state.gates);
      log(`in force: ${store.state.summary}`);
    } else if (force && changes.length === 0) {
      log(`reloaded (${reason}); no change`);
    }
    await listener?.check(force);
  };
  // A reload asked for while one runs (SIGHUP, then a file change the watcher saw) runs again after it:
  // dropping it would leave a change (a revocation) unloaded until the next one.
  let reloading = false;
  let pending: { reason: string; force: boolean } | undefined;
  const reload = async (reason: string, force: boolean) => {
    if (reloading) {
      pending = { reason, force: force || (pending?.force ?? false) };
      return;
    }
    reloading = true;
    try {
      for (let next: typeof pending = { reason, force }; next !== undefined; next = pending) {
        pending = undefined;
        await reloadOnce(next.reason, next.force);
      }
    } catch (err) {
      log(`reload failed (${reason}), keeping the previous state: ${describe(err)}`);
    } finally {
      reloading = false;
    }
  };

  let running = true;
  const stopping = new AbortController();
  const offHup = ctx.platform.onSignal("SIGHUP", () => void reload("SIGHUP", true));
  const stop = () => {
    running = false;
    stopping.abort();
  };
  const offTerm = ctx.platform.onSignal("SIGTERM", stop);
  const offInt = ctx.platform.onSignal("SIGINT", stop);
  const interval = options.reloadIntervalMs ?? DEFAULT_RELOAD_INTERVAL_MS;
  while (running) {
    await ctx.platform.sleep(interval, stopping.signal);
    if (!running) break;
    await reload("files changed", false);
    if (ctx.platform.monotonicMs() - lastUsedWrittenMs >= LAST_USED_WRITE_INTERVAL_MS) await writeLastUsed();
    await keeper?.tick();
    fleet?.tick();
  }
  offHup();
  offTerm();
  offInt();
  await https?.stop();
  await writeLastUsed();
  await keeper?.flush();
  await stream?.stop();
  await server.stop();
  // Only our own record: another agent on this state directory may have written its own since.
  const record = await ctx.fs.readText(layout.serving).catch(() => undefined);
  if (record === serving) await ctx.fs.remove(layout.serving).catch(() => undefined);
  await dockerLink.stop();
  await fleet?.stop();
  await audit.flush();
  log("stopped");
  return 0;
}

export const serveCommands: CommandGroup = {
  name: "",
  summary: "top-level commands",
  build(ctx: CliContext) {
    const cli = cac("agent");
    cli
      .command("serve", "Run the authorization plugin on a unix socket")
      .option("--state-dir <dir>", "State directory (default /var/lib/agent, or $AGENT_STATE_DIR)")
      .option("--policy <file>", `Policy file (default ${DEFAULT_POLICY_FILE}, or $AGENT_POLICY)`)
      .option("--demo", "Use the embedded demo policy instead of a file (for trying the agent out)")
      .option("--socket <path>", `Plugin socket (default ${DEFAULT_SOCKET}, or $AGENT_SOCKET)`)
      .option("--socket-mode <octal>", "Socket file mode (default 660)")
      .option("--audit-log <file>", "Audit log (default <state-dir>/audit.log)")
      .option("--audit-max-bytes <n>", "Rotate the audit log past this size (default 52428800)", integer(1))
      .option(
        "--docker-socket <path>",
        "The daemon's socket, for the macaroon gate's name lookups (default $DOCKER_HOST if unix://, else /var/run/docker.sock)",
      )
      .option("--listen <addr:port>", "Also serve the HTTPS API on ADDR:PORT (off by default; TLS only)")
      .option(
        "--tls-cert <file>",
        "The listener's certificate chain, PEM (default: one issued by the agent's CA, kept in <state-dir>/listener)",
      )
      .option("--tls-key <file>", "The key of --tls-cert, PEM")
      .option(
        "--gateway",
        "Also serve the Docker Engine API on the --listen port, for the docker CLI (tcp://HOST:PORT with TLS)",
      )
      .option(
        "--fleet <endpoints>",
        "Follow a fleet's shared state in etcd (https://etcd1:2379,...); on by itself after `agent fleet join`",
      )
      .option("--fleet-prefix <prefix>", "The fleet's key prefix in etcd (default /agent/, or fleet.json's)")
      .option(
        "--fleet-cert <file>",
        "This host's etcd client certificate (default <state-dir>/fleet/node.crt)",
      )
      .option("--fleet-key <file>", "Its key (default <state-dir>/fleet/node.key)")
      .option(
        "--fleet-ca <file>",
        "The CA etcd's members are checked against (default <state-dir>/fleet/etcd-ca.pem)",
      )
      .option(
        "--fleet-max-stale <duration>",
        "Cut off from etcd longer than this, refuse writes (reads go on); 'off' never (default 24h)",
      )
      .option(
        "--node-name <name>",
        "This host's name in the fleet's registry and its syslog lines (default: the host name)",
      )
      .option(
        "--audit-syslog <url>",
        "Also ship every audit event to a syslog collector (RFC 5424): tcp://HOST[:PORT] (514) or tls://HOST[:PORT] (6514)",
      )
      .option(
        "--audit-syslog-ca <file>",
        "CA (PEM) the tls:// collector is verified against (default: system roots)",
      )
      .option(
        "--audit-syslog-cert <file>",
        "Client certificate (PEM) for a tls:// collector that requires one",
      )
      .option("--audit-syslog-key <file>", "The key of --audit-syslog-cert (PEM)")
      .option(
        "--audit-syslog-facility <name>",
        "Syslog facility (default authpriv; user, daemon, auth, local0-local7)",
      )
      .option(
        "--api-url <url>",
        "Where containers of services with API roles reach the listener (default https://HOST:PORT of --listen)",
      )
      .example("agent serve --policy /etc/agent/policy.yaml")
      .example("agent serve --policy /etc/agent/policy.yaml --listen 0.0.0.0:8443")
      .example("dockerd --authorization-plugin=agent   # then point dockerd at it")
      .usage(
        "serve [options]\n\nServes Plugin.Activate, AuthZPlugin.AuthZReq and AuthZPlugin.AuthZRes on the socket.\n" +
          "SIGHUP or a change to the policy or state files reloads them (a broken policy keeps the old one);\n" +
          "With --listen it also serves the HTTPS API (/api/...): client certificates of the agent's CA, every\n" +
          "request decided by the same policy and audited. Without --tls-cert the listener's certificate is issued\n" +
          "by the agent's CA (agent ca init first) and renewed within 30 days of expiry, while it runs.\n" +
          "SIGTERM/SIGINT stop it cleanly. Exit codes: 0 stopped cleanly, 1 could not start (reason on stderr),\n" +
          "2 usage error.",
      )
      .action((options: ServeOptions) => serve(ctx, options));
    return addInstallCommands(cli, ctx); // install, uninstall, doctor (src/cli/install.ts)
  },
};
