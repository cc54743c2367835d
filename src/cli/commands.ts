/** Every command group the agent has. Add a group here to make it reachable from the command line. */
import type { CommandGroup } from "./group.ts";
import { serveCommands } from "./serve.ts";
import { policyCommands } from "./policy.ts";
import { auditCommands } from "./audit.ts";
import { caCommands } from "./ca.ts";
import { idCommands } from "./id.ts";
import { apikeyCommands } from "./apikey.ts";
import { nodeCommands } from "./node.ts";
import { serviceCommands } from "./service.ts";
import { containerCommands } from "./container.ts";
import { actionCommands } from "./action.ts";
import { eventCommands } from "./event.ts";

export const commandGroups: CommandGroup[] = [
  serveCommands,
  policyCommands,
  auditCommands,
  caCommands,
  idCommands,
  apikeyCommands,
  nodeCommands,
  serviceCommands,
  containerCommands,
  actionCommands,
  eventCommands,
];
