/**
 * The client command groups of the HTTPS API (`agent node|service|container|action ...`), after the
 * docker-cloud CLI's nouns and verbs, built from one description per resource: `ls` (a table for people,
 * `--json` for scripts), `inspect` (JSON), and the verbs the resource has. Objects are named by uuid,
 * resource_uri, or, for resources with names, a unique name. Configured from the environment like Docker
 * Cloud's tools (src/client/config.ts).
 */
import { type CAC, cac } from "cac";
import { clientConfig } from "../client/config.ts";
import { type ApiClient, apiClient } from "../client/rest.ts";
import { AgentError } from "../errors.ts";
import type { CliContext, ExitCode } from "./context.ts";
import type { CommandGroup } from "./group.ts";

export const CLIENT_ENVIRONMENT =
  "Needs AGENT_HOST=https://HOST:PORT and AGENT_USER + AGENT_APIKEY (or AGENT_AUTH);\n" +
  "AGENT_CACERT names the CA to trust (the agent's cluster.crt), AGENT_NAMESPACE the namespace.\n" +
  "The DOCKERCLOUD_* names (REST_HOST, USER, APIKEY, AUTH, NAMESPACE) work too.";

export type ApiObject = Record<string, unknown>;

export interface Column {
  readonly header: string;
  readonly cell: (object: ApiObject) => unknown;
}

/** A verb of an object: `agent service start UUID` is POST .../service/UUID/start/. */
export interface Verb {
  readonly name: string;
  readonly description: string;
  readonly method: "POST" | "DELETE";
  /** The path segment after the object (`start`); none for DELETE of the object itself. */
  readonly segment?: string;
}

export interface ResourceSpec {
  readonly group: string;
  readonly summary: string;
  readonly subsystem: string;
  readonly resource: string;
  readonly columns: readonly Column[];
  readonly verbs: readonly Verb[];
  /** Objects have unique names the user may type instead of a uuid. */
  readonly named: boolean;
  /** More commands (service run, scale, logs): added to the group's cac. */
  readonly extra?: (cli: CAC, resource: ResourceAccess, ctx: CliContext) => void;
}

/** What extra commands get: the client, and an object's uuid from what the user typed. */
export interface ResourceAccess {
  client(): Promise<ApiClient>;
  resolve(client: ApiClient, ref: string): Promise<string>;
  print(object: ApiObject, json: boolean): void;
}

export function text(value: unknown): string {
  return value === undefined || value === null ? "-" : String(value);
}

/** Columns padded to their widest cell; values from the server are shown as text, anything unprintable as ?. */
export function renderTable(rows: readonly (readonly string[])[]): string {
  const safe = rows.map((row) => row.map((cell) => cell.replace(/[^\x20-\x7e]/g, "?")));
  const widths = safe[0]!.map((_, i) => Math.max(...safe.map((row) => row[i]!.length)));
  return safe.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n") +
    "\n";
}

export function resourceGroup(spec: ResourceSpec): CommandGroup {
  return {
    name: spec.group,
    summary: spec.summary,
    overview: "The client side of the HTTPS API (agent serve --listen).\n" + CLIENT_ENVIRONMENT,
    build(ctx) {
      const cli = cac(`agent ${spec.group}`);
      const access = accessOf(ctx, spec);
      const table = (objects: readonly ApiObject[]) =>
        renderTable([
          spec.columns.map((c) => c.header),
          ...objects.map((o) => spec.columns.map((c) => text(c.cell(o)))),
        ]);
      const ref = spec.named ? "UUID|NAME" : "UUID";

      cli
        .command("ls", `List the ${spec.resource}s`)
        .alias("ps")
        .option("--json", "Print the objects as JSON")
        .usage(`ls [--json]\n\n${CLIENT_ENVIRONMENT}`)
        .action(async (options: { json?: boolean }): Promise<ExitCode> => {
          const objects = await (await access.client()).list(spec.subsystem, spec.resource);
          ctx.output.out(options.json === true ? JSON.stringify(objects, null, 2) + "\n" : table(objects));
          return 0;
        });
      cli
        .command(
          "inspect <ref>",
          `Show one ${spec.resource} as JSON (by ${ref.toLowerCase()} or resource_uri)`,
        )
        .usage(`inspect ${ref}\n\n${CLIENT_ENVIRONMENT}`)
        .action(async (typed: string): Promise<ExitCode> => {
          const client = await access.client();
          access.print(
            await client.get(spec.subsystem, spec.resource, await access.resolve(client, typed)),
            true,
          );
          return 0;
        });
      for (const verb of spec.verbs) {
        cli
          .command(`${verb.name} <ref>`, verb.description)
          .option("--json", "Print the object the agent answers with as JSON")
          .usage(`${verb.name} ${ref} [--json]\n\n${CLIENT_ENVIRONMENT}`)
          .action(async (typed: string, options: { json?: boolean }): Promise<ExitCode> => {
            const client = await access.client();
            const id = await access.resolve(client, typed);
            const answer = await client.send(verb.method, spec.subsystem, spec.resource, {
              id,
              ...(verb.segment === undefined ? {} : { verb: verb.segment }),
            });
            access.print(answer, options.json === true);
            return 0;
          });
      }
      spec.extra?.(cli, access, ctx);
      return cli;
    },
  };
}

function accessOf(ctx: CliContext, spec: ResourceSpec): ResourceAccess {
  return {
    client: async () => apiClient(ctx.platform, await clientConfig(ctx.env, ctx.fs)),
    async resolve(client, typed) {
      if (typed === "") {
        throw new AgentError("ERR_USAGE", `name the ${spec.resource} (its uuid or resource_uri)`);
      }
      if (!spec.named || typed.startsWith("/api/") || /^[0-9a-f-]{32,64}$/i.test(typed)) return typed;
      const matches = (await client.list(spec.subsystem, spec.resource)).filter((o) =>
        o["name"] === typed && o["state"] !== "Terminated"
      );
      if (matches.length !== 1) {
        throw new AgentError(
          "ERR_USAGE",
          matches.length === 0
            ? `no ${spec.resource} named ${JSON.stringify(typed)} (see agent ${spec.group} ls)`
            : `${matches.length} ${spec.resource}s are named ${JSON.stringify(typed)}: give the uuid`,
        );
      }
      return text(matches[0]!["uuid"]);
    },
    print(object, json) {
      if (json) ctx.output.out(JSON.stringify(object, null, 2) + "\n");
      else {ctx.output.out(
          `${text(object["uuid"])}  ${text(object["name"] ?? object["action"])}  ${text(object["state"])}\n`,
        );}
    },
  };
}
