/**
 * When each key was last used. A request must never cost a file write, so the listener records uses here,
 * in memory, and now and then writes them in one batch: it loads apikeys.json afresh (never an older copy,
 * or a revocation made meanwhile would be undone), merges with mergeLastUsed, and saves when that changed
 * anything.
 */
import type { ApiKeyRecord, ApiKeySet } from "./key-set.ts";
import { MAX_API_KEYS } from "./key-set.ts";

export class LastUsedTimes {
  readonly #limit: number;
  readonly #times = new Map<string, number>();

  /** Remembers at most `limit` key ids (a verified key's id: there are never more than MAX_API_KEYS). */
  constructor(limit: number = MAX_API_KEYS) {
    this.#limit = limit;
  }

  get size(): number {
    return this.#times.size;
  }

  /** The key with this id was used at `at` (an earlier time than one already recorded is ignored). */
  record(id: string, at: Date): void {
    const ms = at.getTime();
    const known = this.#times.get(id);
    if (known !== undefined) {
      if (ms > known) this.#times.set(id, ms);
      return;
    }
    if (this.#times.size >= this.#limit) return;
    this.#times.set(id, ms);
  }

  /** The last use recorded (since the last take) for this id, as an RFC 3339 time. */
  get(id: string): string | undefined {
    const ms = this.#times.get(id);
    return ms === undefined ? undefined : new Date(ms).toISOString();
  }

  /** Every use recorded since the last take, by key id, and forgets them: what one batched write needs. */
  take(): ReadonlyMap<string, string> {
    const out = new Map<string, string>();
    for (const [id, ms] of this.#times) out.set(id, new Date(ms).toISOString());
    this.#times.clear();
    return out;
  }

  /** Gives back what take() returned when the write failed, so the next batch carries it. */
  restore(times: ReadonlyMap<string, string>): void {
    for (const [id, at] of times) {
      const ms = Date.parse(at);
      if (!Number.isNaN(ms)) this.record(id, new Date(ms));
    }
  }
}

/**
 * `set` with each key's lastUsedAt moved forward to the time in `times` (by key id) when that is later.
 * Ids of keys not in the set are ignored. Returns `set` itself when nothing changed, so the caller can skip
 * the write.
 */
export function mergeLastUsed(set: ApiKeySet, times: ReadonlyMap<string, string>): ApiKeySet {
  let changed = false;
  const keys = set.keys.map((record): ApiKeyRecord => {
    const used = times.get(record.id);
    if (used === undefined) return record;
    const usedMs = Date.parse(used);
    if (Number.isNaN(usedMs)) return record;
    if (record.lastUsedAt !== undefined && Date.parse(record.lastUsedAt) >= usedMs) return record;
    changed = true;
    return { ...record, lastUsedAt: new Date(usedMs).toISOString() };
  });
  return changed ? { keys } : set;
}
