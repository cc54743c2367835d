/**
 * A fleet member cut off from etcd keeps deciding from its last snapshot: reads stay allowed for as long as
 * the outage lasts; writes (anything that can change a container, `authz/effect.ts`) are refused once the
 * snapshot is older than the operator's limit (`serve --fleet-max-stale`, default 24 h), because a
 * revocation made meanwhile elsewhere may be missing here. The gate is on only on fleet members.
 */
import type { Gate, GateVerdict } from "./gate.ts";

const FRESH: GateVerdict = { allow: true, ruleId: "fleet", reason: "the fleet's state is current" };
const READ: GateVerdict = { allow: true, ruleId: "fleet:read", reason: "reads continue from the snapshot" };

function human(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7_200) return `${Math.floor(seconds / 60)} min`;
  return `${Math.floor(seconds / 3_600)} h`;
}

/** `staleSeconds()`: how long etcd has not been heard from (0 while connected; null: never). */
export function fleetGate(staleSeconds: () => number | null, maxStaleSeconds: number): Gate {
  return {
    name: "fleet",
    check(facts) {
      const stale = staleSeconds();
      if (stale !== null && stale <= maxStaleSeconds) return FRESH;
      if (facts.effect === "read") return READ;
      return {
        allow: false,
        ruleId: "fleet:stale",
        reason: `this host has not heard from the fleet's etcd for ${
          stale === null ? "ever" : human(stale)
        } (limit ${human(maxStaleSeconds)}): writes are refused until it reconnects`,
      };
    },
  };
}
