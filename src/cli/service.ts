/**
 * `agent service ls|inspect|create|run|start|stop|scale|redeploy|rm|logs`: services of the caller's
 * namespace, after docker-cloud's `service` commands (`run` is create, then start; `logs` is the Stream
 * API's websocket).
 */
import type { CAC } from "cac";
import { AgentError } from "../errors.ts";
import { type ApiObject, CLIENT_ENVIRONMENT, type ResourceAccess, resourceGroup } from "./api-group.ts";
import type { ExitCode } from "./context.ts";
import { integer, REPEATABLE } from "./option-kinds.ts";
import { addLogs } from "./stream-commands.ts";

interface CreateOptions {
  readonly name?: string;
  readonly targetNumContainers?: number;
  readonly env?: string[];
  readonly label?: string[];
  readonly volume?: string[];
  readonly runCommand?: string;
  readonly entrypoint?: string;
  readonly workdir?: string;
  readonly autorestart?: string;
  readonly privileged?: boolean;
  readonly publish?: string[];
  readonly role?: string;
  readonly cpuShares?: number;
  readonly memory?: number;
  readonly json?: boolean;
}

/** `-p [HOST:]CONTAINER[/tcp|udp]` as Docker Cloud's `container_ports` (published; HOST omitted: dockerd picks). */
function port(value: string) {
  const m = /^(?:([0-9]{1,5}):)?([0-9]{1,5})(?:\/(tcp|udp))?$/.exec(value);
  const outer = m?.[1] === undefined ? null : Number(m[1]);
  const inner = m === null ? 0 : Number(m[2]);
  if (m === null || inner < 1 || inner > 65535 || (outer !== null && (outer < 1 || outer > 65535))) {
    throw new AgentError(
      "ERR_USAGE",
      `--publish takes [HOST_PORT:]CONTAINER_PORT[/tcp|udp] (got ${JSON.stringify(value)})`,
    );
  }
  return { protocol: m[3] ?? "tcp", inner_port: inner, outer_port: outer, published: true };
}

function pairs(values: readonly string[] | undefined, option: string): [string, string][] {
  return (values ?? []).map((value) => {
    const i = value.indexOf("=");
    if (i <= 0) throw new AgentError("ERR_USAGE", `${option} takes KEY=VALUE (got ${JSON.stringify(value)})`);
    return [value.slice(0, i), value.slice(i + 1)];
  });
}

/** `-v /host:/container[:ro]` as Docker Cloud's `bindings`. */
function binding(value: string) {
  const parts = value.split(":");
  if (
    parts.length < 2 || parts.length > 3 || parts[0] === "" || parts[1] === "" || (parts[2] ?? "rw") === ""
  ) {
    throw new AgentError(
      "ERR_USAGE",
      `--volume takes HOST_PATH:CONTAINER_PATH[:ro] (got ${JSON.stringify(value)})`,
    );
  }
  const mode = parts[2] ?? "rw";
  if (mode !== "ro" && mode !== "rw") throw new AgentError("ERR_USAGE", `--volume mode must be ro or rw`);
  return { host_path: parts[0], container_path: parts[1], rewritable: mode === "rw" };
}

function role(value: string): string {
  if (value !== "global" && value !== "read") {
    throw new AgentError("ERR_USAGE", `--role is global or read (got ${JSON.stringify(value)})`);
  }
  return value;
}

/** The create body Docker Cloud's API takes, from the command line. */
export function serviceSpec(image: string, options: CreateOptions): ApiObject {
  // docker-cloud names a service after its image when no name is given: `tiny:latest` -> `tiny`.
  const name = options.name ?? (image.split("/").pop() ?? image).split(/[:@]/)[0]!;
  return {
    image,
    name,
    ...(options.targetNumContainers === undefined
      ? {}
      : { target_num_containers: options.targetNumContainers }),
    ...(options.env === undefined
      ? {}
      : { container_envvars: pairs(options.env, "--env").map(([key, value]) => ({ key, value })) }),
    ...(options.label === undefined ? {} : { labels: Object.fromEntries(pairs(options.label, "--label")) }),
    ...(options.volume === undefined ? {} : { bindings: options.volume.map(binding) }),
    ...(options.runCommand === undefined ? {} : { run_command: options.runCommand }),
    ...(options.entrypoint === undefined ? {} : { entrypoint: options.entrypoint }),
    ...(options.workdir === undefined ? {} : { working_dir: options.workdir }),
    ...(options.autorestart === undefined ? {} : { autorestart: options.autorestart }),
    ...(options.privileged === true ? { privileged: true } : {}),
    ...(options.publish === undefined ? {} : { container_ports: options.publish.map(port) }),
    ...(options.role === undefined ? {} : { roles: [role(options.role)] }),
    ...(options.cpuShares === undefined ? {} : { cpu_shares: options.cpuShares }),
    ...(options.memory === undefined ? {} : { memory: options.memory }),
  };
}

