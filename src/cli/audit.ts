/** `agent audit tail`: reads the audit log (JSON Lines), optionally following it. */
import { cac } from "cac";
import type { AuditEvent } from "../audit/event.ts";
import { stateLayout } from "../store/layout.ts";
import { type CliContext, type ExitCode, resolveStateDir } from "./context.ts";
import type { CommandGroup } from "./group.ts";
import { integer } from "./option-kinds.ts";

interface TailOptions {
  readonly stateDir?: string;
  readonly auditLog?: string;
  readonly n?: number;
  readonly follow?: boolean;
  readonly json?: boolean;
}

/** One readable line per event: time, verdict, user, action, rule, reason, decision id. */
export function formatEvent(line: string): string {
  let e: Partial<AuditEvent>;
  try {
    e = JSON.parse(line) as Partial<AuditEvent>;
  } catch {
    return `(unreadable audit line)`;
  }
  const verdict = e.allow ? "allow" : "DENY ";
  const who = e.user ?? "anonymous";
  const what = e.action ?? `${e.method ?? "?"} ${e.uri ?? "?"}`;
  const rule = e.ruleId ? ` rule=${e.ruleId}` : "";
  const status = e.status ? ` status=${e.status}` : "";
  return `${e.time} ${verdict} ${
    e.phase === "response" ? "res" : "req"
  } ${who} ${what}${rule}${status} - ${e.reason} [${e.decisionId}]`;
}

async function tail(ctx: CliContext, options: TailOptions): Promise<ExitCode> {
  const path = options.auditLog ?? stateLayout(resolveStateDir(options.stateDir, ctx.env)).auditLog;
  const count = options.n ?? 20;
  const emit = (line: string) => ctx.output.out(`${options.json ? line : formatEvent(line)}\n`);
  const info = await ctx.fs.stat(path);
  if (!info && !options.follow) {
    ctx.output.err(`agent: no audit log at ${path} yet\n`);
    return 1;
  }
  let text = info ? await ctx.fs.readText(path) : "";
  const lines = text.split("\n").filter((l) => l.length > 0);
  for (const line of lines.slice(lines.length - Math.min(count, lines.length))) emit(line);
  if (!options.follow) return 0;
  let offset = text.length;
  for (;;) {
    await ctx.platform.sleep(250);
    const now = await ctx.fs.stat(path);
    if (!now) continue;
    if (now.size < offset) offset = 0; // rotated: start the new file from the top
    if (now.size === offset) continue;
    text = await ctx.fs.readText(path);
    const fresh = text.slice(offset);
    const end = fresh.lastIndexOf("\n");
    if (end < 0) continue;
    for (const line of fresh.slice(0, end).split("\n").filter((l) => l.length > 0)) emit(line);
    offset += end + 1;
  }
}

export const auditCommands: CommandGroup = {
  name: "audit",
  summary: "Read the audit log of decisions",
  build(ctx) {
    const cli = cac("agent audit");
    cli
      .command("tail", "Print the last decisions (and follow new ones with --follow)")
      .option("--state-dir <dir>", "State directory (default /var/lib/agent, or $AGENT_STATE_DIR)")
      .option("--audit-log <file>", "Audit log file (default <state-dir>/audit.log)")
      .option(
        "-n <count>",
        "How many recent events to print (default 20; 0 with --follow: only new ones)",
        integer(0),
      )
      .option("--follow, -f", "Keep printing new events as they are written")
      .option("--json", "Print the raw JSON Lines")
      .example("agent audit tail -n 50 --follow")
      .usage("tail [options]\n\nExit codes: 0 ok, 1 no audit log yet, 2 usage error.")
      .action((options: TailOptions) => tail(ctx, options));
    return cli;
  },
};
