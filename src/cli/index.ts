/** The command line: picks the group from the first word, reads the rest with argv.ts, runs the command. */
import { versionLine } from "./version.ts";
import { cac } from "cac";
import { AgentError, isAgentError } from "../errors.ts";
import { parseCommandLine } from "./argv.ts";
import type { CliContext, ExitCode } from "./context.ts";
import { type CommandGroup, type GroupEntry, loadGroup } from "./group.ts";
import { renderHelp } from "./help.ts";

export async function runCli(
  argv: readonly string[],
  ctx: CliContext,
  groups: readonly GroupEntry[],
): Promise<ExitCode> {
  try {
    return await dispatch(argv, ctx, groups);
  } catch (err) {
    return reportError(err, ctx);
  }
}

async function dispatch(
  argv: readonly string[],
  ctx: CliContext,
  groups: readonly GroupEntry[],
): Promise<ExitCode> {
  const first = argv[0];
  if (first === undefined || first === "help" || first === "--help" || first === "-h") {
    ctx.output.out(await topLevelHelp(groups, ctx));
    return first === undefined ? 2 : 0;
  }
  if (first === "--version" || first === "-v" || first === "version") {
    ctx.output.out(versionLine(ctx.build));
    return 0;
  }
  const entry = groups.find((g) => g.name === first && g.name !== "") ?? groups.find((g) => g.name === "");
  if (entry === undefined) throw new AgentError("ERR_USAGE", `unknown command: agent ${first}`);
  const group: CommandGroup = await loadGroup(entry);
  const cli = group.build(ctx);
  const rest = group.name === "" ? argv : argv.slice(1);
  const program = group.name === "" ? "agent" : `agent ${group.name}`;
  // A group with a default command (`agent event`) runs it without words; the others show their help.
  const bare = rest.length === 0 && !cli.commands.some((c) => c.isDefaultCommand);
  if (group.name !== "" && (bare || rest[0] === "help")) {
    ctx.output.out(renderHelp(cli, group, undefined));
    return rest.length === 0 ? 2 : 0;
  }
  const parsed = parseCommandLine(cli, rest, program);
  if (parsed.help || parsed.command === undefined) {
    ctx.output.out(renderHelp(cli, group, parsed.command));
    return parsed.help ? 0 : 2;
  }
  cli.args = parsed.args;
  cli.options = parsed.options;
  cli.matchedCommand = parsed.command;
  cli.matchedCommandName = parsed.command.name;
  const result: unknown = await cli.runMatchedCommand();
  return typeof result === "number" ? result : 0;
}

function reportError(err: unknown, ctx: CliContext): ExitCode {
  if (isAgentError(err)) {
    ctx.output.err(`agent: ${err.message} [${err.code}]\n`);
    if (err.detail !== undefined && ctx.env["AGENT_DEBUG"]) ctx.output.err(`  detail: ${err.detail}\n`);
    return err.code === "ERR_USAGE" ? 2 : 1;
  }
  // cac's own checks (a missing required argument, an unused one) throw plain errors.
  if (err instanceof Error && err.name === "CACError") {
    ctx.output.err(`agent: ${withoutSecrets(err.message)} [ERR_USAGE]\n`);
    return 2;
  }
  ctx.output.err(`agent: internal error [ERR_INTERNAL]\n`);
  if (ctx.env["AGENT_DEBUG"]) {
    ctx.output.err(`  detail: ${err instanceof Error ? err.message : String(err)}\n`);
  }
  return 1;
}

/**
 * cac quotes the arguments it did not use ("Unused args: `agt_...`"): a key or token typed where it does not
 * belong (`agent apikey set alice KEY`) would be echoed. The words that could be one are counted, not shown.
 */
export function withoutSecrets(message: string): string {
  const unused = /^Unused args: (.*)$/s.exec(message);
  if (unused === null) return message;
  const words = unused[1]!.split(/`,?\s*`?/).filter((word) => word !== "");
  const mayBeSecret = (word: string) => word.length >= 20 || /^agt_/i.test(word);
  const shown = words.filter((word) => !mayBeSecret(word)).map((word) => `\`${word}\``);
  const hidden = words.length - shown.length;
  return [
    `too many arguments${shown.length === 0 ? "" : `: ${shown.join(", ")}`}`,
    ...(hidden === 0
      ? []
      : [`${hidden} more not shown (it may be a key or a token: never put one on the command line)`]),
  ].join("; ");
}

async function topLevelHelp(groups: readonly GroupEntry[], ctx: CliContext): Promise<string> {
  const lines = [
    `agent ${ctx.build.version} - guards a Docker host's Engine API`,
    "",
    "Usage: agent <command> [options]",
    "",
    "Commands:",
  ];
  for (const g of groups) {
    if (g.name === "") {
      for (const c of (await loadGroup(g)).build(ctx).commands) {
        lines.push(`  ${c.name.padEnd(10)} ${c.description}`);
      }
    } else {
      lines.push(`  ${g.name.padEnd(10)} ${g.summary}`);
    }
  }
  lines.push("", "Run `agent <command> --help` for details. Exit codes: 0 ok, 1 failure, 2 usage error.", "");
  return lines.join("\n");
}

export { cac };
