/** `agent action ls|inspect`: what the HTTPS API's callers changed in the namespace, newest first. */
import { resourceGroup } from "./api-group.ts";

export const actionCommands = resourceGroup({
  group: "action",
  summary: "Client: the actions (changes) in your namespace (ls, inspect)",
  subsystem: "audit",
  resource: "action",
  named: false,
  verbs: [],
  columns: [
    { header: "UUID", cell: (a) => a["uuid"] },
    { header: "ACTION", cell: (a) => a["action"] },
    { header: "OBJECT", cell: (a) => a["object"] },
    { header: "USER", cell: (a) => a["user"] },
    { header: "STATE", cell: (a) => a["state"] },
    { header: "START", cell: (a) => a["start_date"] },
  ],
});
