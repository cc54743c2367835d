/** The live decisions feed: the newest FEED_EVENTS events in order, filtered per viewer, and its followers. */
import { describe, expect, test } from "bun:test";
import type { AuditEvent } from "../../../src/audit/event.ts";
import { DecisionFeed, FEED_EVENTS } from "../../../src/console/decision-feed.ts";
import { auditEvent } from "./helpers.ts";

const all = () => true;
const ids = (events: readonly AuditEvent[]) => events.map((e) => e.decisionId);

describe("the decision feed", () => {
  test("recent gives events oldest first, newest last", () => {
    const feed = new DecisionFeed();
    const pushed = [1, 2, 3].map((n) => auditEvent(n, "alice"));
    for (const e of pushed) feed.push(e);
    expect(feed.recent(10, all)).toEqual(pushed);
  });

  test("limit keeps the newest events, still oldest first", () => {
    const feed = new DecisionFeed();
    for (let n = 1; n <= 5; n++) feed.push(auditEvent(n, "alice"));
    expect(ids(feed.recent(2, all))).toEqual([auditEvent(4, "").decisionId, auditEvent(5, "").decisionId]);
    expect(feed.recent(0, all)).toEqual([]);
    expect(feed.recent(1, all)).toHaveLength(1);
  });

  test("the visible filter is applied before the limit: the newest N visible events", () => {
    const feed = new DecisionFeed();
    const users = ["alice", "bob", "alice", "bob", "bob", null];
    users.forEach((u, i) => feed.push(auditEvent(i + 1, u)));
    const bobs = feed.recent(2, (e) => e.user === "bob");
    expect(bobs.map((e) => e.user)).toEqual(["bob", "bob"]);
    expect(ids(bobs)).toEqual([auditEvent(4, null).decisionId, auditEvent(5, null).decisionId]);
    expect(feed.recent(100, (e) => e.user === "alice")).toHaveLength(2);
    expect(feed.recent(100, () => false)).toEqual([]);
  });

  test(`holds at most FEED_EVENTS (${FEED_EVENTS}) events, dropping the oldest`, () => {
    const feed = new DecisionFeed();
    for (let n = 1; n <= FEED_EVENTS + 5; n++) feed.push(auditEvent(n, "alice"));
    const kept = feed.recent(FEED_EVENTS * 2, all);
    expect(kept).toHaveLength(FEED_EVENTS);
    expect(kept[0]!.decisionId).toBe(auditEvent(6, null).decisionId);
    expect(kept.at(-1)!.decisionId).toBe(auditEvent(FEED_EVENTS + 5, null).decisionId);
  });

  test("followers get every pushed event until they unfollow; followers counts them", () => {
    const feed = new DecisionFeed();
    const seenA: AuditEvent[] = [];
    const seenB: AuditEvent[] = [];
    expect(feed.followers).toBe(0);
    const stopA = feed.follow((e) => seenA.push(e));
    const stopB = feed.follow((e) => seenB.push(e));
    expect(feed.followers).toBe(2);
    const first = auditEvent(1, "alice");
    feed.push(first);
    stopA();
    expect(feed.followers).toBe(1);
    const second = auditEvent(2, "bob");
    feed.push(second);
    expect(seenA).toEqual([first]);
    expect(seenB).toEqual([first, second]);
    stopB();
    stopB(); // twice is harmless
    expect(feed.followers).toBe(0);
    feed.push(auditEvent(3, "bob"));
    expect(seenB).toHaveLength(2);
  });

  test("a follower only sees what is pushed after it follows, and may unfollow from inside its callback", () => {
    const feed = new DecisionFeed();
    feed.push(auditEvent(1, "alice"));
    const seen: AuditEvent[] = [];
    const stop = feed.follow((e) => {
      seen.push(e);
      stop();
    });
    feed.push(auditEvent(2, "alice"));
    feed.push(auditEvent(3, "alice"));
    expect(ids(seen)).toEqual([auditEvent(2, null).decisionId]);
    expect(feed.followers).toBe(0);
    expect(feed.recent(10, all)).toHaveLength(3);
  });
});
