/**
 * What an option's value is, declared where the option is. The command line keeps every value as the exact
 * string typed ("0042" stays "0042", "007" stays "007"); only options declared here are anything else.
 */
import type { Command } from "cac";

type OptionConfig = NonNullable<Parameters<Command["option"]>[2]>;

export interface AgentOptionConfig extends OptionConfig {
  /** The option may be given more than once; its value is then the list, in command-line order. */
  readonly repeatable?: boolean;
  /** The value is a whole number in this range, handed to the command as a number. */
  readonly integer?: { readonly min: number; readonly max?: number };
}

/** `--ou admins --ou ops`: every value, in order (cac's `type: [String]` spelling keeps help and types). */
export const REPEATABLE: AgentOptionConfig = { type: [String], repeatable: true };

/** A whole number of at least `min` (and at most `max`), e.g. `--days 30`. */
export function integer(min: number, max?: number): AgentOptionConfig {
  return { integer: max === undefined ? { min } : { min, max } };
}

export function optionConfig(option: Command["options"][number]): AgentOptionConfig {
  return option.config as AgentOptionConfig;
}

interface AgentCommandConfig {
  passthrough?: boolean;
}

/**
 * Everything after the command's fixed positional words is handed on untouched, options included:
 * `agent id exec TOKEN docker ps -a --format X` runs `docker ps -a --format X`, with or without `--`.
 */
export function passthrough(command: Command): Command {
  (command.config as AgentCommandConfig).passthrough = true;
  return command;
}

export function isPassthrough(command: Command): boolean {
  return (command.config as AgentCommandConfig).passthrough === true;
}
