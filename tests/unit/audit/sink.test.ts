import { sampleAuditEvent } from "../../helpers/audit-event.ts";
import { afterAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type AuditEvent, redactUri } from "../../../src/audit/event.ts";
import { AuditSink } from "../../../src/audit/sink.ts";
import { AgentError } from "../../../src/errors.ts";
import type { FileSystem } from "../../../src/ports.ts";
import { nodeFileSystem } from "../../../src/runtime/node-file-system.ts";
import { removeTempDirs, tempDir } from "../../helpers/fixtures.ts";

afterAll(removeTempDirs);

const event = (i: number): AuditEvent =>
  sampleAuditEvent({ time: "2026-11-23T10:00:00.000Z", decisionId: i.toString(16).padStart(12, "0") });

describe("audit sink", () => {
  test("writes one JSON line per event", async () => {
    const dir = await tempDir("audit-");
    const sink = new AuditSink(nodeFileSystem, {
      path: join(dir, "audit.log"),
      onError: () => {},
      nowMs: () => 0,
    });
    for (let i = 0; i < 5; i++) sink.write(event(i));
    await sink.flush();
    const lines = readFileSync(join(dir, "audit.log"), "utf8").trim().split("\n");
    expect(lines.length).toBe(5);
    expect(JSON.parse(lines[4]!).decisionId).toBe("000000000004");
  });

  test("rotates by size and keeps only N old files", async () => {
    const dir = await tempDir("audit-");
    const sink = new AuditSink(nodeFileSystem, {
      path: join(dir, "audit.log"),
      maxBytes: 2000,
      keep: 2,
      onError: () => {},
      nowMs: () => 0,
    });
    for (let i = 0; i < 60; i++) {
      sink.write(event(i));
      await sink.flush();
    }
    expect(readdirSync(dir).sort()).toEqual(["audit.log", "audit.log.1", "audit.log.2"]);
    for (const f of readdirSync(dir)) expect(readFileSync(join(dir, f)).length).toBeLessThanOrEqual(2000);
    const last = readFileSync(join(dir, "audit.log"), "utf8").trim().split("\n").at(-1)!;
    expect(JSON.parse(last).decisionId).toBe((59).toString(16).padStart(12, "0"));
  });

  test("a failing disk does not stop decisions: events wait, the problem is reported once, then recovered", async () => {
    let failing = true;
    const written: string[] = [];
    const errors: string[] = [];
    const fs = {
      ...nodeFileSystem,
      stat: () => Promise.resolve(undefined),
      appendLine: (_p: string, line: string) => {
        if (failing) return Promise.reject(new AgentError("ERR_STATE_IO", "cannot access audit.log: ENOSPC"));
        written.push(line);
        return Promise.resolve();
      },
    } as FileSystem;
    const sink = new AuditSink(fs, { path: "/x/audit.log", onError: (m) => errors.push(m), nowMs: () => 0 });
    sink.write(event(1));
    await sink.flush();
    sink.write(event(2));
    await sink.flush();
    expect(errors.length).toBe(1);
    expect(errors[0]).toContain("ENOSPC");
    failing = false;
    sink.write(event(3));
    await sink.flush();
    expect(written.join("\n").split("\n").length).toBe(3);
  });

  /**
   * A file system that records the text of each append. Gated, an append finishes only when the test
   * resolves it (its resolver waits in `waiting`), as on a slow disk; else at once.
   */
  function recordingFs({ gated = false } = {}) {
    const appends: string[] = [];
    const waiting: (() => void)[] = [];
    const fs = {
      ...nodeFileSystem,
      stat: () => Promise.resolve(undefined),
      appendLine: (_p: string, line: string) =>
        new Promise<void>((resolve) => {
          appends.push(line);
          if (gated) waiting.push(resolve);
          else resolve();
        }),
    } as FileSystem;
    return { fs, appends, waiting };
  }

  test("a large batch is serialized in slices: the event loop runs in between, appends stay within 16 KiB", async () => {
    const { fs, appends } = recordingFs();
    const sink = new AuditSink(fs, { path: "/x/audit.log", onError: () => {}, nowMs: () => 0 });
    // A turn of the event loop counted while the batch is written: requests waiting on the socket get in too.
    let turns = 0;
    let probing = true;
    const probe = () => {
      if (!probing) return;
      turns++;
      setImmediate(probe);
    };
    setImmediate(probe);
    for (let i = 0; i < 2_000; i++) sink.write(event(i)); // ~600 KB of JSON
    await sink.flush();
    probing = false;
    const lines = appends.join("\n").split("\n");
    expect(lines.length).toBe(2_000);
    expect(lines.map((l) => JSON.parse(l).decisionId)).toEqual(
      Array.from({ length: 2_000 }, (_, i) => i.toString(16).padStart(12, "0")),
    );
    for (const text of appends) expect(text.length).toBeLessThanOrEqual(16 * 1024);
    // One turn per 4 KiB serialized, at least: far more than one for the whole batch.
    expect(turns).toBeGreaterThan(100);
  });

  test("events that arrive while a batch is written wait for the next batch, not an append each", async () => {
    const { fs, appends, waiting } = recordingFs({ gated: true });
    const turn = () => new Promise((resolve) => setImmediate(resolve));
    /** Lets every append finish, and whatever the drain does next, until it is idle. */
    const settle = async () => {
      for (let idle = 0; idle < 5; idle++) {
        await turn();
        if (waiting.length > 0) {
          waiting.splice(0).forEach((resolve) => resolve());
          idle = 0;
        }
      }
    };
    const lineCount = () => appends.join("\n").split("\n").filter((l) => l !== "").length;
    const sink = new AuditSink(fs, { path: "/x/audit.log", batchMs: 30, onError: () => {}, nowMs: () => 0 });
    for (let i = 0; i < 512; i++) sink.write(event(i)); // a full batch: written at once
    for (let i = 0; i < 100 && waiting.length === 0; i++) await turn();
    expect(waiting.length).toBe(1); // its first append is under way
    for (let i = 512; i < 515; i++) sink.write(event(i)); // three more meanwhile
    await settle();
    expect(lineCount()).toBe(512); // the batch, and not yet the three
    await new Promise((resolve) => setTimeout(resolve, 60));
    await settle();
    expect(lineCount()).toBe(515);
    expect(appends.at(-1)!.split("\n").length).toBe(3); // together, in one append after the timer
  });

  test("redacts build args and auth values in URIs", () => {
    expect(redactUri('/v1.41/build?buildargs={"PASSWORD":"hunter2"}&t=x')).not.toContain("hunter2");
    expect(redactUri("/v1.41/containers/json?all=1")).toBe("/v1.41/containers/json?all=1");
  });

  test("the fast path for plain queries gives what parsing every query gives, hostile spellings included", () => {
    const secret = new Set(["buildargs", "registryauth", "password", "secret", "token", "auth"]);
    // The reference: always parse, as before the fast path.
    const parsed = (uri: string) => {
      const q = uri.indexOf("?");
      if (q < 0) return uri;
      const params = new URLSearchParams(uri.slice(q + 1));
      let changed = false;
      for (const key of [...params.keys()]) {
        if (secret.has(key.toLowerCase())) {
          params.set(key, "REDACTED");
          changed = true;
        }
      }
      return changed ? `${uri.slice(0, q)}?${params.toString()}` : uri;
    };
    const queries = [
      "auth=s3cr3t",
      "AUTH=s3cr3t",
      "Token=s3cr3t&x=1",
      "x=1&password=s3cr3t",
      "auth",
      "x=1&auth",
      "auth&x=1",
      "%61uth=s3cr3t",
      "a%75th=s3cr3t",
      "+auth=s3cr3t",
      "auth+=s3cr3t",
      "registryAuth=e30=",
      "buildargs=%7B%22A%22%3A%22s3cr3t%22%7D",
      "x=auth&y=token",
      "authx=1&xauth=2",
      "secret=a&secret=b",
      "",
      "&&auth=s3cr3t&&",
      "x=1;auth=s3cr3t",
    ];
    for (const query of queries) {
      const uri = `/v1.41/build?${query}`;
      expect([query, redactUri(uri)]).toEqual([query, parsed(uri)]);
    }
    // (" auth", from "+auth", and "1;auth" are other keys, to dockerd too.)
    for (
      const query of queries.filter((q) => /auth=|token=|password=|secret=/i.test(q) && !/[+;]/.test(q))
    ) {
      expect([query, redactUri(`/x?${query}`).includes("s3cr3t")]).toEqual([query, false]);
    }
  });
});
