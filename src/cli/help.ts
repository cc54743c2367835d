/**
 * Help text for every group and command, written through the CLI's output (cac's own help goes to the
 * console, which tests cannot read). One layout for all: description, usage, options, examples, exit codes.
 */
import type { CAC, Command } from "cac";
import type { CommandGroup } from "./group.ts";

export const EXIT_CODES = "Exit codes: 0 ok, 1 failure (reason on stderr), 2 usage error.";
const HELP_LINE = { rawName: "-h, --help", description: "Show this help" };

type Described = { readonly rawName: string; readonly description: string };

function table(rows: readonly Described[]): string[] {
  const width = Math.max(0, ...rows.map((r) => r.rawName.length));
  return rows.map((r) => `  ${r.rawName.padEnd(width)}  ${r.description}`);
}

/** `agent ca revoke --help`, or the group's overview when no command is named. */
export function renderHelp(cli: CAC, group: CommandGroup, command: Command | undefined): string {
  const program = group.name === "" ? "agent" : `agent ${group.name}`;
  const globals = cli.globalCommand.options;
  if (command === undefined) {
    return [
      `Usage: ${program} <command> [options]`,
      "",
      ...(group.overview === undefined ? [] : [group.overview, ""]),
      "Commands:",
      ...table(cli.commands),
      ...(globals.length > 0 ? ["", "Options for every command:", ...table([...globals, HELP_LINE])] : []),
      "",
      `Run \`${program} <command> --help\` for details and examples.`,
      EXIT_CODES,
      "",
    ].join("\n");
  }
  const own = command.options.filter((o) => !globals.some((g) => g.rawName === o.rawName));
  const usage = command.usageText ?? command.rawName;
  const lines = [command.description, "", `Usage: ${program} ${usage}`, ""];
  lines.push("Options:", ...table([...own, ...globals, HELP_LINE]));
  if (command.examples.length > 0) {
    lines.push(
      "",
      "Examples:",
      ...command.examples.map((e) => `  ${typeof e === "function" ? e(program) : e}`),
    );
  }
  if (!usage.includes("Exit code")) lines.push("", EXIT_CODES);
  lines.push("");
  return lines.join("\n");
}
