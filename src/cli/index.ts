/** The command line: picks the group from the first word and lets that group's cac parse the rest. */
import { cac } from "cac";
import { AgentError, isAgentError } from "../errors.ts";
import type { CliContext, ExitCode } from "./context.ts";
import type { CommandGroup } from "./group.ts";

export async function runCli(
  argv: readonly string[],
  ctx: CliContext,
  groups: readonly CommandGroup[],
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
  groups: readonly CommandGroup[],
): Promise<ExitCode> {
  const first = argv[0];
  if (first === undefined || first === "help" || first === "--help" || first === "-h") {
    ctx.output.out(topLevelHelp(groups, ctx));
    return first === undefined ? 2 : 0;
  }
  if (first === "--version" || first === "-v" || first === "version") {
    ctx.output.out(`agent ${ctx.build.version} (${ctx.build.commit})\n`);
    return 0;
  }
  const group = groups.find((g) => g.name === first && g.name !== "");
  const topLevel = groups.find((g) => g.name === "");
  const cli = group ? group.build(ctx) : topLevel?.build(ctx);
  if (!cli) throw new AgentError("ERR_USAGE", `unknown command: ${first}`);
  cli.help(); // makes --help print the command's usage, options and examples
  const rest = group ? argv.slice(1) : argv;
  if (group && (rest.length === 0 || rest[0] === "help")) {
    cli.outputHelp();
    return rest.length === 0 ? 2 : 0;
  }
  cli.parse(["agent", group ? `agent ${group.name}` : "agent", ...rest], { run: false });
  if (cli.options["help"] === true || cli.options["h"] === true) return 0;
  if (!cli.matchedCommand) {
    throw new AgentError(
      "ERR_USAGE",
      `unknown command: agent ${[group?.name, rest[0]].filter(Boolean).join(" ")}`,
    );
  }
  const result: unknown = await cli.runMatchedCommand();
  return typeof result === "number" ? result : 0;
}

function reportError(err: unknown, ctx: CliContext): ExitCode {
  if (isAgentError(err)) {
    ctx.output.err(`agent: ${err.message} [${err.code}]\n`);
    if (err.detail !== undefined && ctx.env["AGENT_DEBUG"]) ctx.output.err(`  detail: ${err.detail}\n`);
    return err.code === "ERR_USAGE" ? 2 : 1;
  }
  // cac throws plain errors for usage problems (unknown option, missing argument).
  if (err instanceof Error && err.name === "CACError") {
    ctx.output.err(`agent: ${err.message} [ERR_USAGE]\n`);
    return 2;
  }
  ctx.output.err(`agent: internal error [ERR_INTERNAL]\n`);
  if (ctx.env["AGENT_DEBUG"]) {
    ctx.output.err(`  detail: ${err instanceof Error ? err.message : String(err)}\n`);
  }
  return 1;
}

function topLevelHelp(groups: readonly CommandGroup[], ctx: CliContext): string {
  const lines = [
    `agent ${ctx.build.version} - guards a Docker host's Engine API`,
    "",
    "Usage: agent <command> [options]",
    "",
    "Commands:",
  ];
  for (const g of groups) {
    if (g.name === "") {
      for (const c of g.build(ctx).commands) lines.push(`  ${c.name.padEnd(10)} ${c.description}`);
    } else {
      lines.push(`  ${g.name.padEnd(10)} ${g.summary}`);
    }
  }
  lines.push("", "Run `agent <command> --help` for details. Exit codes: 0 ok, 1 failure, 2 usage error.", "");
  return lines.join("\n");
}

export { cac };
