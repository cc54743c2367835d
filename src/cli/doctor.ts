/** `agent doctor`: checks this host's agent, dockerd configuration and state, in plain words. */
import type { CAC } from "cac";
import {
  doctorExitCode,
  type DoctorTarget,
  EXPIRY_WARNING_DAYS,
  type Finding,
  overallStatus,
  runDoctor,
} from "../doctor/index.ts";
import { AgentError } from "../errors.ts";
import { HOST_PATHS } from "../install/index.ts";
import { stateLayout } from "../store/layout.ts";
import {
  type CliContext,
  DEFAULT_POLICY_FILE,
  DEFAULT_SOCKET,
  type ExitCode,
  resolveStateDir,
} from "./context.ts";
import { DEFAULT_DOCKER_SOCKET, dockerSocketPath } from "./id/docker-socket.ts";

/** As cac parses them: a repeated flag arrives as a list. */
interface DoctorCliOptions {
  readonly json?: boolean;
  readonly stateDir?: unknown;
  readonly policy?: unknown;
  readonly socket?: unknown;
  readonly dockerConfig?: unknown;
  readonly dockerSocket?: unknown;
  readonly auditLog?: unknown;
}

/** cac turns a repeated flag into a list: refuse that rather than guess which one was meant. */
export function singleOption(value: unknown, flag: string): string | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) throw new AgentError("ERR_USAGE", `${flag} was given more than once`);
  return String(value);
}

const LABEL = { ok: "ok  ", warn: "WARN", fail: "FAIL" } as const;

/** Linux: /proc/self belongs to the process's user; undefined where that cannot be told. */
async function currentUid(ctx: CliContext): Promise<number | undefined> {
  try {
    return (await ctx.fs.stat("/proc/self"))?.uid;
  } catch {
    return undefined;
  }
}

function render(findings: readonly Finding[]): string {
  const width = Math.max(...findings.map((f) => f.check.length));
  const lines = findings.map((f) => `${LABEL[f.status]}  ${f.check.padEnd(width)}  ${f.message}`);
  const count = (status: Finding["status"]) => findings.filter((f) => f.status === status).length;
  lines.push("", `${count("fail")} failed, ${count("warn")} warnings, ${count("ok")} ok`, "");
  return lines.join("\n");
}

export async function doctor(ctx: CliContext, options: DoctorCliOptions): Promise<ExitCode> {
  const stateDir = resolveStateDir(singleOption(options.stateDir, "--state-dir"), ctx.env);
  // A fleet member decides with the fleet's policy, kept in its state directory.
  const fleetPolicy = `${stateLayout(stateDir).fleetDir}/policy.yaml`;
  const member =
    (await ctx.fs.stat(`${stateLayout(stateDir).fleetDir}/fleet.json`).catch(() => undefined)) !==
      undefined;
  const target: DoctorTarget = {
    stateDir,
    policy: singleOption(options.policy, "--policy") ?? (member ? fleetPolicy : undefined) ??
      ctx.env["AGENT_POLICY"] ??
      DEFAULT_POLICY_FILE,
    socket: singleOption(options.socket, "--socket") ?? ctx.env["AGENT_SOCKET"] ?? DEFAULT_SOCKET,
    dockerConfig: singleOption(options.dockerConfig, "--docker-config") ?? HOST_PATHS.dockerConfig,
    dockerSocket: dockerSocketPath(singleOption(options.dockerSocket, "--docker-socket"), ctx.env),
    auditLog: singleOption(options.auditLog, "--audit-log") ?? stateLayout(stateDir).auditLog,
  };
  const findings = await runDoctor(
    {
      fs: ctx.fs,
      clock: ctx.clock,
      unixFetch: (socket, path, init) => ctx.platform.unixFetch(socket, path, init),
      version: ctx.build.version,
      uid: await currentUid(ctx),
    },
    target,
  );
  if (options.json) {
    ctx.output.out(JSON.stringify({ status: overallStatus(findings), findings }, null, 2) + "\n");
  } else {
    ctx.output.out(render(findings));
  }
  return doctorExitCode(findings);
}

export function addDoctorCommand(cli: CAC, ctx: CliContext): void {
  cli
    .command("doctor", "Check this host: agent running, dockerd using it, policy, state, CA, keys, audit log")
    .option("--json", "Print the findings as JSON ({status, findings: [{check, status, message}]})")
    .option("--state-dir <dir>", "State directory (default /var/lib/agent, or $AGENT_STATE_DIR)")
    .option("--policy <file>", `Policy file (default ${DEFAULT_POLICY_FILE}, or $AGENT_POLICY)`)
    .option("--socket <path>", `Plugin socket (default ${DEFAULT_SOCKET}, or $AGENT_SOCKET)`)
    .option("--docker-config <file>", `dockerd's daemon.json (default ${HOST_PATHS.dockerConfig})`)
    .option(
      "--docker-socket <path>",
      `The running dockerd's socket, asked which plugins it uses (default $DOCKER_HOST if unix://, else ${DEFAULT_DOCKER_SOCKET})`,
    )
    .option("--audit-log <file>", "Audit log (default <state-dir>/audit.log)")
    .usage(
      "doctor [--json] [--state-dir DIR] [--policy FILE] [--socket PATH] [--docker-config FILE] [--docker-socket PATH]\n\n" +
        "Each check prints ok, WARN or FAIL and a sentence saying what to do:\n" +
        "  socket       the agent answers on its socket, with this version, the policy file and the gates on disk\n" +
        "  docker       dockerd can find the plugin (socket in /run/docker/plugins or a spec in\n" +
        "               /etc/docker/plugins), and the running dockerd uses it (GET /info on its socket:\n" +
        "               Plugins.Authorization), or daemon.json's authorization-plugins (or a flag) names it\n" +
        "  policy       the policy loads, and only root can change it\n" +
        "  state-dir    mode 0700, owned by the user running doctor (run it as root on a systemd host)\n" +
        `  ca           the CA certificate's expiry (warns under ${EXPIRY_WARNING_DAYS} days), key permissions\n` +
        "  certificates expiry of the server and node certificates in the CA's index\n" +
        "  crl          crl.pem present, signed by the CA, not past its next update\n" +
        "  macaroon     the macaroon gate on (keyring present, mode 0600) or off\n" +
        "  audit        the audit log can be appended to\n" +
        "  fleet        on a fleet member: in sync with etcd, or how stale the snapshot is, and refused values\n" +
        "Doctor only reads: it changes nothing (its GET /info to dockerd is judged, and audited, like any call).\n\n" +
        "Exit codes: 0 everything ok, 1 something failed, 2 usage error, 3 warnings only.",
    )
    .example("sudo agent doctor")
    .example("agent doctor --json --state-dir ./state --policy ./policy.yaml --socket ./state/agent.sock")
    .action((options: DoctorCliOptions) => doctor(ctx, options));
}
