/** The policy engine: load a YAML policy (line-precise errors), then evaluate requests against it (pure). */
export type { Policy, PolicyDecision, PolicyRequest } from "./types.ts";
export { loadPolicy } from "./load.ts";
export { AGENT_LOOKUP_ACTIONS } from "./evaluate.ts";
export { DEMO_POLICY } from "./demo.ts";
export { MAX_POLICY_BYTES, MAX_RULES } from "./limits.ts";
