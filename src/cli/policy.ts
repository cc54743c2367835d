/** `agent policy check|test|actions|demo`: validate a policy, try a decision, list the action names. */
import { cac } from "cac";
import { listRoutes } from "../authz/routes.ts";
import { tryDecision } from "../decide/try-decision.ts";
import { AgentError } from "../errors.ts";
import { DEMO_POLICY, loadPolicy, type Policy } from "../policy/index.ts";
import { readPolicy } from "../server/plugin-state.ts";
import { type CliContext, DEFAULT_POLICY_FILE, type ExitCode } from "./context.ts";
import type { CommandGroup } from "./group.ts";
import { REPEATABLE } from "./option-kinds.ts";

interface TestOptions {
  readonly policy?: string;
  readonly demo?: boolean;
  readonly user?: string;
  readonly method?: string;
  readonly uri?: string;
  readonly body?: string;
  readonly header?: string | string[];
  readonly json?: boolean;
}

async function check(ctx: CliContext, file: string | undefined): Promise<ExitCode> {
  const path = file ?? ctx.env["AGENT_POLICY"] ?? DEFAULT_POLICY_FILE;
  if (!(await ctx.fs.stat(path))) {
    const hint = file === undefined
      ? ": name the file to check (agent policy check FILE) or set AGENT_POLICY"
      : "";
    throw new AgentError("ERR_POLICY_MISSING", `no policy file at ${path}${hint}`);
  }
  const policy = await readPolicy(ctx.fs, { file: path });
  ctx.output.out(`${path}: ok, ${policy.ruleCount} rules, sha256 ${policy.hash}\n`);
  return 0;
}

async function testDecision(ctx: CliContext, options: TestOptions): Promise<ExitCode> {
  if (!options.method || !options.uri) {
    throw new AgentError("ERR_USAGE", "policy test needs --method and --uri");
  }
  if (options.demo && options.policy !== undefined) {
    throw new AgentError("ERR_USAGE", "give --policy FILE or --demo, not both");
  }
  const policy: Policy = options.demo
    ? loadPolicy(DEMO_POLICY, "embedded demo policy")
    : await readPolicy(ctx.fs, { file: options.policy ?? ctx.env["AGENT_POLICY"] ?? DEFAULT_POLICY_FILE });
  const headers: Record<string, string> = {};
  for (const h of [options.header ?? []].flat()) {
    const i = h.indexOf(":");
    if (i > 0) headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
  }
  const answer = await tryDecision(policy, {
    ...(options.user ? { user: options.user } : {}),
    method: options.method,
    uri: options.uri,
    ...(options.body ? { body: await ctx.fs.readBytes(options.body) } : {}),
    headers,
  });
  const { action, effect } = answer;
  const actionText = action ??
    (answer.code === "ERR_ROUTE_UNKNOWN" ? "(unknown route)" : "(request refused before routing)");
  const decision = { allow: answer.allow, ruleId: answer.ruleId, reason: answer.reason };
  if (options.json) {
    ctx.output.out(
      JSON.stringify({
        allow: decision.allow,
        action,
        effect,
        ruleId: decision.ruleId ?? null,
        reason: decision.reason,
        policyHash: policy.hash,
      }) +
        "\n",
    );
  } else {
    ctx.output.out(
      `${decision.allow ? "allow" : "deny"}  action=${actionText}${
        effect === null ? "" : `  effect=${effect}`
      }  rule=${decision.ruleId ?? "(none)"}\n  ${decision.reason}\n`,
    );
  }
  return decision.allow ? 0 : 1;
}

function actions(ctx: CliContext, json: boolean | undefined): ExitCode {
  const routes = listRoutes();
  if (json) {
    ctx.output.out(JSON.stringify(routes, null, 2) + "\n");
    return 0;
  }
  const width = Math.max(...routes.map((r) => r.action.length));
  for (const r of routes) {
    ctx.output.out(`${r.action.padEnd(width)}  ${r.effect.padEnd(5)}  ${r.method.padEnd(6)} ${r.pattern}\n`);
  }
  return 0;
}

export const policyCommands: CommandGroup = {
  name: "policy",
  summary: "Check a policy file, test a decision, list action names",
  build(ctx) {
    const cli = cac("agent policy");
    cli
      .command("check [file]", "Validate a policy file (errors name file:line:column)")
      .usage(
        `check [file]   (default ${DEFAULT_POLICY_FILE})\n\nExit codes: 0 valid, 1 invalid (reason on stderr), 2 usage.`,
      )
      .example("agent policy check /etc/agent/policy.yaml")
      .action((file: string | undefined) => check(ctx, file));
    cli
      .command("test", "Print the decision the plugin would make for one request")
      .option("--policy <file>", `Policy file (default ${DEFAULT_POLICY_FILE})`)
      .option("--demo", "Use the embedded demo policy")
      .option("--user <name>", "The user dockerd reports (the TLS certificate's CN); omit for anonymous")
      .option("--method <method>", "HTTP method, e.g. POST")
      .option("--uri <uri>", "Request URI as the docker client sends it, e.g. /v1.41/containers/create")
      .option("--body <file>", "JSON request body file")
      .option("--header <name:value>", "Request header (repeatable)", REPEATABLE)
      .option("--json", "Print the decision as JSON")
      .usage("test --user U --method M --uri URI [--body FILE]\n\nExit codes: 0 allowed, 1 denied, 2 usage.")
      .example(
        "agent policy test --policy policy.yaml --user bob --method POST --uri /v1.41/containers/create --body create.json",
      )
      .action((options: TestOptions) => testDecision(ctx, options));
    cli
      .command(
        "actions",
        "List every Engine API route: its action name, effect (read or write), method and path",
      )
      .option("--json", "Print as JSON")
      .action((options: { json?: boolean }) => actions(ctx, options.json));
    cli
      .command("demo", "Print the embedded demo policy (a starting point for /etc/agent/policy.yaml)")
      .action(() => {
        ctx.output.out(DEMO_POLICY);
        return 0;
      });
    return cli;
  },
};
