/**
 * When each API key was last used, in a file of its own (`apikeys-used.json`, 0600): the listener writes it
 * in batches, never per request, and never touches apikeys.json, so a batch can neither undo an
 * `agent apikey revoke` made meanwhile nor change the digest a command waits for the agent to apply.
 * The file is informational: a broken one is replaced by the next batch rather than trusted.
 */
import type { FileSystem } from "../ports.ts";
import type { StateLayout } from "../store/layout.ts";
import { isRecord, isTimestamp, readStateJson, writeStateJson } from "../macaroon/index.ts";
import { isApiKeyId, MAX_API_KEYS } from "./key-set.ts";

const WHAT = "API key last-used file";

/** Key id -> last use (RFC 3339); empty when the file is missing or unreadable. */
export async function loadLastUsed(fs: FileSystem, layout: StateLayout): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let raw: unknown;
  try {
    raw = await readStateJson(fs, layout.apiKeysUsed, WHAT);
  } catch {
    return out;
  }
  if (!isRecord(raw) || raw["version"] !== 1 || !isRecord(raw["lastUsed"])) return out;
  for (const [id, at] of Object.entries(raw["lastUsed"])) {
    if (out.size >= MAX_API_KEYS) break;
    if (isApiKeyId(id) && isTimestamp(at)) out.set(id, at);
  }
  return out;
}

/** Merges `fresh` into the file (later times win) and writes it atomically; returns how many changed. */
export async function saveLastUsed(
  fs: FileSystem,
  layout: StateLayout,
  fresh: ReadonlyMap<string, string>,
): Promise<number> {
  const all = await loadLastUsed(fs, layout);
  let changed = 0;
  for (const [id, at] of fresh) {
    const known = all.get(id);
    if (known !== undefined && Date.parse(known) >= Date.parse(at)) continue;
    all.set(id, at);
    changed++;
  }
  if (changed > 0) {
    await writeStateJson(
      fs,
      layout.apiKeysUsed,
      { version: 1, lastUsed: Object.fromEntries(all) },
      "replace",
    );
  }
  return changed;
}
