/**
 * Every decision as it happens, for the console's live view: the last few thousand audit events in memory and
 * the pages following them. Audit events hold no secrets (src/audit/event.ts), so they are shown as they are;
 * who sees which is the console's call (administrators all, others their own).
 */
import type { AuditEvent } from "../audit/event.ts";

export const FEED_EVENTS = 2_000;

export class DecisionFeed {
  readonly #events: AuditEvent[] = [];
  readonly #followers = new Set<(event: AuditEvent) => void>();

  push(event: AuditEvent): void {
    this.#events.push(event);
    if (this.#events.length > FEED_EVENTS) this.#events.splice(0, this.#events.length - FEED_EVENTS);
    for (const follower of this.#followers) follower(event);
  }

  recent(limit: number, visible: (event: AuditEvent) => boolean): AuditEvent[] {
    const out: AuditEvent[] = [];
    for (let i = this.#events.length - 1; i >= 0 && out.length < limit; i--) {
      const event = this.#events[i]!;
      if (visible(event)) out.push(event);
    }
    return out.reverse();
  }

  /** Calls `follower` with every new event until the returned function is called. */
  follow(follower: (event: AuditEvent) => void): () => void {
    this.#followers.add(follower);
    return () => this.#followers.delete(follower);
  }

  get followers(): number {
    return this.#followers.size;
  }
}
