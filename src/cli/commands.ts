/**
 * Every command group the agent has. Add a group here to make it reachable from the command line. Each is
 * loaded only when its first word is typed (group.ts LazyGroup); the summaries here are what
 * `agent --help` lists, and a test checks them against the groups' own.
 */
import type { LazyGroup } from "./group.ts";

export const commandGroups: readonly LazyGroup[] = [
  {
    name: "",
    summary: "top-level commands",
    load: async () => (await import("./serve.ts")).serveCommands,
  },
  {
    name: "policy",
    summary: "Check a policy file, test a decision, list action names",
    load: async () => (await import("./policy.ts")).policyCommands,
  },
  {
    name: "audit",
    summary: "Read the audit log of decisions",
    load: async () => (await import("./audit.ts")).auditCommands,
  },
  {
    name: "ca",
    summary: "Certificate authority: server and API user certificates, revocation, renewal",
    load: async () => (await import("./ca.ts")).caCommands,
  },
  {
    name: "id",
    summary: "Macaroons: require tokens on every request, mint, attenuate, inspect, revoke",
    load: async () => (await import("./id.ts")).idCommands,
  },
  {
    name: "apikey",
    summary: "API keys for the HTTPS API: create, list, revoke, set (for the docker client)",
    load: async () => (await import("./apikey.ts")).apikeyCommands,
  },
  {
    name: "fleet",
    summary: "A fleet on etcd: policy, keys and revocations shared by every host (init, add-host, join, ...)",
    load: async () => (await import("./fleet.ts")).fleetCommands,
  },
  {
    name: "node",
    summary: "Client: the nodes an agent's HTTPS API serves (ls, inspect)",
    load: async () => (await import("./node.ts")).nodeCommands,
  },
  {
    name: "service",
    summary:
      "Client: services of your namespace (ls, inspect, create, run, start, stop, scale, redeploy, rm, logs)",
    load: async () => (await import("./service.ts")).serviceCommands,
  },
  {
    name: "container",
    summary: "Client: containers of your services (ls, inspect, start, stop, redeploy, rm, logs, exec)",
    load: async () => (await import("./container.ts")).containerCommands,
  },
  {
    name: "action",
    summary: "Client: the actions (changes) in your namespace (ls, inspect)",
    load: async () => (await import("./action.ts")).actionCommands,
  },
  {
    name: "event",
    summary: "Client: follow the events of your namespace (resumes after reconnects)",
    load: async () => (await import("./event.ts")).eventCommands,
  },
];
