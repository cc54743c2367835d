/**
 * The event log on disk: batches (never a write per event), a clean restart resumes, a crash never reuses a
 * seq and tells resuming clients to relist, torn and corrupt lines, duplicate and out-of-order seqs,
 * compaction, write failures, and the flusher loop.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { statSync } from "node:fs";
import { join } from "node:path";
import { nodeFileSystem } from "../../../src/runtime/node-file-system.ts";
import type { StreamEvent } from "../../../src/stream/event.ts";
import type { Relist } from "../../../src/stream/event-log.ts";
import { openEventFile, readEventFile, RESERVE, runFlusher } from "../../../src/stream/event-file.ts";
import { removeTempDirs, tempDir } from "../../helpers/fixtures.ts";
import { containerEvent, memoryFs } from "./helpers.ts";

afterAll(removeTempDirs);

const PATH = "/state/events.jsonl";
const NOW = Date.UTC(2026, 5, 1, 12);
const clock = () => new Date(NOW);
const lines = (text: string | undefined) => (text ?? "").split("\n").filter((l) => l !== "");
const eventLines = (text: string | undefined) => lines(text).filter((l) => l.includes('"seq"'));

function event(seq: number): StreamEvent {
  return { ...containerEvent("alice", seq), seq };
}

describe("events.jsonl", () => {
  test("a first start begins at the clock in ms and writes the file with a reservation", async () => {
    const fs = memoryFs();
    const file = await openEventFile({ fs, path: PATH, clock });
    expect(file.problem).toBeUndefined();
    expect(file.log.latest).toBe(NOW);
    expect(lines(fs.files.get(PATH))).toEqual([JSON.stringify({ reserved: NOW + RESERVE })]);
    expect(file.log.append(containerEvent("alice")).seq).toBe(NOW + 1);
  });

  test("events are written in one append per flush, never one per event; nothing new, no write", async () => {
    const fs = memoryFs();
    const file = await openEventFile({ fs, path: PATH, clock });
    fs.calls.length = 0;
    for (let i = 0; i < 50; i++) file.log.append(containerEvent("alice", i));
    await file.flush();
    expect(fs.calls).toEqual([`appendLine ${PATH}`]);
    await file.flush();
    await file.flush();
    expect(fs.calls.length).toBe(1);
    file.log.append(containerEvent("alice"));
    await file.flush("1780315200123456789");
    expect(fs.calls.length).toBe(2);
    const text = fs.files.get(PATH)!;
    expect(eventLines(text).length).toBe(51);
    expect(lines(text).at(-1)).toBe(JSON.stringify({ docker: "1780315200123456789" }));
    // Each line is the event as the log holds it, namespace included.
    expect(JSON.parse(eventLines(text)[0]!)).toEqual(file.log.after(0)[0]);
  });

  test("after a clean stop the log continues: same seqs, resumable since, the reader's position", async () => {
    const fs = memoryFs();
    const first = await openEventFile({ fs, path: PATH, clock });
    for (let i = 0; i < 5; i++) first.log.append(containerEvent("alice", i));
    await first.flush();
    first.log.append(containerEvent("alice"));
    await first.close("1780315200123456789");
    expect(lines(fs.files.get(PATH)).at(-1)).toBe(JSON.stringify({ closed: NOW + 6 }));

    const second = await openEventFile({ fs, path: PATH, clock: () => new Date(NOW + 60_000) });
    expect(second.problem).toBeUndefined();
    expect(second.dockerPosition).toBe("1780315200123456789");
    expect([second.log.oldest, second.log.latest]).toEqual([NOW + 1, NOW + 6]);
    expect(second.log.after(0)).toEqual(first.log.after(0));
    const replayed: number[] = [];
    second.log.subscribe({
      since: NOW + 3,
      accepts: () => true,
      queueLimit: 10,
      deliver: (e) => void replayed.push(e.seq),
      overflow: () => {},
    });
    expect(replayed).toEqual([NOW + 4, NOW + 5, NOW + 6]);
    expect(second.log.append(containerEvent("alice")).seq).toBe(NOW + 7);
    // The start rewrote the file: the closing mark is gone, so a crash now is seen as one.
    expect(fs.files.get(PATH)).not.toContain("closed");
  });

  test("after a crash no seq is reused, even those never written; resuming clients are told to relist", async () => {
    const fs = memoryFs();
    const first = await openEventFile({ fs, path: PATH, clock });
    for (let i = 0; i < 3; i++) first.log.append(containerEvent("alice", i));
    await first.flush();
    // Delivered to clients, never written: the agent dies before the next flush.
    for (let i = 0; i < 4; i++) first.log.append(containerEvent("alice", i));
    const issued = first.log.latest;

    const second = await openEventFile({ fs, path: PATH, clock });
    expect(second.problem).toContain("without closing it");
    expect(second.log.latest).toBeGreaterThanOrEqual(issued);
    expect(second.log.latest).toBe(NOW + RESERVE);
    expect(second.log.size).toBe(0);
    const refused = second.log.subscribe({
      since: NOW + 3,
      accepts: () => true,
      queueLimit: 10,
      deliver: () => {},
      overflow: () => {},
    }) as Relist;
    expect(refused).toMatchObject({ relist: true, reason: "expired" });
    expect(second.log.append(containerEvent("alice")).seq).toBeGreaterThan(issued);
  });

  test("reservations are renewed before half is used", async () => {
    const fs = memoryFs();
    const file = await openEventFile({ fs, path: PATH, clock, capacity: 60_000 });
    for (let i = 0; i < RESERVE / 2 - 1; i++) file.log.append(containerEvent("alice", i));
    await file.flush();
    expect(lines(fs.files.get(PATH)).filter((l) => l.includes("reserved")).length).toBe(1);
    file.log.append(containerEvent("alice"));
    file.log.append(containerEvent("alice"));
    fs.calls.length = 0;
    await file.flush();
    expect(fs.calls).toEqual([`appendLine ${PATH}`]);
    const reservations = lines(fs.files.get(PATH)).filter((l) => l.includes("reserved"));
    expect(reservations.at(-1)).toBe(JSON.stringify({ reserved: file.log.latest + RESERVE }));
  });

  test("a torn last line (the agent died mid-write) is never read", () => {
    const good = [
      JSON.stringify({ reserved: 100 + RESERVE }),
      JSON.stringify(event(99)),
      JSON.stringify(event(100)),
    ];
    const torn = `${good.join("\n")}\n${JSON.stringify(event(101)).slice(0, 40)}`;
    const loaded = readEventFile(torn, 0, PATH);
    expect(loaded.problem).toContain("torn");
    expect(loaded.events).toEqual([]);
    expect(loaded.latest).toBe(100 + RESERVE);
    // Even a complete event without its "\n", or a closing mark without one.
    const closedTorn = `${good.join("\n")}\n${JSON.stringify({ closed: 100 })}`;
    expect(readEventFile(closedTorn, 0, PATH).problem).toContain("torn");
  });

  test("a clean file: the run of consecutive seqs at its end is replayed; holes, duplicates, disorder cut it", () => {
    const text = (seqs: number[], closed: number) =>
      [...seqs.map((s) => JSON.stringify(event(s))), JSON.stringify({ closed })].join("\n") + "\n";
    expect(readEventFile(text([1, 2, 3, 4], 4), 0, PATH)).toMatchObject({ latest: 4, problem: undefined });
    expect(readEventFile(text([1, 2, 3, 4], 4), 0, PATH).events.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    const seqsOf = (seqs: number[], closed: number) => {
      const loaded = readEventFile(text(seqs, closed), 0, PATH);
      return { latest: loaded.latest, seqs: loaded.events.map((e) => e.seq), problem: loaded.problem };
    };
    // A hole: what follows it only.
    expect(seqsOf([1, 2, 4, 5], 5)).toMatchObject({ latest: 5, seqs: [4, 5] });
    expect(seqsOf([1, 2, 4, 5], 5).problem).toContain("2 events");
    // A duplicate: only what is above every seq before the run.
    expect(seqsOf([1, 2, 3, 3, 4], 4)).toMatchObject({ latest: 4, seqs: [4] });
    expect(seqsOf([1, 2, 3, 4, 2, 3, 4], 4)).toMatchObject({ latest: 4, seqs: [] });
    // Out of order: a seq above the run before it.
    expect(seqsOf([1, 9, 3, 4], 4)).toMatchObject({ seqs: [] });
    // A seq above the closing mark is not a clean file: nothing replayed, no seq reused.
    const above = seqsOf([1, 2, 7, 3], 3);
    expect(above.seqs).toEqual([]);
    expect(above.latest).toBeGreaterThanOrEqual(7);
    // Closed after a restart that kept nothing: no event, the mark is the latest.
    expect(seqsOf([], 50)).toMatchObject({ latest: 50, seqs: [] });
  });

  test("corrupt lines are skipped; a wholly corrupt or unreadable file starts from the clock", async () => {
    const text = [
      JSON.stringify(event(1)),
      "{not json",
      JSON.stringify({ ...event(2), namespace: "" }),
      "[]",
      "null",
      JSON.stringify({ seq: "3" }),
      JSON.stringify(event(2)),
      JSON.stringify({ closed: 2 }),
    ].join("\n") + "\n";
    const loaded = readEventFile(text, 0, PATH);
    expect(loaded.events.map((e) => e.seq)).toEqual([1, 2]);
    expect(loaded.problem).toContain("1 unreadable");
    const garbage = readEventFile("\u0000\u0001garbage\n\n", NOW, PATH);
    expect([garbage.latest, garbage.events.length]).toEqual([NOW, 0]);
    expect(readEventFile("", NOW, PATH)).toMatchObject({
      latest: NOW,
      problem: expect.stringContaining("empty"),
    });

    const fs = memoryFs();
    fs.files.set(PATH, "whatever");
    fs.failNext("readText");
    const file = await openEventFile({ fs, path: PATH, clock });
    expect(file.problem).toContain("cannot be read");
    expect(file.log.latest).toBe(NOW);
    // And the file is replaced by a good one.
    expect(readEventFile(fs.files.get(PATH)!, 0, PATH).latest).toBe(NOW + RESERVE);
  });

  test("the file is rewritten with the newest events once it passes twice the capacity in lines", async () => {
    const fs = memoryFs();
    const file = await openEventFile({ fs, path: PATH, clock, capacity: 10 });
    let maxLines = 0;
    for (let i = 0; i < 95; i++) {
      file.log.append(containerEvent("alice", i));
      await file.flush();
      maxLines = Math.max(maxLines, lines(fs.files.get(PATH)).length);
    }
    expect(maxLines).toBeLessThanOrEqual(20);
    expect(fs.calls.filter((c) => c.startsWith("writeAtomic")).length).toBeGreaterThan(1);
    await file.close();
    const again = await openEventFile({ fs, path: PATH, clock, capacity: 10 });
    expect(again.problem).toBeUndefined();
    expect(again.log.after(0).map((e) => e.seq - NOW)).toEqual([86, 87, 88, 89, 90, 91, 92, 93, 94, 95]);
  });

  test("more events than kept between two flushes: the file is rewritten, without a hole", async () => {
    const fs = memoryFs();
    const file = await openEventFile({ fs, path: PATH, clock, capacity: 10 });
    for (let i = 0; i < 3; i++) file.log.append(containerEvent("alice", i));
    await file.flush();
    for (let i = 0; i < 25; i++) file.log.append(containerEvent("alice", i));
    fs.calls.length = 0;
    await file.close();
    expect(fs.calls).toEqual([`writeAtomic ${PATH}`]);
    const again = await openEventFile({ fs, path: PATH, clock, capacity: 10 });
    expect([again.problem, again.log.oldest - NOW, again.log.latest - NOW]).toEqual([undefined, 19, 28]);
  });

  test("a failed append is retried by the next flush as a rewrite: no torn or doubled line", async () => {
    const fs = memoryFs();
    const file = await openEventFile({ fs, path: PATH, clock });
    file.log.append(containerEvent("alice"));
    fs.failNext("appendLine");
    await expect(file.flush()).rejects.toThrow("cannot write");
    // A torn half of it may be in the file.
    fs.files.set(PATH, fs.files.get(PATH)! + '{"seq":');
    file.log.append(containerEvent("alice"));
    await file.flush();
    await file.close();
    const text = fs.files.get(PATH)!;
    expect(eventLines(text).map((l) => (JSON.parse(l) as StreamEvent).seq - NOW)).toEqual([1, 2]);
    expect(readEventFile(text, 0, PATH).problem).toBeUndefined();
  });

  test("flushes run one at a time, in order", async () => {
    const fs = memoryFs();
    const file = await openEventFile({ fs, path: PATH, clock });
    const all: Promise<void>[] = [];
    for (let i = 0; i < 5; i++) {
      file.log.append(containerEvent("alice", i));
      all.push(file.flush());
    }
    await Promise.all(all);
    await file.close();
    const seqs = eventLines(fs.files.get(PATH)).map((l) => (JSON.parse(l) as StreamEvent).seq - NOW);
    expect(seqs).toEqual([1, 2, 3, 4, 5]);
  });

  test("on disk: 0600, and it survives a restart", async () => {
    const path = join(await tempDir("agent-events"), "events.jsonl");
    const file = await openEventFile({ fs: nodeFileSystem, path, clock });
    file.log.append(containerEvent("alice"));
    file.log.append(containerEvent("bob"));
    await file.flush();
    file.log.append(containerEvent("alice"));
    await file.close();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const again = await openEventFile({ fs: nodeFileSystem, path, clock });
    expect(again.problem).toBeUndefined();
    expect(again.log.after(0).map((e) => [e.seq - NOW, e.namespace])).toEqual([[1, "alice"], [2, "bob"], [
      3,
      "alice",
    ]]);
  });
});

describe("runFlusher", () => {
  test("flushes every interval with the reader's position, closes when stopped, logs failure and recovery once", async () => {
    const fs = memoryFs();
    const file = await openEventFile({ fs, path: PATH, clock });
    const wakers: (() => void)[] = [];
    const platform = {
      sleep: (_ms: number, signal?: AbortSignal) =>
        new Promise<void>((resolve) => {
          wakers.push(resolve);
          signal?.addEventListener("abort", () => resolve(), { once: true });
        }),
    };
    const abort = new AbortController();
    const logs: string[] = [];
    const tick = async () => {
      wakers.splice(0).forEach((wake) => wake());
      await new Promise((resolve) => setTimeout(resolve, 5));
    };
    const done = runFlusher({
      file,
      platform,
      signal: abort.signal,
      position: () => "123",
      log: (m) => logs.push(m),
    });
    file.log.append(containerEvent("alice"));
    await tick();
    expect(eventLines(fs.files.get(PATH)).length).toBe(1);
    // The append fails, then the rewrite that retries it, then it works.
    fs.failNext("appendLine");
    fs.failNext("writeAtomic");
    file.log.append(containerEvent("alice"));
    await tick();
    await tick();
    expect(logs.length).toBe(1);
    expect(logs[0]).toContain("cannot write events.jsonl");
    await tick();
    expect(logs.length).toBe(2);
    expect(logs[1]).toContain("written again");
    file.log.append(containerEvent("alice"));
    abort.abort();
    await done;
    const text = fs.files.get(PATH)!;
    expect(lines(text).at(-1)).toBe(JSON.stringify({ closed: NOW + 3 }));
    expect(text).toContain(JSON.stringify({ docker: "123" }));
    expect(eventLines(text).length).toBe(3);
  });
});
