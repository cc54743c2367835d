/** `agent serve`: the authorization plugin on a unix socket, hot-reloading policy and state. */
import { cac } from "cac";
import { API_LIMITS } from "../api/limits.ts";
import { LastUsedTimes, saveLastUsed } from "../apikey/index.ts";
import { AuditSink } from "../audit/sink.ts";
import { checkSyslogOptions, type SyslogOptions } from "../audit/syslog-options.ts";
import { DecisionProofs } from "../decide/decision-proof.ts";
import { engineClient } from "../docker/engine-client.ts";
import { objectLookup } from "../docker/object-lookup.ts";
import { AgentError, isAgentError } from "../errors.ts";
import type { DecisionFeed } from "../console/decision-feed.ts";
import { checkNodeName } from "../fleet/membership.ts";
import { DEMO_POLICY } from "../policy/index.ts";
import { macaroonDocker } from "../server/macaroon-docker.ts";
import { LargeBodies } from "../server/large-bodies.ts";
import { createPluginApp } from "../server/plugin-app.ts";
import { describeChange, PluginStateStore, type PolicySource } from "../server/plugin-state.ts";
import { PUBLIC_FILE_MODE, SECRET_DIR_MODE, stateLayout } from "../store/layout.ts";
import { bytesToHex } from "@noble/hashes/utils.js";
import {
  type CliContext,
  DEFAULT_POLICY_FILE,
  DEFAULT_SOCKET,
  type ExitCode,
  resolveStateDir,
} from "./context.ts";
import type { CommandGroup } from "./group.ts";
import { dockerSocketPath } from "./id/docker-socket.ts";
import { addInstallCommands } from "./install.ts";
import { integer } from "./option-kinds.ts";
import type { FleetKeeper } from "./serve-fleet.ts";
import { type FleetServeOptions, planFleet } from "./serve-fleet-plan.ts";
import type { HttpsDoor, ListenerTls } from "./serve-https.ts";
import { checkApiUrl, checkListenOptions } from "./serve-listen.ts";

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
  // The listener, the fleet and syslog shipping are loaded only when asked for: a plugin-only host holds none.
  const httpsModule = listen === undefined ? undefined : await import("./serve-https.ts");
  if (listen !== undefined && httpsModule !== undefined) {
    try {
      tls = await httpsModule.listenerTls(ctx, listen, layout);
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
      const { FleetKeeper } = await import("./serve-fleet.ts");
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
  const syslog = syslogPlan === undefined
    ? undefined
    : (await import("../audit/syslog-sink.ts")).openSyslogShipping(ctx.platform, syslogPlan, {
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
  const streamRef: { keeper?: HttpsDoor["stream"] } = {};
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
    largeBodies: new LargeBodies({
      ...(ctx.platform.collectGarbage === undefined ? {} : { collect: ctx.platform.collectGarbage }),
    }),
  });
  await ctx.fs.mkdir(socketPath.slice(0, socketPath.lastIndexOf("/")) || "/", 0o755);
  // Signals are handled from before the socket answers: whoever sees it answer may send SIGHUP at once, and
  // a SIGHUP nobody handles ends the process. One that comes before reloading is ready is run once it is.
  let running = true;
  const stopping = new AbortController();
  const stop = () => {
    running = false;
    stopping.abort();
  };
  let hupBeforeReady = false;
  let onHup = () => void (hupBeforeReady = true);
  const offSignals = [
    ctx.platform.onSignal("SIGHUP", () => onHup()),
    ctx.platform.onSignal("SIGTERM", stop),
    ctx.platform.onSignal("SIGINT", stop),
  ];
  const cannotStart = async (err: unknown) => {
    log(`cannot start: ${describe(err)}`);
    for (const off of offSignals) off();
    await audit.flush();
    return 1;
  };
  let server;
  try {
    server = await ctx.platform.serveUnix({ socketPath, socketMode, fetch: app.fetch });
  } catch (err) {
    return await cannotStart(err);
  }
  log(`listening on ${socketPath}; ${store.state.summary}`);
  let door: HttpsDoor | undefined;
  if (listen !== undefined && tls !== undefined && httpsModule !== undefined) {
    try {
      door = await httpsModule.openHttps(ctx, {
        listen,
        tls,
        layout,
        policy,
        store,
        proofs,
        namespaceLookup,
        lastUsed,
        fleet,
        fleetName: fleetPlan?.config.name,
        nodeName: options.nodeName,
        dockerSocket: options.dockerSocket,
        apiUrl: options.apiUrl,
        gateway: options.gateway === true,
        newDecisionId,
        audit: (event) => audit.write(event),
        // `reload` is defined below; the console calls it only once serving.
        reload: (reason) => reload(reason, false),
        log,
      });
    } catch (err) {
      await server.stop();
      return await cannotStart(err);
    }
    streamRef.keeper = door.stream;
    feedRef.feed = door.feed;
  }
  const keeper = door?.keeper;
  const stream = door?.stream;
  const https = door?.https;
  const listener = door?.listener;
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

  onHup = () => void reload("SIGHUP", true);
  if (hupBeforeReady) onHup();
  const interval = options.reloadIntervalMs ?? DEFAULT_RELOAD_INTERVAL_MS;
  while (running) {
    await ctx.platform.sleep(interval, stopping.signal);
    if (!running) break;
    await reload("files changed", false);
    if (ctx.platform.monotonicMs() - lastUsedWrittenMs >= LAST_USED_WRITE_INTERVAL_MS) await writeLastUsed();
    await keeper?.tick();
    fleet?.tick();
  }
  for (const off of offSignals) off();
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
