/**
 * `agent install` as steps: the executable, the policy (never replacing one that exists unless --policy is
 * given), the state directory, the systemd unit and, with --configure-docker, dockerd's daemon.json. The
 * executable comes first and daemon.json last, so dockerd is never pointed at a plugin that is not installed.
 */
import { AgentError } from "../errors.ts";
import type { FileInfo } from "../ports.ts";
import { SECRET_DIR_MODE } from "../store/layout.ts";
import { dirName } from "../store/path.ts";
import { authorizationPlugins, withAuthorizationPlugin } from "./daemon-json.ts";
import { DEFAULT_POLICY } from "./default-policy.ts";
import type { FlagSource } from "./docker-unit-flags.ts";
import { type HostPaths, PLUGIN_NAME, policyDir } from "./host-paths.ts";
import type { Step } from "./steps.ts";
import { systemdUnit } from "./systemd-unit.ts";

const DIR_MODE = 0o755;
const EXECUTABLE_MODE = 0o755;
const CONFIG_MODE = 0o644;

/** What is on the host now (read by the command; the plan itself touches nothing). */
export interface InstallFacts {
  /** The executable to install (the running agent, or --binary). */
  readonly binary: Uint8Array;
  /** What is at the install path now, when it has the same size (to skip an identical copy). */
  readonly installedBinary: Uint8Array | undefined;
  readonly unitText: string | undefined;
  readonly policyText: string | undefined;
  /** The policy given with --policy (already checked to load). */
  readonly newPolicy: { readonly text: string; readonly source: string } | undefined;
  readonly stateDir: FileInfo | undefined;
  readonly dockerConfigText: string | undefined;
  readonly dockerConfigMode: number | undefined;
  readonly dockerFlags: readonly FlagSource[];
}

export interface InstallOptions {
  readonly configureDocker: boolean;
}

export type DockerSetup =
  /** daemon.json (or a dockerd flag) already names the plugin. */
  | { readonly state: "configured"; readonly where: string }
  /** This plan adds the plugin to daemon.json. */
  | { readonly state: "configuring"; readonly where: string }
  /** Not configured; the operator must add it (install prints how). */
  | { readonly state: "not-configured"; readonly where: string };

export interface InstallPlan {
  readonly steps: readonly Step[];
  readonly docker: DockerSetup;
}