function addCreate(cli: CAC, access: ResourceAccess, verb: "create" | "run"): void {
  cli
    .command(
      `${verb} <image>`,
      verb === "run" ? "Create a service and start it" : "Create a service (not started)",
    )
    .option("--name <name>", "The service's name (default: the image's name); containers are NAME-1..N")
    .option("--target-num-containers <n>", "How many containers (default 1)", integer(0, 10))
    .option("-e, --env <key=value>", "An environment variable of its containers (repeatable)", REPEATABLE)
    .option(
      "--label <key=value>",
      "A label of its containers (repeatable; io.agent.* is the agent's)",
      REPEATABLE,
    )
    .option(
      "-v, --volume <host:container[:ro]>",
      "A bind mount (repeatable; the policy judges it)",
      REPEATABLE,
    )
    .option("--run-command <command>", "The command its containers run")
    .option("--entrypoint <entrypoint>", "The entrypoint of its containers")
    .option("--workdir <dir>", "The working directory of its containers")
    .option("--autorestart <mode>", "OFF, ON_FAILURE or ALWAYS")
    .option("--privileged", "Privileged containers (most policies refuse it)")
    .option(
      "-p, --publish <[host:]port[/proto]>",
      "Publish a container port on the host (repeatable; HOST omitted: dockerd picks one)",
      REPEATABLE,
    )
    .option("--role <role>", "An API role: global or read (its containers get AGENT_AUTH / DOCKERCLOUD_AUTH)")
    .option("--cpu-shares <n>", "Relative CPU weight of each container", integer(2, 262144))
    .option("--memory <mb>", "Memory limit of each container, in MB", integer(6, 1048576))
    .option("--json", "Print the service as JSON")
    .usage(
      `${verb} IMAGE [--name NAME] [--target-num-containers N] [-e KEY=VALUE ...] [--run-command CMD]\n\n` +
        CLIENT_ENVIRONMENT,
    )
    .example(
      `agent service ${verb} tiny:latest --name web --target-num-containers 2 --run-command "sleep 3600"`,
    )
    .action(async (image: string, options: CreateOptions): Promise<ExitCode> => {
      const client = await access.client();
      let service = await client.send("POST", "app", "service", { body: serviceSpec(image, options) });
      if (verb === "run") {
        service = await client.send("POST", "app", "service", { id: String(service["uuid"]), verb: "start" });
      }
      access.print(service, options.json === true);
      return 0;
    });
}

export const serviceCommands = resourceGroup({
  group: "service",
  summary:
    "Client: services of your namespace (ls, inspect, create, run, start, stop, scale, redeploy, rm, logs)",
  subsystem: "app",
  resource: "service",
  named: true,
  verbs: [
    {
      name: "start",
      description: "Create the missing containers and start them",
      method: "POST",
      segment: "start",
    },
    { name: "stop", description: "Stop its containers", method: "POST", segment: "stop" },
    {
      name: "redeploy",
      description: "Remove its containers and create them again",
      method: "POST",
      segment: "redeploy",
    },
    { name: "rm", description: "Terminate it: remove its containers", method: "DELETE" },
  ],
  columns: [
    { header: "NAME", cell: (s) => s["name"] },
    { header: "UUID", cell: (s) => String(s["uuid"] ?? "").slice(0, 8) },
    { header: "STATE", cell: (s) => s["state"] },
    { header: "IMAGE", cell: (s) => s["image_name"] },
    {
      header: "#CONTAINERS",
      cell: (s) => `${String(s["running_num_containers"] ?? 0)}/${String(s["target_num_containers"] ?? 0)}`,
    },
  ],
  extra(cli, access, ctx) {
    addCreate(cli, access, "create");
    addCreate(cli, access, "run");
    addLogs(cli, access, ctx, "service");
    cli
      .command("scale <ref> <n>", "Set how many containers it has (0-10)")
      .option("--json", "Print the service as JSON")
      .usage(`scale UUID|NAME N\n\n${CLIENT_ENVIRONMENT}`)
      .action(async (ref: string, n: string, options: { json?: boolean }): Promise<ExitCode> => {
        if (!/^(10|[0-9])$/.test(n)) {
          throw new AgentError(
            "ERR_USAGE",
            `N must be a whole number from 0 to 10 (got ${JSON.stringify(n)})`,
          );
        }
        const client = await access.client();
        const id = await access.resolve(client, ref);
        const service = await client.send("POST", "app", "service", {
          id,
          verb: "scale",
          body: { target_num_containers: Number(n) },
        });
        access.print(service, options.json === true);
        return 0;
      });
  },
});
