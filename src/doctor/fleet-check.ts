/**
 * A fleet member: whether its agent follows etcd, how stale its snapshot is, and whether any of the fleet's
 * newest values was refused. Nothing is reported on a single host (no fleet/fleet.json).
 */
import { fleetFiles, loadFleetConfig, loadSnapshotRecord } from "../fleet/membership.ts";
import { stateLayout } from "../store/layout.ts";
import { type DoctorDeps, type DoctorTarget, octal } from "./context.ts";
import { fail, type Finding, ok, warn } from "./finding.ts";

interface FleetReport {
  readonly connected?: unknown;
  readonly endpoint?: unknown;
  readonly revision?: unknown;
  readonly staleSeconds?: unknown;
  readonly maxStaleSeconds?: unknown;
  readonly refused?: unknown;
  readonly contactAt?: unknown;
}

async function runningReport(deps: DoctorDeps, socket: string): Promise<FleetReport | undefined> {
  try {
    const response = await deps.unixFetch(socket, "/", { signal: AbortSignal.timeout(2_000) });
    if (!response.ok) return undefined;
    const body = (await response.json()) as { fleet?: FleetReport };
    return body.fleet;
  } catch {
    return undefined;
  }
}

export async function checkFleet(deps: DoctorDeps, target: DoctorTarget): Promise<Finding | undefined> {
  const files = fleetFiles(stateLayout(target.stateDir));
  const config = await loadFleetConfig(deps.fs, files);
  if (config === undefined) return undefined;
  const who = `member ${config.name} of the fleet ${config.prefix}`;
  const key = await deps.fs.stat(files.fleetKey);
  if (key !== undefined && (key.mode & 0o077) !== 0) {
    return fail("fleet", `${files.fleetKey} is readable by others (mode ${octal(key.mode)}): chmod 600 it.`);
  }
  const report = await runningReport(deps, target.socket);
  if (report === undefined) {
    const record = await loadSnapshotRecord(deps.fs, files);
    return warn(
      "fleet",
      `${who}, but no running agent on ${target.socket} reported on it; ` +
        (record === undefined
          ? "this host has no snapshot yet."
          : `the snapshot is at revision ${record.revision}, etcd last heard from at ${record.contactAt}.`),
    );
  }
  const refused = typeof report.refused === "object" && report.refused !== null
    ? Object.values(report.refused as Record<string, unknown>).map(String)
    : [];
  if (report.connected !== true) {
    const stale = typeof report.staleSeconds === "number" ? report.staleSeconds : undefined;
    const limit = typeof report.maxStaleSeconds === "number" ? report.maxStaleSeconds : undefined;
    const over = stale !== undefined && limit !== undefined && stale > limit;
    const text =
      `${who}: etcd unreachable${stale === undefined ? "" : ` for ${stale} s`}; deciding from the ` +
      `snapshot at revision ${String(report.revision)}` +
      (over ? `, past --fleet-max-stale (${limit} s): writes are refused until it reconnects.` : ".");
    return over ? fail("fleet", text) : warn("fleet", text);
  }
  if (refused.length > 0) {
    return warn("fleet", `${who}: in sync, but it refused the fleet's newest ${refused.join("; ")}.`);
  }
  return ok(
    "fleet",
    `${who}: in sync with etcd at ${String(report.endpoint)}, revision ${String(report.revision)}.`,
  );
}