function sameBytes(a: Uint8Array, b: Uint8Array | undefined): boolean {
  if (b === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function binarySteps(paths: HostPaths, facts: InstallFacts): Step[] {
  if (sameBytes(facts.binary, facts.installedBinary)) {
    return [{ kind: "keep", path: paths.binary, why: "the same executable is installed" }];
  }
  return [
    { kind: "mkdir", path: dirName(paths.binary), mode: DIR_MODE, why: "directory of the executable" },
    {
      kind: "write",
      path: paths.binary,
      mode: EXECUTABLE_MODE,
      data: facts.binary,
      why: "the agent executable",
    },
  ];
}

function policySteps(paths: HostPaths, facts: InstallFacts): Step[] {
  const mkdir: Step = {
    kind: "mkdir",
    path: policyDir(paths),
    mode: DIR_MODE,
    why: "the agent's configuration",
  };
  if (facts.newPolicy !== undefined) {
    if (facts.newPolicy.text === facts.policyText) {
      return [{ kind: "keep", path: paths.policy, why: `already the same as ${facts.newPolicy.source}` }];
    }
    const why = `the policy from ${facts.newPolicy.source}${
      facts.policyText === undefined ? "" : " (replaces the one there)"
    }`;
    return [mkdir, { kind: "write", path: paths.policy, mode: CONFIG_MODE, data: facts.newPolicy.text, why }];
  }
  if (facts.policyText !== undefined) {
    return [{
      kind: "keep",
      path: paths.policy,
      why: "a policy exists (install never replaces it without --policy)",
    }];
  }
  const why = "default policy: only the local unix socket is allowed; TLS users need rules";
  return [mkdir, { kind: "write", path: paths.policy, mode: CONFIG_MODE, data: DEFAULT_POLICY, why }];
}

function stateDirSteps(paths: HostPaths, facts: InstallFacts): Step[] {
  const info = facts.stateDir;
  if (info === undefined) {
    return [
      { kind: "mkdir", path: dirName(paths.stateDir), mode: DIR_MODE, why: "parent of the state directory" },
      {
        kind: "mkdir",
        path: paths.stateDir,
        mode: SECRET_DIR_MODE,
        why: "state directory (keys, CA, audit log)",
      },
    ];
  }
  if (!info.isDirectory) {
    throw new AgentError(
      "ERR_INSTALL",
      `${paths.stateDir} exists and is not a directory: move it away first`,
    );
  }
  if (info.mode !== SECRET_DIR_MODE) {
    return [{
      kind: "chmod",
      path: paths.stateDir,
      mode: SECRET_DIR_MODE,
      why: "the state directory holds secrets",
    }];
  }
  return [{ kind: "keep", path: paths.stateDir, why: "state directory exists (mode 0700)" }];
}

function unitSteps(paths: HostPaths, facts: InstallFacts): Step[] {
  const unit = systemdUnit();
  if (unit === facts.unitText) return [{ kind: "keep", path: paths.unit, why: "the unit is up to date" }];
  return [
    { kind: "mkdir", path: dirName(paths.unit), mode: DIR_MODE, why: "systemd units" },
    {
      kind: "write",
      path: paths.unit,
      mode: CONFIG_MODE,
      data: unit,
      why: "systemd unit (starts before docker.service)",
    },
  ];
}

function dockerSteps(
  paths: HostPaths,
  facts: InstallFacts,
  options: InstallOptions,
): InstallPlan["docker"] & {
  steps: Step[];
} {
  const flagged = facts.dockerFlags.find((source) => source.plugins.includes(PLUGIN_NAME));
  if (flagged) return { state: "configured", where: flagged.file, steps: [] };
  const file = paths.dockerConfig;
  if (!options.configureDocker) {
    let listed = false;
    try {
      listed = authorizationPlugins(facts.dockerConfigText, file).includes(PLUGIN_NAME);
    } catch {
      listed = false; // install does not touch it without --configure-docker; doctor explains what is wrong
    }
    return { state: listed ? "configured" : "not-configured", where: file, steps: [] };
  }
  const other = facts.dockerFlags[0];
  if (other !== undefined) {
    throw new AgentError(
      "ERR_INSTALL",
      `dockerd gets --authorization-plugin on its command line (${other.file}), and it refuses to start when ` +
        `daemon.json lists plugins too: add --authorization-plugin=${PLUGIN_NAME} there instead of --configure-docker`,
    );
  }
  const change = withAuthorizationPlugin(facts.dockerConfigText, PLUGIN_NAME, file);
  if (!change.changed) return { state: "configured", where: file, steps: [] };
  return {
    state: "configuring",
    where: file,
    steps: [
      { kind: "mkdir", path: dirName(file), mode: DIR_MODE, why: "dockerd's configuration" },
      {
        kind: "write",
        path: file,
        mode: facts.dockerConfigMode ?? CONFIG_MODE,
        data: change.text,
        why: `"authorization-plugins": [..., "${PLUGIN_NAME}"], every other setting kept`,
      },
    ],
  };
}

export function planInstall(paths: HostPaths, facts: InstallFacts, options: InstallOptions): InstallPlan {
  const docker = dockerSteps(paths, facts, options);
  const steps = [
    ...binarySteps(paths, facts),
    ...policySteps(paths, facts),
    ...stateDirSteps(paths, facts),
    ...unitSteps(paths, facts),
    ...docker.steps,
  ];
  return { steps, docker: { state: docker.state, where: docker.where } };
}
