/** `agent node ls|inspect`: this host (or a fleet's hosts) as the HTTPS API serves them. */
import { resourceGroup } from "./api-group.ts";

export const nodeCommands = resourceGroup({
  group: "node",
  summary: "Client: the nodes an agent's HTTPS API serves (ls, inspect)",
  subsystem: "infra",
  resource: "node",
  named: false,
  verbs: [],
  columns: [
    { header: "UUID", cell: (n) => n["uuid"] },
    { header: "NAME", cell: (n) => n["name"] },
    { header: "STATE", cell: (n) => n["state"] },
    { header: "DOCKER", cell: (n) => n["docker_version"] },
    { header: "CPU", cell: (n) => n["cpu"] },
    { header: "MEMORY", cell: (n) => (n["memory"] === undefined ? undefined : `${String(n["memory"])} MB`) },
    { header: "CONTAINERS", cell: (n) => n["current_num_containers"] },
    { header: "RUNNING", cell: (n) => n["running_num_containers"] },
  ],
});
