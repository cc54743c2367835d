/**
 * `agent serve`'s fleet options: the membership this agent follows (flags over fleet.json), checked before
 * anything starts. Kept light: serve reads it on every start, and loads the fleet itself (serve-fleet.ts, the
 * etcd client) only on a fleet member.
 */
import { AgentError } from "../errors.ts";
import { DEFAULT_PREFIX, fleetKeys } from "../fleet/keys.ts";
import {
  checkNodeName,
  type FleetConfig,
  type FleetFiles,
  fleetFiles,
  loadFleetConfig,
  parseEndpoints,
} from "../fleet/membership.ts";
import type { StateLayout } from "../store/layout.ts";
import { parseDuration } from "./apikey/duration.ts";
import { absolutePath, type CliContext } from "./context.ts";

export interface FleetServeOptions {
  readonly fleet?: string;
  readonly fleetPrefix?: string;
  readonly fleetCert?: string;
  readonly fleetKey?: string;
  readonly fleetCa?: string;
  readonly fleetMaxStale?: string;
  readonly nodeName?: string;
}

export const DEFAULT_MAX_STALE = "24h";

export interface FleetPlan {
  readonly config: FleetConfig;
  readonly files: FleetFiles;
  readonly maxStaleSeconds: number;
}

/** The membership this agent follows (flags over fleet.json), or undefined on a single host. */
export async function planFleet(
  ctx: CliContext,
  options: FleetServeOptions,
  layout: StateLayout,
): Promise<FleetPlan | undefined> {
  const files = fleetFiles(layout);
  const recorded = await loadFleetConfig(ctx.fs, files);
  const flagged = options.fleet !== undefined || options.fleetPrefix !== undefined ||
    options.fleetCert !== undefined ||
    options.fleetKey !== undefined || options.fleetCa !== undefined || options.fleetMaxStale !== undefined;
  if (recorded === undefined && options.fleet === undefined) {
    if (flagged) {
      throw new AgentError(
        "ERR_USAGE",
        "the --fleet-* options need --fleet ETCD_ENDPOINTS (or a fleet.json from `agent fleet join`)",
      );
    }
    return undefined;
  }
  const maxStaleSeconds = options.fleetMaxStale === "off"
    ? Number.MAX_SAFE_INTEGER
    : parseDuration(options.fleetMaxStale ?? DEFAULT_MAX_STALE, "--fleet-max-stale");
  const config: FleetConfig = {
    endpoints: options.fleet === undefined ? recorded!.endpoints : parseEndpoints(options.fleet),
    prefix: fleetKeys(options.fleetPrefix ?? recorded?.prefix ?? DEFAULT_PREFIX).prefix,
    name: checkNodeName(options.nodeName ?? recorded?.name ?? ctx.platform.hostNames().hostname),
    cert: options.fleetCert === undefined
      ? recorded?.cert ?? files.cert
      : absolutePath(ctx, options.fleetCert),
    key: options.fleetKey === undefined ? recorded?.key ?? files.key : absolutePath(ctx, options.fleetKey),
    ca: options.fleetCa === undefined ? recorded?.ca ?? files.ca : absolutePath(ctx, options.fleetCa),
  };
  return { config, files, maxStaleSeconds };
}
