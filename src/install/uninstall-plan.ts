/**
 * `agent uninstall` as steps. It refuses to leave dockerd configured with a plugin that is gone (dockerd would
 * fail every API call and not start again): daemon.json's entry goes first (with --configure-docker) or
 * nothing happens at all. The state directory and the policy stay unless --purge.
 */
import { AgentError } from "../errors.ts";
import { authorizationPlugins, withoutAuthorizationPlugin } from "./daemon-json.ts";
import type { FlagSource } from "./docker-unit-flags.ts";
import { type HostPaths, PLUGIN_NAME, policyDir } from "./host-paths.ts";
import type { Step } from "./steps.ts";

const CONFIG_MODE = 0o644;

export interface UninstallFacts {
  readonly binaryExists: boolean;
  readonly unitExists: boolean;
  /** The links `systemctl enable` made (.../multi-user.target.wants/agent.service and the like) that exist. */
  readonly enableLinks: readonly string[];
  readonly dockerConfigText: string | undefined;
  readonly dockerConfigMode: number | undefined;
  readonly dockerFlags: readonly FlagSource[];
  readonly stateDirExists: boolean;
  readonly policyDirExists: boolean;
}

export interface UninstallOptions {
  readonly configureDocker: boolean;
  readonly purge: boolean;
}

function dockerSteps(paths: HostPaths, facts: UninstallFacts, options: UninstallOptions): Step[] {
  const flagged = facts.dockerFlags.find((source) => source.plugins.includes(PLUGIN_NAME));
  if (flagged) {
    throw new AgentError(
      "ERR_INSTALL",
      `dockerd is started with --authorization-plugin=${PLUGIN_NAME} (${flagged.file}): remove that flag and ` +
        "restart dockerd first; uninstalling now would leave dockerd unable to start",
    );
  }
  const file = paths.dockerConfig;
  if (facts.dockerConfigText === undefined) return [];
  if (!authorizationPlugins(facts.dockerConfigText, file).includes(PLUGIN_NAME)) return [];
  if (!options.configureDocker) {
    throw new AgentError(
      "ERR_INSTALL",
      `dockerd is still configured to use the agent (${file} lists "${PLUGIN_NAME}" in authorization-plugins); ` +
        "without the plugin it would refuse every API call and not start again. Run `agent uninstall " +
        "--configure-docker` to remove the entry (or remove it by hand), then reload dockerd",
    );
  }
  const change = withoutAuthorizationPlugin(facts.dockerConfigText, PLUGIN_NAME, file);
  return [{
    kind: "write",
    path: file,
    mode: facts.dockerConfigMode ?? CONFIG_MODE,
    data: change.text,
    why: `"${PLUGIN_NAME}" removed from authorization-plugins, every other setting kept`,
  }];
}

export function planUninstall(paths: HostPaths, facts: UninstallFacts, options: UninstallOptions): Step[] {
  const steps: Step[] = [...dockerSteps(paths, facts, options)];
  for (const link of facts.enableLinks) {
    steps.push({ kind: "remove", path: link, why: "link made by systemctl enable" });
  }
  if (facts.unitExists) steps.push({ kind: "remove", path: paths.unit, why: "the systemd unit" });
  if (facts.binaryExists) steps.push({ kind: "remove", path: paths.binary, why: "the agent executable" });
  if (options.purge) {
    if (facts.policyDirExists) {
      steps.push({ kind: "remove-tree", path: policyDir(paths), why: "--purge: the policy" });
    }
    if (facts.stateDirExists) {
      steps.push({
        kind: "remove-tree",
        path: paths.stateDir,
        why: "--purge: keys, CA (with its private key), audit log",
      });
    }
  } else {
    if (facts.policyDirExists) {
      steps.push({ kind: "keep", path: policyDir(paths), why: "the policy (--purge removes it)" });
    }
    if (facts.stateDirExists) {
      steps.push({
        kind: "keep",
        path: paths.stateDir,
        why: "keys, CA and audit log (--purge removes them)",
      });
    }
  }
  return steps;
}
