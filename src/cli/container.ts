/**
 * `agent container ls|inspect|start|stop|redeploy|rm|logs|exec`: the containers of the caller's namespace's
 * services (logs and exec are the Stream API's websockets, stream-commands.ts).
 */
import { resourceGroup } from "./api-group.ts";
import { addExec, addLogs } from "./stream-commands.ts";

export const containerCommands = resourceGroup({
  group: "container",
  summary: "Client: containers of your services (ls, inspect, start, stop, redeploy, rm, logs, exec)",
  subsystem: "app",
  resource: "container",
  named: true,
  verbs: [
    { name: "start", description: "Start a container", method: "POST", segment: "start" },
    { name: "stop", description: "Stop a container", method: "POST", segment: "stop" },
    {
      name: "redeploy",
      description: "Remove a service's container and create it again",
      method: "POST",
      segment: "redeploy",
    },
    { name: "rm", description: "Remove a container", method: "DELETE" },
  ],
  columns: [
    { header: "NAME", cell: (c) => c["name"] },
    { header: "UUID", cell: (c) => String(c["uuid"] ?? "").slice(0, 12) },
    { header: "IMAGE", cell: (c) => c["image_name"] },
    { header: "STATE", cell: (c) => c["state"] },
    { header: "EXIT CODE", cell: (c) => c["exit_code"] },
    { header: "SERVICE", cell: (c) => c["service"] },
  ],
  extra(cli, access, ctx) {
    addLogs(cli, access, ctx, "container");
    addExec(cli, access, ctx);
  },
});
