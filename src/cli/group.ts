/**
 * A command group (`agent ca ...`, `agent id ...`) is its own cac instance: cac matches only the first word,
 * so `agent ca init` is dispatched to the `ca` group, whose cac then matches `init`.
 */
import type { CAC } from "cac";
import type { CliContext, ExitCode } from "./context.ts";

export interface CommandGroup {
  /** The first word after `agent` (e.g. "ca"); "" for top-level commands such as `serve`. */
  readonly name: string;
  readonly summary: string;
  /** A paragraph for the group's help (`agent ca --help`), between the usage line and the commands. */
  readonly overview?: string;
  /** Build the group's cac instance. Actions return (a promise of) an exit code or nothing (0). */
  build(ctx: CliContext): CAC;
}

/**
 * A group known by its name and summary until it is used: its module (and everything it imports: the X.509
 * stack, the HTTPS API) is loaded only then, so `agent id exec` does not pay for `agent serve`.
 */
export interface LazyGroup {
  readonly name: string;
  readonly summary: string;
  load(): Promise<CommandGroup>;
}

export type GroupEntry = CommandGroup | LazyGroup;

export async function loadGroup(entry: GroupEntry): Promise<CommandGroup> {
  return "build" in entry ? entry : await entry.load();
}

export type Action = ExitCode | void | Promise<ExitCode | void>;
