/**
 * The event log: numbering, the bounded ring, replay then live without gap or duplicate (even when events
 * are appended from inside a delivery), relist for a since it cannot serve, and subscribers that are slow
 * or throw being dropped without affecting anybody else.
 */
import { describe, expect, test } from "bun:test";
import type { StreamEvent } from "../../../src/stream/event.ts";
import { type DropReason, EventLog, type Relist, type Subscription } from "../../../src/stream/event-log.ts";
import { containerEvent } from "./helpers.ts";

function filled(n: number, capacity?: number): EventLog {
  const log = new EventLog(capacity === undefined ? {} : { capacity });
  for (let i = 0; i < n; i++) log.append(containerEvent("alice", i));
  return log;
}

/** A subscriber recording what it is given. */
function recorder(
  log: EventLog,
  options: { since?: number; queueLimit?: number; accepts?: (e: StreamEvent) => boolean } = {},
) {
  const seqs: number[] = [];
  const drops: DropReason[] = [];
  const result = log.subscribe({
    ...(options.since === undefined ? {} : { since: options.since }),
    accepts: options.accepts ?? (() => true),
    queueLimit: options.queueLimit ?? 100,
    deliver: (e) => void seqs.push(e.seq),
    overflow: (reason) => void drops.push(reason),
  });
  return { seqs, drops, result };
}

function subscription(result: Subscription | Relist): Subscription {
  if (result.relist) throw new Error(`refused: ${result.message}`);
  return result;
}

describe("event log: numbering and the ring", () => {
  test("numbers events from 1, one more each, and keeps them frozen", () => {
    const log = new EventLog();
    expect(log.latest).toBe(0);
    expect(log.oldest).toBe(1);
    const first = log.append(containerEvent("alice"));
    const second = log.append(containerEvent("alice", 1));
    expect([first.seq, second.seq]).toEqual([1, 2]);
    expect(Object.isFrozen(first)).toBe(true);
    expect(Object.isFrozen(first.parents)).toBe(true);
    expect(log.after(0).map((e) => e.seq)).toEqual([1, 2]);
  });

  test("keeps the newest `capacity` events (10,000 by default)", () => {
    expect(new EventLog().capacity).toBe(10_000);
    const log = filled(25, 10);
    expect(log.size).toBe(10);
    expect([log.oldest, log.latest]).toEqual([16, 25]);
    expect(log.after(0).map((e) => e.seq)).toEqual([16, 17, 18, 19, 20, 21, 22, 23, 24, 25]);
    expect(log.after(23).map((e) => e.seq)).toEqual([24, 25]);
    expect(log.after(25)).toEqual([]);
  });

  test("continues after the last run's seq with the run of its events that ends there", () => {
    const old = filled(6).after(0);
    const log = new EventLog({ latest: 6, initial: old });
    expect([log.oldest, log.latest]).toEqual([1, 6]);
    expect(log.append(containerEvent("alice")).seq).toBe(7);
    // A hole (4 missing): only what follows it is replayable.
    const holed = new EventLog({ latest: 6, initial: old.filter((e) => e.seq !== 4) });
    expect(holed.oldest).toBe(5);
    // Events that do not end at latest cannot be replayed at all.
    const stale = new EventLog({ latest: 100, initial: old });
    expect([stale.size, stale.oldest]).toEqual([0, 101]);
    // More than capacity: the newest.
    const small = new EventLog({ capacity: 2, latest: 6, initial: old });
    expect(small.after(0).map((e) => e.seq)).toEqual([5, 6]);
  });

  test("refuses an event whose parents name another namespace, or that is malformed", () => {
    const log = new EventLog();
    const foreign = { ...containerEvent("alice"), parents: ["/api/app/v1/bob/service/x/"] };
    expect(() => log.append(foreign)).toThrow();
    expect(() => log.append({ ...containerEvent("alice"), type: "stack" as never })).toThrow();
    expect(() => log.append({ ...containerEvent("alice"), namespace: "" })).toThrow();
    expect(log.latest).toBe(0);
  });
});

