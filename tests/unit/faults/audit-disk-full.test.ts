/**
 * The audit log on a disk that fills up: appends that run out of space write part of their text (as
 * write(2) does), then fail. The sink must make progress once some space frees (a backlog larger than
 * the free space is written in chunks) and must never glue a whole event onto a cut line.
 */
import { describe, expect, test } from "bun:test";
import type { AuditEvent } from "../../../src/audit/event.ts";
import { AuditSink } from "../../../src/audit/sink.ts";
import { AgentError } from "../../../src/errors.ts";
import { type FileInfo, type FileSystem } from "../../../src/ports.ts";

const event = (i: number): AuditEvent => ({
  time: "2026-01-02T03:04:05.000Z",
  decisionId: i.toString(16).padStart(12, "0"),
  phase: "request",
  user: "alice",
  authMethod: "tls",
  method: "GET",
  uri: `/v1.41/containers/json?n=${i}`,
  action: "container:list",
  resources: {},
  allow: true,
  decidedBy: "policy",
  ruleId: "r",
  reason: "allowed by rule r",
  code: null,
  policyHash: null,
  status: null,
  durationMs: 0,
});

/** One file on a disk of `capacity` bytes; a write that does not fit writes what fits, then fails. */
function smallDisk(capacity: number) {
  const disk = { capacity, text: "" };
  const fs = {
    stat: (): Promise<FileInfo | undefined> =>
      Promise.resolve(
        disk.text === ""
          ? undefined
          : { mode: 0o640, size: disk.text.length, mtimeMs: 0, isDirectory: false },
      ),
    appendLine: (_path: string, line: string) => {
      const data = line + "\n";
      const room = disk.capacity - disk.text.length;
      disk.text += data.slice(0, Math.max(0, room));
      if (data.length > room) {
        return Promise.reject(new AgentError("ERR_STATE_IO", "cannot access audit.log: ENOSPC"));
      }
      return Promise.resolve();
    },
  } as unknown as FileSystem;
  return { disk, fs };
}

describe("the audit sink on a disk that fills up", () => {
  test("writes a backlog larger than the freed space in chunks, and no event is glued to a cut line", async () => {
    const { disk, fs } = smallDisk(20_000);
    const errors: string[] = [];
    const sink = new AuditSink(fs, { path: "/a/audit.log", onError: (m) => errors.push(m), nowMs: () => 0 });
    for (let i = 0; i < 2_000; i++) sink.write(event(i)); // ~700 KB: far more than the disk holds
    await sink.flush();
    expect(errors.length).toBe(1);
    expect(errors[0]).toBe("cannot write audit log /a/audit.log: cannot access audit.log: ENOSPC");
    // Space frees: far less than the backlog, yet the oldest events get written.
    disk.capacity = 400_000;
    sink.write(event(2_000));
    await sink.flush();
    const lines = disk.text.split("\n").filter((l) => l !== "");
    const parsed: AuditEvent[] = [];
    let broken = 0;
    for (const line of lines) {
      try {
        parsed.push(JSON.parse(line) as AuditEvent);
      } catch {
        broken++;
      }
    }
    // At most the two cuts (the first fill, the second) are broken; every other line is a whole event.
    expect(broken).toBeLessThanOrEqual(2);
    const ids = new Set(parsed.map((e) => e.decisionId));
    expect(ids.size).toBeGreaterThan(900);
    expect(ids.has((0).toString(16).padStart(12, "0"))).toBe(true);
    // And when there is room for all of it, everything arrives.
    disk.capacity = 10_000_000;
    sink.write(event(2_001));
    await sink.flush();
    const all = new Set(
      disk.text.split("\n").flatMap((l) => {
        try {
          return [(JSON.parse(l) as AuditEvent).decisionId];
        } catch {
          return [];
        }
      }),
    );
    expect(all.size).toBe(2_002);
    // No whole event was glued onto a cut line, and only the events of a cut chunk were written twice
    // (re-appending the whole backlog after each failure would duplicate about a thousand).
    const final = disk.text.split("\n").filter((l) => l !== "");
    const unreadable = final.filter((l) => {
      try {
        JSON.parse(l);
        return false;
      } catch {
        return true;
      }
    });
    expect(unreadable.filter((l) => l.endsWith("}"))).toEqual([]);
    expect(final.length - unreadable.length - all.size).toBeLessThan(400);
  });
});
