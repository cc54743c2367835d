/**
 * Where `agent install` puts things on a host. The unit and the CLI defaults must agree with these
 * (a test checks), so a host set up by install runs `agent serve` and `agent doctor` with no flags.
 */
import { baseName, dirName, joinPath } from "../store/path.ts";

export interface HostPaths {
  readonly binary: string;
  readonly unit: string;
  /** Where `systemctl enable` puts the unit's links (removed again by uninstall). */
  readonly systemdDir: string;
  readonly policy: string;
  readonly stateDir: string;
  readonly socket: string;
  readonly dockerConfig: string;
}

export const HOST_PATHS: HostPaths = {
  binary: "/usr/local/bin/agent",
  unit: "/etc/systemd/system/agent.service",
  systemdDir: "/etc/systemd/system",
  policy: "/etc/agent/policy.yaml",
  stateDir: "/var/lib/agent",
  socket: "/run/docker/plugins/agent.sock",
  dockerConfig: "/etc/docker/daemon.json",
};

/** The name dockerd knows the plugin by: its socket's name in /run/docker/plugins. */
export const PLUGIN_NAME = baseName(HOST_PATHS.socket).replace(/\.sock$/, "");

/** The unit's file name (agent.service), as `systemctl enable` links it. */
export const UNIT_NAME = baseName(HOST_PATHS.unit);

/** The same paths inside a root directory (`--prefix`): a staged image, or a temp dir in tests. */
export function underPrefix(prefix: string, paths: HostPaths = HOST_PATHS): HostPaths {
  const at = (path: string) => (prefix === "" || prefix === "/" ? path : joinPath(prefix, path));
  return {
    binary: at(paths.binary),
    unit: at(paths.unit),
    systemdDir: at(paths.systemdDir),
    policy: at(paths.policy),
    stateDir: at(paths.stateDir),
    socket: at(paths.socket),
    dockerConfig: at(paths.dockerConfig),
  };
}

/** The directory holding the policy (`/etc/agent`), removed by `uninstall --purge`. */
export function policyDir(paths: HostPaths): string {
  return dirName(paths.policy);
}
