/**
 * `agent doctor`: checks this host's agent, dockerd configuration and state, in plain words. The checks
 * (doctor-run.ts, with the X.509 library for the CA's) load only when doctor runs, not with `agent serve`.
 */
import type { CAC } from "cac";
import { EXPIRY_WARNING_DAYS } from "../doctor/context.ts";
import { AgentError } from "../errors.ts";
import { HOST_PATHS } from "../install/index.ts";
import { type CliContext, DEFAULT_POLICY_FILE, DEFAULT_SOCKET } from "./context.ts";
import { DEFAULT_DOCKER_SOCKET } from "./id/docker-socket.ts";

/** As cac parses them: a repeated flag arrives as a list. */
export interface DoctorCliOptions {
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
    .action(async (options: DoctorCliOptions) => (await import("./doctor-run.ts")).doctor(ctx, options));
}
