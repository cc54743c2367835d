/** Every command group the agent has. Add a group here to make it reachable from the command line. */
import type { CommandGroup } from "./group.ts";

export const commandGroups: CommandGroup[] = [];
