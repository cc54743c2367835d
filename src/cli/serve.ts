/** `agent serve`: the authorization plugin on a unix socket, hot-reloading policy and state. */
import { cac } from "cac";
import { AuditSink } from "../audit/sink.ts";
import { isAgentError } from "../errors.ts";
import { DEMO_POLICY } from "../policy/index.ts";
import { createPluginApp } from "../server/plugin-app.ts";
import {
  type LoadedState,
  loadPluginState,
  type PolicySource,
  type StateLoaderDeps,
} from "../server/plugin-state.ts";
import { stateFingerprint } from "../server/state-fingerprint.ts";
import { extraGates } from "../server/extra-gates.ts";
import { macaroonDocker } from "../server/macaroon-docker.ts";
import { SECRET_DIR_MODE, stateLayout } from "../store/layout.ts";
import { dirName } from "../store/path.ts";
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

export interface ServeOptions {
  readonly stateDir?: string;
  readonly policy?: string;
  readonly demo?: boolean;
  readonly socket?: string;
  readonly socketMode?: string;
  readonly auditLog?: string;
  readonly auditMaxBytes?: number;
  readonly reloadIntervalMs?: number;
  readonly dockerSocket?: string;
}

/** How often the state files are checked for changes: revocations and new policies apply within this. */
const DEFAULT_RELOAD_INTERVAL_MS = 500;

export async function serve(ctx: CliContext, options: ServeOptions): Promise<ExitCode> {
  const log = (message: string) => ctx.output.err(`${ctx.clock().toISOString()} agent: ${message}\n`);
  const describe = (err: unknown) => (isAgentError(err) ? `${err.message} [${err.code}]` : "internal error");
  const layout = stateLayout(resolveStateDir(options.stateDir, ctx.env));
  const policy: PolicySource = options.demo
    ? { file: undefined, embedded: DEMO_POLICY }
    : { file: options.policy ?? ctx.env["AGENT_POLICY"] ?? DEFAULT_POLICY_FILE };
  const socketPath = options.socket ?? ctx.env["AGENT_SOCKET"] ?? DEFAULT_SOCKET;
  const socketMode = parseInt(options.socketMode ?? "660", 8);

  await ctx.fs.mkdir(layout.root, SECRET_DIR_MODE);
  // The macaroon gate's name lookups and daemon event stream (idle until `agent id init`).
  const dockerLink = macaroonDocker({
    platform: ctx.platform,
    socketPath: dockerSocketPath(options.dockerSocket, ctx.env),
    clock: ctx.clock,
    gates: () => state.gates,
    log,
  });
  const loaderDeps: StateLoaderDeps = {
    fs: ctx.fs,
    layout,
    policy,
    clock: ctx.clock,
    extraGates: (fs, layout, clock) =>
      extraGates(fs, layout, clock, { resolver: dockerLink.resolver, random: ctx.random }),
  };
  let state: LoadedState;
  try {
    state = await loadPluginState(loaderDeps);
  } catch (err) {
    log(`cannot start: ${describe(err)}`);
    return 1;
  }

  const audit = new AuditSink(ctx.fs, {
    path: options.auditLog ?? layout.auditLog,
    maxBytes: options.auditMaxBytes,
    onError: (message) => log(`audit: ${message}`),
    nowMs: () => ctx.platform.monotonicMs(),
  });
  const startedAt = ctx.clock();
  const app = createPluginApp({
    state: () => state,
    audit: (event) => audit.write(event),
    clock: ctx.clock,
    monotonicMs: () => ctx.platform.monotonicMs(),
    newDecisionId: () => bytesToHex(ctx.random(6)),
    info: { name: "agent", version: ctx.build.version, startedAt },
  });
  await ctx.fs.mkdir(socketPath.slice(0, socketPath.lastIndexOf("/")) || "/", 0o755);
  const server = await ctx.platform.serveUnix({ socketPath, socketMode, fetch: app.fetch });
  log(`listening on ${socketPath}; ${state.summary}`);
  dockerLink.follow(state.gates);

  const watched = () => [
    ...(policy.file ? [policy.file] : []),
    layout.root,
    layout.caDir,
    dirName(layout.macaroonKeys),
  ];
  let fingerprint = await stateFingerprint(ctx.fs, watched());
  const reloadOnce = async (reason: string) => {
    try {
      const next = await loadPluginState(loaderDeps);
      const changed = next.summary !== state.summary || next.policyHash !== state.policyHash;
      state = next;
      dockerLink.follow(state.gates);
      log(`reloaded (${reason}); ${changed ? state.summary : "no change in policy"}`);
    } catch (err) {
      log(`reload failed (${reason}), keeping the previous state: ${describe(err)}`);
    }
  };
  // A reload asked for while one runs (SIGHUP, then a file change the watcher saw) runs again after it:
  // dropping it would leave a change (a revocation) unloaded until the next one.
  let reloading = false;
  let pending: string | undefined;
  const reload = async (reason: string) => {
    if (reloading) {
      pending = reason;
      return;
    }
    reloading = true;
    try {
      for (let next: string | undefined = reason; next !== undefined; next = pending) {
        pending = undefined;
        await reloadOnce(next);
      }
    } finally {
      reloading = false;
    }
  };

  let running = true;
  const offHup = ctx.platform.onSignal("SIGHUP", () => void reload("SIGHUP"));
  const stop = () => (running = false);
  const offTerm = ctx.platform.onSignal("SIGTERM", stop);
  const offInt = ctx.platform.onSignal("SIGINT", stop);
  const interval = options.reloadIntervalMs ?? DEFAULT_RELOAD_INTERVAL_MS;
  while (running) {
    await ctx.platform.sleep(interval);
    if (!running) break;
    const next = await stateFingerprint(ctx.fs, watched());
    if (next !== fingerprint) {
      fingerprint = next;
      await reload("files changed");
    }
  }
  offHup();
  offTerm();
  offInt();
  await server.stop();
  await dockerLink.stop();
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
      .example("agent serve --policy /etc/agent/policy.yaml")
      .example("dockerd --authorization-plugin=agent   # then point dockerd at it")
      .usage(
        "serve [options]\n\nServes Plugin.Activate, AuthZPlugin.AuthZReq and AuthZPlugin.AuthZRes on the socket.\n" +
          "SIGHUP or a change to the policy or state files reloads them (a broken policy keeps the old one);\n" +
          "SIGTERM/SIGINT stop it cleanly. Exit codes: 0 stopped cleanly, 1 could not start (reason on stderr).",
      )
      .action((options: ServeOptions) => serve(ctx, options));
    return addInstallCommands(cli, ctx); // install, uninstall, doctor (src/cli/install.ts)
  },
};
