/** Installing the agent on a host: paths, the systemd unit, the default policy, daemon.json, the steps. */
export { HOST_PATHS, type HostPaths, PLUGIN_NAME, policyDir, underPrefix, UNIT_NAME } from "./host-paths.ts";
export { systemdUnit } from "./systemd-unit.ts";
export { DEFAULT_POLICY } from "./default-policy.ts";
export {
  AUTHORIZATION_PLUGINS_KEY,
  authorizationPlugins,
  type DockerConfigChange,
  withAuthorizationPlugin,
  withoutAuthorizationPlugin,
} from "./daemon-json.ts";
export { dockerUnitFlags, type FlagSource } from "./docker-unit-flags.ts";
export { applySteps, describeStep, type Step } from "./steps.ts";
export {
  type DockerSetup,
  type InstallFacts,
  type InstallOptions,
  type InstallPlan,
  planInstall,
} from "./install-plan.ts";
export { planUninstall, type UninstallFacts, type UninstallOptions } from "./uninstall-plan.ts";
