/** `agent doctor`'s run: the checks of src/doctor/, printed as lines or JSON (doctor.ts declares the command). */
import {
  doctorExitCode,
  type DoctorTarget,
  type Finding,
  overallStatus,
  runDoctor,
} from "../doctor/index.ts";
import { HOST_PATHS } from "../install/index.ts";
import { stateLayout } from "../store/layout.ts";
import {
  type CliContext,
  DEFAULT_POLICY_FILE,
  DEFAULT_SOCKET,
  type ExitCode,
  resolveStateDir,
} from "./context.ts";
import { type DoctorCliOptions, singleOption } from "./doctor.ts";
import { dockerSocketPath } from "./id/docker-socket.ts";

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
