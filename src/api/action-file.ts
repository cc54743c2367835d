/**
 * The action records across restarts: `STATE_DIR/actions.json` (0600), the ring's records oldest first,
 * written atomically at most once a second when something changed and once more at exit (never per
 * request), read at startup. An action still "In progress" in the file did not end before the agent
 * stopped: it is read as "Failed", saying so. A file that cannot be read starts an empty ring and is
 * replaced at the next write; the reason is logged.
 */
import type { FileSystem } from "../ports.ts";
import { SECRET_FILE_MODE } from "../store/layout.ts";
import { type ActionRecord, MAX_ACTIONS } from "./action.ts";

export const INTERRUPTED = "the agent stopped before this action ended";

function isRecord(value: unknown): value is ActionRecord {
  if (typeof value !== "object" || value === null) return false;
  const r = value as Record<string, unknown>;
  return ["uuid", "resource_uri", "namespace", "object", "action", "method", "path", "user", "start_date"]
    .every((k) => typeof r[k] === "string") &&
    typeof r["state"] === "string" && typeof r["decision"] === "object" && r["decision"] !== null;
}

export async function loadActions(
  fs: FileSystem,
  path: string,
  now: () => Date,
): Promise<{ records: ActionRecord[]; problem?: string }> {
  if ((await fs.stat(path)) === undefined) return { records: [] };
  try {
    const doc = JSON.parse(await fs.readText(path)) as unknown;
    const list = typeof doc === "object" && doc !== null && (doc as Record<string, unknown>)["version"] === 1
      ? (doc as Record<string, unknown>)["actions"]
      : undefined;
    if (!Array.isArray(list)) return { records: [], problem: `${path} is not an actions file of this agent` };
    const records = list.filter(isRecord).slice(-MAX_ACTIONS).map((r): ActionRecord =>
      r.state === "In progress" || r.state === "Pending"
        ? { ...r, state: "Failed", end_date: now().toISOString(), logs: INTERRUPTED }
        : r
    );
    return { records };
  } catch {
    return { records: [], problem: `${path} cannot be read or is not JSON` };
  }
}

export function saveActions(fs: FileSystem, path: string, records: readonly ActionRecord[]): Promise<void> {
  return fs.writeAtomic(path, `${JSON.stringify({ version: 1, actions: records })}\n`, SECRET_FILE_MODE);
}
