/**
 * The agent's ordered event log: a bounded ring of the newest events (10,000 by default) numbered by `seq`
 * (one more per event), and its subscribers (the Stream API's websockets).
 *
 * A subscriber names where it resumes (`since`: the last seq it saw; none: live events only). It is given
 * every kept event after `since` that it `accepts`, in order, exactly once, then every new one: one cursor
 * per subscriber walks the ring, so there is neither a gap nor a duplicate between the replay and the live
 * events, whatever is appended meanwhile (an append made from inside a callback is delivered after the
 * current one, in order). A `since` older than what is kept, or newer than the newest seq, is refused with
 * `{ relist: true }`: the client lists again (Kubernetes' 410), never a silent gap.
 *
 * Delivery never waits for a subscriber. `deliver` is called synchronously; it returns false when the peer
 * cannot take more (its socket buffer is full). A subscriber is dropped, and its `overflow` called once,
 * when `deliver` returns false, when more than `queueLimit` live events are waiting for it (events appended
 * while the log is still delivering, e.g. from a callback), or when a callback throws. Dropping one never
 * affects `append` or the others.
 *
 * Costs: `append` is O(1) for the ring (no array shifting) plus one `accepts` call per subscriber; a replay
 * is O(kept events).
 */
import { AgentError } from "../errors.ts";
import { checkEvent, type NewStreamEvent, type StreamEvent } from "./event.ts";

export const DEFAULT_CAPACITY = 10_000;

/** Why a subscriber was dropped: it could not keep up, or one of its callbacks threw. */
export type DropReason = "slow" | "threw";

export interface SubscribeOptions {
  /** The last seq the client saw: events after it are replayed. Absent: live events only. */
  readonly since?: number;
  /** Which events this subscriber is given (filters.ts builds one). */
  readonly accepts: (event: StreamEvent) => boolean;
  /** Live events that may wait for this subscriber while the log is delivering; more drops it. */
  readonly queueLimit: number;
  /** Sends one event; false when the peer's buffer is full (the subscriber is then dropped). */
  readonly deliver: (event: StreamEvent) => void | boolean;
  /** Called once when the subscriber is dropped (not after `unsubscribe`). */
  readonly overflow: (reason: DropReason) => void;
}

export interface Subscription {
  readonly relist: false;
  /** The seq delivery starts after (`since`, or the newest seq at subscription for live only). */
  readonly from: number;
  /** False once unsubscribed or dropped. */
  readonly active: boolean;
  unsubscribe(): void;
}

/** `since` cannot be served: the client must list again and resume from the seq it then gets. */
export interface Relist {
  readonly relist: true;
  /** "expired": older than the oldest event kept; "future": newer than the newest seq. */
  readonly reason: "expired" | "future";
  /** The seq of the oldest event kept (latest + 1 when none is kept): `since` must be at least this minus 1. */
  readonly oldestKept: number;
  /** The newest seq (0 for a log that never had an event). */
  readonly latest: number;
  /** Says which, for the error message sent to the client. */
  readonly message: string;
}

export interface EventLogOptions {
  /** Events kept (default 10,000). */
  readonly capacity?: number;
  /** The newest seq issued before (the event file's, see event-file.ts); the next event gets latest + 1. */
  readonly latest?: number;
  /** Events kept by the last run, oldest first; only those that end at `latest` without a hole are kept. */
  readonly initial?: readonly StreamEvent[];
}

interface Subscriber {
  /** The seq of the last event offered to it. */
  cursor: number;
  /** The newest seq when it subscribed: events up to it are its replay, not its queue. */
  readonly replayEnd: number;
  readonly options: SubscribeOptions;
  active: boolean;
}

export class EventLog {
  readonly #capacity: number;
  /** Ring of the kept events: `#ring[(#head + i) % capacity]` is the i-th oldest. */
  readonly #ring: (StreamEvent | undefined)[];
  #head = 0;
  #size = 0;
  #latest: number;
  readonly #subscribers = new Set<Subscriber>();
  readonly #handles = new WeakMap<Subscription, Subscriber>();
  #dispatching = false;

