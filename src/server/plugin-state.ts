/**
 * Loads what the plugin decides with - policy, macaroon keyring, certificate authority - into one
 * immutable PluginState. A reload builds a new state and swaps it in only when every part loaded:
 * a broken policy at reload keeps the previous state (and says why).
 */
import { loadPolicy, type Policy } from "../policy/index.ts";
import { policyGate } from "../decide/policy-gate.ts";
import type { Gate } from "../decide/gate.ts";
import type { Clock, FileSystem } from "../ports.ts";
import type { StateLayout } from "../store/layout.ts";
import type { PluginState } from "./plugin-app.ts";
import { AgentError } from "../errors.ts";

export interface PolicySource {
  /** File to read, or undefined when the embedded policy is used. */
  readonly file: string | undefined;
  readonly embedded?: string;
}

export interface LoadedState extends PluginState {
  readonly policy: Policy;
  readonly summary: string;
}

export interface StateLoaderDeps {
  readonly fs: FileSystem;
  readonly layout: StateLayout;
  readonly policy: PolicySource;
  /** Extra gates built from the state directory (macaroon, certificate); each may be absent. */
  readonly clock: Clock;
  readonly extraGates: (fs: FileSystem, layout: StateLayout, clock: Clock) => Promise<readonly Gate[]>;
}

export async function readPolicy(fs: FileSystem, source: PolicySource): Promise<Policy> {
  if (source.file === undefined) return loadPolicy(source.embedded ?? "", "embedded demo policy");
  const info = await fs.stat(source.file);
  if (!info) {
    throw new AgentError(
      "ERR_POLICY_MISSING",
      `no policy file at ${source.file}: write one (see the README) or pass --policy FILE; the agent never runs without a policy`,
    );
  }
  return loadPolicy(await fs.readText(source.file), source.file);
}

export async function loadPluginState(deps: StateLoaderDeps): Promise<LoadedState> {
  const policy = await readPolicy(deps.fs, deps.policy);
  const extra = await deps.extraGates(deps.fs, deps.layout, deps.clock);
  const gates: Gate[] = [policyGate(policy), ...extra];
  return {
    policy,
    gates,
    policyHash: policy.hash,
    summary: `policy ${policy.source} (${policy.ruleCount} rules, sha256 ${
      policy.hash.slice(0, 12)
    }); gates: ${gates.map((g) => g.name).join(", ")}`,
  };
}
