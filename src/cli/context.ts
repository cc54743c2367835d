/** What every command receives: the runtime's services, injected by main.ts (tests pass their own). */
import type { Clock, Env, FileSystem, Output, Platform, RandomBytes } from "../ports.ts";
import { joinPath } from "../store/path.ts";

export interface BuildInfo {
  readonly version: string;
  readonly commit: string;
}

export interface CliContext {
  readonly fs: FileSystem;
  readonly clock: Clock;
  readonly random: RandomBytes;
  readonly env: Env;
  readonly output: Output;
  readonly build: BuildInfo;
  /** Sockets, signals, processes: only commands that serve or spawn use it. */
  readonly platform: Platform;
}

/** Exit status a command returns; main.ts is the only place that turns it into a process exit code. */
export type ExitCode = number;

export const DEFAULT_STATE_DIR = "/var/lib/agent";
export const DEFAULT_POLICY_FILE = "/etc/agent/policy.yaml";
export const DEFAULT_SOCKET = "/run/docker/plugins/agent.sock";

export function resolveStateDir(option: unknown, env: Env): string {
  if (typeof option === "string" && option.length > 0) return option;
  const fromEnv = env["AGENT_STATE_DIR"];
  if (fromEnv !== undefined && fromEnv.length > 0) return fromEnv;
  return DEFAULT_STATE_DIR;
}

/** A path given on the command line, made absolute against the working directory (it is stored for later). */
export function absolutePath(ctx: Pick<CliContext, "env">, path: string): string {
  return path.startsWith("/") ? path : joinPath(ctx.env["PWD"] ?? "/", path);
}
