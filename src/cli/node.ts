/**
 * `agent node ls|inspect`: the client side of the HTTPS API's node resource (docker-cloud's `node ls` and
 * `node inspect`), configured from the environment like Docker Cloud's tools (src/client/config.ts): a
 * table for people, `--json` for scripts.
 */
import { cac } from "cac";
import { apiClient } from "../client/rest.ts";
import { clientConfig } from "../client/config.ts";
import type { CliContext, ExitCode } from "./context.ts";
import type { CommandGroup } from "./group.ts";

const ENVIRONMENT = "Needs AGENT_HOST=https://HOST:PORT and AGENT_USER + AGENT_APIKEY (or AGENT_AUTH);\n" +
  "AGENT_CACERT names the CA to trust (the agent's cluster.crt), AGENT_NAMESPACE the namespace.\n" +
  "The DOCKERCLOUD_* names (REST_HOST, USER, APIKEY, AUTH, NAMESPACE) work too.";

function text(value: unknown): string {
  return value === undefined || value === null ? "-" : String(value);
}

/** Columns padded to their widest cell (values from the server are shown as text, control characters escaped). */
export function renderTable(rows: readonly (readonly string[])[]): string {
  const safe = rows.map((row) => row.map((cell) => cell.replace(/[^\x20-\x7e]/g, "?")));
  const widths = safe[0]!.map((_, i) => Math.max(...safe.map((row) => row[i]!.length)));
  return safe.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n") +
    "\n";
}

async function ls(ctx: CliContext, json: boolean): Promise<ExitCode> {
  const client = apiClient(ctx.platform, await clientConfig(ctx.env, ctx.fs));
  const nodes = await client.list("infra", "node");
  if (json) {
    ctx.output.out(JSON.stringify(nodes, null, 2) + "\n");
    return 0;
  }
  const rows = [["UUID", "NAME", "STATE", "DOCKER", "CPU", "MEMORY", "CONTAINERS", "RUNNING"]];
  for (const n of nodes) {
    rows.push([
      text(n["uuid"]),
      text(n["name"]),
      text(n["state"]),
      text(n["docker_version"]),
      text(n["cpu"]),
      n["memory"] === undefined ? "-" : `${text(n["memory"])} MB`,
      text(n["current_num_containers"]),
      text(n["running_num_containers"]),
    ]);
  }
  ctx.output.out(renderTable(rows));
  return 0;
}

async function inspect(ctx: CliContext, id: string): Promise<ExitCode> {
  const client = apiClient(ctx.platform, await clientConfig(ctx.env, ctx.fs));
  ctx.output.out(JSON.stringify(await client.get("infra", "node", id), null, 2) + "\n");
  return 0;
}

export const nodeCommands: CommandGroup = {
  name: "node",
  summary: "Client: the nodes an agent's HTTPS API serves (ls, inspect)",
  overview: "The client side of the HTTPS API (agent serve --listen).\n" + ENVIRONMENT,
  build(ctx) {
    const cli = cac("agent node");
    cli
      .command("ls", "List the nodes (this host, for a single agent)")
      .option("--json", "Print the objects as JSON")
      .usage(`ls [--json]\n\n${ENVIRONMENT}`)
      .example("AGENT_HOST=https://docker1:8443 AGENT_CACERT=cluster.crt agent node ls")
      .action((options: { json?: boolean }) => ls(ctx, options.json === true));
    cli
      .command("inspect <uuid>", "Show one node as JSON (by uuid or resource_uri)")
      .usage(`inspect UUID\n\n${ENVIRONMENT}`)
      .action((uuid: string) => inspect(ctx, uuid));
    return cli;
  },
};