  constructor(options: EventLogOptions = {}) {
    const capacity = options.capacity ?? DEFAULT_CAPACITY;
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new AgentError("ERR_INTERNAL", "internal error", "event log capacity must be a positive integer");
    }
    const latest = options.latest ?? 0;
    if (!Number.isSafeInteger(latest) || latest < 0) {
      throw new AgentError(
        "ERR_INTERNAL",
        "internal error",
        "event log latest must be a non-negative integer",
      );
    }
    this.#capacity = capacity;
    this.#ring = new Array<StreamEvent | undefined>(capacity);
    this.#latest = latest;
    // Only a run of events ending at `latest` without a hole can be replayed.
    const initial = options.initial ?? [];
    let start = initial.length;
    while (start > 0 && initial[start - 1]!.seq === latest - (initial.length - start)) start--;
    for (const event of initial.slice(Math.max(start, initial.length - capacity))) this.#push(event);
  }

  /** The newest seq (0 for a log that never had an event). */
  get latest(): number {
    return this.#latest;
  }

  /** The seq of the oldest event kept, latest + 1 when none is kept. */
  get oldest(): number {
    return this.#latest - this.#size + 1;
  }

  get size(): number {
    return this.#size;
  }

  get capacity(): number {
    return this.#capacity;
  }

  get subscriberCount(): number {
    return this.#subscribers.size;
  }

  /** The kept events after `seq`, oldest first (what the event file writes). */
  after(seq: number): StreamEvent[] {
    const out: StreamEvent[] = [];
    for (let s = Math.max(seq + 1, this.oldest); s <= this.#latest; s++) out.push(this.#at(s));
    return out;
  }

  /** Numbers the event, keeps it (dropping the oldest beyond capacity) and offers it to every subscriber. */
  append(input: NewStreamEvent): StreamEvent {
    const problem = checkEvent(input);
    if (problem !== undefined) {
      throw new AgentError("ERR_INTERNAL", "internal error", `refused stream event: ${problem}`);
    }
    if (this.#latest >= Number.MAX_SAFE_INTEGER) {
      throw new AgentError("ERR_INTERNAL", "internal error", "event sequence exhausted");
    }
    const event: StreamEvent = Object.freeze({
      seq: this.#latest + 1,
      type: input.type,
      action: input.action,
      parents: Object.freeze([...input.parents]),
      resource_uri: input.resource_uri,
      state: input.state,
      uuid: input.uuid,
      datetime: input.datetime,
      namespace: input.namespace,
    });
    this.#push(event);
    this.#dispatch();
    return event;
  }

  /** Replays what follows `since`, then live events; or says why `since` cannot be served. */
  subscribe(options: SubscribeOptions): Subscription | Relist {
    const since = options.since;
    if (since !== undefined) {
      const refusal = this.#refusal(since);
      if (refusal !== undefined) return refusal;
    }
    const from = since ?? this.#latest;
    const subscriber: Subscriber = { cursor: from, replayEnd: this.#latest, options, active: true };
    this.#subscribers.add(subscriber);
    const subscription: Subscription = {
      relist: false,
      from,
      get active() {
        return subscriber.active;
      },
      unsubscribe: () => this.#remove(subscriber),
    };
    this.#handles.set(subscription, subscriber);
    this.#dispatch();
    return subscription;
  }

  /** Stops delivering to `subscription` (its `overflow` is not called). */
  unsubscribe(subscription: Subscription): void {
    const subscriber = this.#handles.get(subscription);
    if (subscriber !== undefined) this.#remove(subscriber);
  }

  #refusal(since: number): Relist | undefined {
    const oldestKept = this.oldest;
    const latest = this.#latest;
    if (!Number.isSafeInteger(since) || since < oldestKept - 1) {
      return {
        relist: true,
        reason: "expired",
        oldestKept,
        latest,
        message: Number.isSafeInteger(since)
          ? `events after ${since} are no longer kept (the oldest kept is ${oldestKept}): list again`
          : `since must be a whole number (the oldest event kept is ${oldestKept}): list again`,
      };
    }
    if (since > latest) {
      return {
        relist: true,
        reason: "future",
        oldestKept,
        latest,
        message: `no event ${since} yet (the newest is ${latest}): list again`,
      };
    }
    return undefined;
  }

  #push(event: StreamEvent): void {
    if (this.#size < this.#capacity) {
      this.#ring[(this.#head + this.#size) % this.#capacity] = event;
      this.#size++;
    } else {
      this.#ring[this.#head] = event;
      this.#head = (this.#head + 1) % this.#capacity;
    }
    this.#latest = event.seq;
  }

  /** The kept event `seq` (oldest <= seq <= latest). */
  #at(seq: number): StreamEvent {
    return this.#ring[(this.#head + (seq - this.oldest)) % this.#capacity]!;
  }

  #remove(subscriber: Subscriber): void {
    subscriber.active = false;
    this.#subscribers.delete(subscriber);
  }

  #drop(subscriber: Subscriber, reason: DropReason): void {
    if (!subscriber.active) return;
    this.#remove(subscriber);
    try {
      subscriber.options.overflow(reason);
    } catch {
      // Its own error handler failed: it is dropped all the same.
    }
  }

  /**
   * Offers every subscriber what follows its cursor. Re-entrant calls (an append or a subscription from
   * inside a callback) return at once: the loop running already picks their events up, in order.
   */
  #dispatch(): void {
    if (this.#dispatching) return;
    this.#dispatching = true;
    try {
      let pending = true;
      while (pending) {
        pending = false;
        for (const subscriber of this.#subscribers) {
          this.#drain(subscriber);
          if (subscriber.active && subscriber.cursor < this.#latest) pending = true;
        }
      }
    } finally {
      this.#dispatching = false;
    }
  }

  #drain(subscriber: Subscriber): void {
    const { accepts, deliver, queueLimit } = subscriber.options;
    // Only up to what is there now: one subscriber appending from its callback cannot starve the others.
    const end = this.#latest;
    while (subscriber.active && subscriber.cursor < end) {
      if (subscriber.cursor < this.oldest - 1) return this.#drop(subscriber, "slow");
      if (this.#latest - Math.max(subscriber.cursor, subscriber.replayEnd) > queueLimit) {
        return this.#drop(subscriber, "slow");
      }
      const event = this.#at(subscriber.cursor + 1);
      subscriber.cursor = event.seq;
      let sent: void | boolean;
      try {
        if (!accepts(event)) continue;
        sent = deliver(event);
      } catch {
        return this.#drop(subscriber, "threw");
      }
      if (sent === false) return this.#drop(subscriber, "slow");
    }
  }
}
