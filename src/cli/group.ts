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

export type Action = ExitCode | void | Promise<ExitCode | void>;