describe("event log: since", () => {
  test("replays what follows since, exactly once, then live events", () => {
    const log = filled(5);
    const r = recorder(log, { since: 2 });
    expect(subscription(r.result).from).toBe(2);
    expect(r.seqs).toEqual([3, 4, 5]);
    log.append(containerEvent("alice"));
    expect(r.seqs).toEqual([3, 4, 5, 6]);
  });

  test("no since: live events only; since = latest: nothing to replay; since = 0 on a full history", () => {
    const log = filled(3);
    const live = recorder(log);
    const current = recorder(log, { since: 3 });
    const all = recorder(log, { since: 0 });
    expect([live.seqs, current.seqs, all.seqs]).toEqual([[], [], [1, 2, 3]]);
    log.append(containerEvent("alice"));
    expect([live.seqs, current.seqs, all.seqs]).toEqual([[4], [4], [1, 2, 3, 4]]);
  });

  test("a since older than what is kept, negative or not a whole number: relist, saying the oldest kept", () => {
    const log = filled(25, 10);
    expect(subscription(recorder(log, { since: 15 }).result).from).toBe(15);
    for (const since of [14, 0, -1, 1.5, Number.NaN]) {
      const refused = recorder(log, { since }).result as Relist;
      expect(refused).toMatchObject({ relist: true, reason: "expired", oldestKept: 16, latest: 25 });
      expect(refused.message).toContain("16");
    }
    expect(log.subscriberCount).toBe(1);
  });

  test("a since beyond the newest seq: relist, saying it is in the future", () => {
    const log = filled(3);
    for (const since of [4, 1e15, Number.MAX_SAFE_INTEGER]) {
      const refused = recorder(log, { since }).result as Relist;
      expect(refused).toMatchObject({ relist: true, reason: "future", latest: 3, oldestKept: 1 });
      expect(refused.message).toContain("newest is 3");
    }
    // An empty log after a restart that kept nothing: only since = latest is served.
    const empty = new EventLog({ latest: 50 });
    expect((recorder(empty, { since: 49 }).result as Relist).reason).toBe("expired");
    expect(subscription(recorder(empty, { since: 50 }).result).from).toBe(50);
    expect((recorder(empty, { since: 51 }).result as Relist).reason).toBe("future");
  });

  test("events appended during the replay (from a delivery) come after it: no gap, no duplicate", () => {
    const log = filled(5);
    const seqs: number[] = [];
    log.subscribe({
      since: 0,
      accepts: () => true,
      queueLimit: 100,
      deliver: (e) => {
        seqs.push(e.seq);
        if (e.seq === 2) log.append(containerEvent("alice"));
        if (e.seq === 4) {
          log.append(containerEvent("alice"));
          log.append(containerEvent("alice"));
        }
      },
      overflow: () => {},
    });
    expect(seqs).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    log.append(containerEvent("alice"));
    expect(seqs).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  test("a subscription made from inside a delivery gets its own replay and the live events, once each", () => {
    const log = filled(3);
    let late: ReturnType<typeof recorder> | undefined;
    const first = recorder(log);
    log.subscribe({
      accepts: () => true,
      queueLimit: 100,
      deliver: (e) => {
        if (e.seq === 4) late = recorder(log, { since: 1 });
      },
      overflow: () => {},
    });
    log.append(containerEvent("alice"));
    log.append(containerEvent("alice"));
    expect(first.seqs).toEqual([4, 5]);
    expect(late!.seqs).toEqual([2, 3, 4, 5]);
  });

  test("only accepted events are given, in order", () => {
    const log = new EventLog();
    const bob = recorder(log, { accepts: (e) => e.namespace === "bob" });
    for (let i = 0; i < 6; i++) log.append(containerEvent(i % 3 === 0 ? "bob" : "alice", i));
    expect(bob.seqs).toEqual([1, 4]);
  });
});

describe("event log: slow and failing subscribers", () => {
  test("deliver returning false drops the subscriber (overflow once); others and append go on", () => {
    const log = new EventLog();
    let calls = 0;
    const drops: DropReason[] = [];
    const slow = subscription(log.subscribe({
      accepts: () => true,
      queueLimit: 100,
      deliver: () => ++calls < 2,
      overflow: (reason) => void drops.push(reason),
    }));
    const fast = recorder(log);
    for (let i = 0; i < 5; i++) log.append(containerEvent("alice", i));
    expect(calls).toBe(2);
    expect(drops).toEqual(["slow"]);
    expect(slow.active).toBe(false);
    expect(fast.seqs).toEqual([1, 2, 3, 4, 5]);
    expect(log.subscriberCount).toBe(1);
  });

  test("a subscriber that throws (deliver, accepts or overflow) is dropped; nobody else notices", () => {
    const log = new EventLog();
    const drops: string[] = [];
    log.subscribe({
      accepts: () => true,
      queueLimit: 100,
      deliver: () => {
        throw new Error("boom");
      },
      overflow: (reason) => void drops.push(`deliver ${reason}`),
    });
    log.subscribe({
      accepts: () => {
        throw new Error("boom");
      },
      queueLimit: 100,
      deliver: () => true,
      overflow: (reason) => {
        drops.push(`accepts ${reason}`);
        throw new Error("and again");
      },
    });
    const fine = recorder(log);
    expect(() => log.append(containerEvent("alice"))).not.toThrow();
    log.append(containerEvent("alice"));
    expect(drops).toEqual(["deliver threw", "accepts threw"]);
    expect(fine.seqs).toEqual([1, 2]);
    expect(log.subscriberCount).toBe(1);
  });

  test("a subscriber whose replay fails is dropped while subscribing; the subscription says so", () => {
    const log = filled(3);
    let drops = 0;
    const result = subscription(log.subscribe({
      since: 0,
      accepts: () => true,
      queueLimit: 100,
      deliver: (e) => e.seq < 2,
      overflow: () => void drops++,
    }));
    expect(result.active).toBe(false);
    expect(drops).toBe(1);
  });

  test("more than queueLimit live events waiting (appended from a delivery) drops the one behind", () => {
    const log = new EventLog();
    // The first subscriber appends five events when it is given the first one.
    log.subscribe({
      accepts: () => true,
      queueLimit: 100,
      deliver: (e) => {
        if (e.seq === 1) { for (let i = 0; i < 5; i++) log.append(containerEvent("alice", i)); }
      },
      overflow: () => {},
    });
    const tight = recorder(log, { queueLimit: 2 });
    const roomy = recorder(log, { queueLimit: 6 });
    log.append(containerEvent("alice"));
    expect(tight.drops).toEqual(["slow"]);
    expect(tight.seqs).toEqual([]);
    expect(roomy.drops).toEqual([]);
    expect(roomy.seqs).toEqual([1, 2, 3, 4, 5, 6]);
  });

  test("a replay does not count against queueLimit", () => {
    const log = filled(50);
    const r = recorder(log, { since: 0, queueLimit: 1 });
    expect(r.seqs.length).toBe(50);
    expect(r.drops).toEqual([]);
  });

  test("events that left the ring before a subscriber was given them drop it, never a silent gap", () => {
    const log = new EventLog({ capacity: 3 });
    log.subscribe({
      accepts: () => true,
      queueLimit: 100,
      deliver: (e) => {
        if (e.seq === 1) { for (let i = 0; i < 10; i++) log.append(containerEvent("alice", i)); }
      },
      overflow: () => {},
    });
    const behind = recorder(log, { queueLimit: 100 });
    log.append(containerEvent("alice"));
    expect(behind.drops).toEqual(["slow"]);
    expect(behind.seqs).toEqual([]);
  });

  test("unsubscribe stops delivery at once (from inside a delivery too), without overflow", () => {
    const log = new EventLog();
    const r = recorder(log);
    const sub = subscription(r.result);
    log.append(containerEvent("alice"));
    log.unsubscribe(sub);
    log.append(containerEvent("alice"));
    expect(r.seqs).toEqual([1]);
    expect(r.drops).toEqual([]);
    expect(sub.active).toBe(false);

    const seqs: number[] = [];
    let self: Subscription | undefined = undefined;
    self = subscription(log.subscribe({
      accepts: () => true,
      queueLimit: 100,
      deliver: (e) => {
        seqs.push(e.seq);
        self?.unsubscribe();
      },
      overflow: () => {
        throw new Error("not called");
      },
    }));
    log.append(containerEvent("alice"));
    log.append(containerEvent("alice"));
    expect(seqs).toEqual([3]);
    expect(self.active).toBe(false);
    expect(log.subscriberCount).toBe(0);
  });
});

describe("event log: scale", () => {
  test("1,000 subscribers x 1,000 events: each gets exactly its namespace's events, in order", () => {
    const log = new EventLog();
    const subscribers = Array.from({ length: 1000 }, (_, i) => {
      const namespace = `ns${i % 10}`;
      const seqs: number[] = [];
      let drops = 0;
      log.subscribe({
        accepts: (e) => e.namespace === namespace,
        queueLimit: 10,
        deliver: (e) => void seqs.push(e.seq),
        overflow: () => void drops++,
      });
      return { namespace, seqs, drops: () => drops };
    });
    for (let i = 0; i < 1000; i++) log.append(containerEvent(`ns${i % 10}`, i));
    for (const [i, s] of subscribers.entries()) {
      expect(s.drops()).toBe(0);
      expect(s.seqs.length).toBe(100);
      expect(s.seqs[0]).toBe((i % 10) + 1);
      expect(s.seqs.every((seq, k) => seq === (i % 10) + 1 + 10 * k)).toBe(true);
    }
    // And 1,000 more resuming from the middle.
    const resumed = Array.from({ length: 1000 }, () => recorder(log, { since: 500 }));
    expect(resumed.every((r) => r.seqs.length === 500 && r.seqs[0] === 501 && r.seqs[499] === 1000)).toBe(
      true,
    );
  });
});
