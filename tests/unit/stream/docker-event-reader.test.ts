/**
 * The dockerd event reader: where it starts, what it hands over (once each, in order), reconnection with
 * backoff that resumes without a gap or a duplicate, one log line per transition, and the unix socket source.
 */
import { describe, expect, test } from "bun:test";
import { AgentError } from "../../../src/errors.ts";
import {
  EVENT_FILTERS,
  type EventLineSource,
  linesOf,
  nanosOfLine,
  sinceParam,
  startDockerEventReader,
  unixEventSource,
} from "../../../src/stream/docker-event-reader.ts";
import { backoffMs, reconnectLoop } from "../../../src/stream/reconnect.ts";
import { ID_A } from "./helpers.ts";

const NOW = Date.UTC(2026, 5, 1, 12); // 1780315200000 ms
const T0 = 1780315200_000000000n;

interface Connection {
  readonly path: string;
  push(line: string): void;
  end(): void;
  fail(): void;
}

/** dockerd's /events as the test drives it. */
function fakeDaemon() {
  const connections: Connection[] = [];
  const refusals: Error[] = [];
  const source: EventLineSource = (path, signal) => {
    const refusal = refusals.shift();
    if (refusal !== undefined) return Promise.reject(refusal);
    const queue: ({ line: string } | { end: true } | { error: Error })[] = [];
    let wake: (() => void) | undefined;
    const put = (item: (typeof queue)[number]) => {
      queue.push(item);
      wake?.();
    };
    signal.addEventListener("abort", () => put({ error: new Error("aborted") }), { once: true });
    async function* lines(): AsyncIterable<string> {
      for (;;) {
        while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
        const item = queue.shift()!;
        if ("end" in item) return;
        if ("error" in item) throw item.error;
        yield item.line;
      }
    }
    connections.push({
      path,
      push: (line) => put({ line }),
      end: () => put({ end: true }),
      fail: () => put({ error: new Error("reset") }),
    });
    return Promise.resolve(lines());
  };
  let now = 0;
  const sleeps: number[] = [];
  const sleepers: (() => void)[] = [];
  const platform = {
    sleep: (ms: number, signal?: AbortSignal) =>
      new Promise<void>((resolve) => {
        sleeps.push(ms);
        sleepers.push(resolve);
        signal?.addEventListener("abort", () => resolve(), { once: true });
      }),
    monotonicMs: () => now,
  };
  return {
    source,
    platform,
    connections,
    refusals,
    sleeps,
    wake: () => sleepers.splice(0).forEach((resolve) => resolve()),
    advance: (ms: number) => void (now += ms),
  };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

function line(action: string, nanos: bigint, id = ID_A): string {
  return `{"status":"${action}","id":"${id}","Type":"container","Action":"${action}","Actor":{"ID":"${id}",` +
    `"Attributes":{"name":"web-1"}},"scope":"local","time":${nanos / 1_000_000_000n},"timeNano":${nanos}}`;
}

function reader(daemon: ReturnType<typeof fakeDaemon>, extra: { after?: string } = {}) {
  const events: unknown[] = [];
  const logs: string[] = [];
  const statuses: boolean[] = [];
  const r = startDockerEventReader({
    source: daemon.source,
    platform: daemon.platform,
    clock: () => new Date(NOW),
    onEvent: (e) => void events.push(e),
    log: (m) => void logs.push(m),
    onStatus: (up) => void statuses.push(up),
    ...extra,
  });
  const actions = () => events.map((e) => `${(e as { Action: string }).Action}`);
  return { r, events, logs, statuses, actions };
}

describe("dockerd event reader", () => {
  test("asks for container events since a second before it started, and hands each over in order", async () => {
    const daemon = fakeDaemon();
    const { r, actions, logs, statuses } = reader(daemon);
    await tick();
    expect(daemon.connections.map((c) => c.path)).toEqual([
      `/events?since=1780315199.000000000&filters=${EVENT_FILTERS}`,
    ]);
    expect(decodeURIComponent(EVENT_FILTERS)).toBe('{"type":["container"]}');
    const c = daemon.connections[0]!;
    c.push(line("create", T0 + 1n));
    c.push("");
    c.push("   ");
    c.push("{not json");
    c.push(line("start", T0 + 2n));
    await tick();
    expect(actions()).toEqual(["create", "start"]);
    expect(r.up).toBe(true);
    expect(r.position()).toBe((T0 + 2n).toString());
    // The first connection is not news: nothing logged.
    expect(logs).toEqual([]);
    expect(statuses).toEqual([true]);
    await r.stop();
    expect(r.up).toBe(false);
  });

  test("a reconnection resumes a second before the newest event, skipping what was handed over", async () => {
    const daemon = fakeDaemon();
    const { r, actions, logs, statuses } = reader(daemon);
    await tick();
    const first = daemon.connections[0]!;
    first.push(line("create", T0 + 5_000_000_000n));
    first.push(line("start", T0 + 5_500_000_000n));
    await tick();
    first.fail();
    await tick();
    expect(r.up).toBe(false);
    expect(logs.length).toBe(1);
    expect(logs[0]).toContain("unavailable");
    expect(daemon.sleeps).toEqual([backoffMs(1)]);
    daemon.wake();
    await tick();
    const second = daemon.connections[1]!;
    expect(second.path).toBe(`/events?since=1780315204.500000000&filters=${EVENT_FILTERS}`);
    // dockerd sends again what it has since then: the same lines are skipped; one stamped earlier than the
    // newest but never seen (published late) and the new ones are handed over.
    second.push(line("start", T0 + 5_500_000_000n));
    second.push(line("die", T0 + 5_400_000_000n));
    second.push(line("stop", T0 + 6_000_000_000n));
    await tick();
    expect(actions()).toEqual(["create", "start", "die", "stop"]);
    expect(logs.length).toBe(2);
    expect(logs[1]).toContain("back");
    expect(statuses).toEqual([true, false, true]);
    await r.stop();
  });

  test("failing again and again: one line when it goes down, one when it is back; backoff grows", async () => {
    const daemon = fakeDaemon();
    daemon.refusals.push(
      new AgentError("ERR_DOCKER_UNREACHABLE", "cannot reach the Docker daemon at /d.sock"),
      new Error("x"),
      new Error("y"),
    );
    const { r, logs } = reader(daemon);
    for (let i = 0; i < 3; i++) {
      await tick();
      daemon.wake();
    }
    await tick();
    expect(daemon.sleeps).toEqual([backoffMs(1), backoffMs(2), backoffMs(3)]);
    // Three failures, one line; then connected: one line.
    expect(daemon.connections.length).toBe(1);
    expect(logs.length).toBe(2);
    expect(logs[0]).toContain("cannot reach the Docker daemon at /d.sock");
    expect(logs[1]).toContain("back");
    // It ends cleanly later ("the daemon closed it"): down again, one line.
    daemon.connections[0]!.end();
    await tick();
    expect(logs.length).toBe(3);
    expect(logs[2]).toContain("the daemon closed it");
    await r.stop();
  });

  test("a restart resumes after the last run's position: what it handed over is not handed over again", async () => {
    const daemon = fakeDaemon();
    const after = (T0 + 3n).toString();
    const { r, actions } = reader(daemon, { after });
    await tick();
    expect(daemon.connections[0]!.path).toBe(`/events?since=1780315200.000000003&filters=${EVENT_FILTERS}`);
    daemon.connections[0]!.push(line("create", T0 + 2n));
    daemon.connections[0]!.push(line("start", T0 + 3n));
    daemon.connections[0]!.push(line("die", T0 + 4n));
    await tick();
    expect(actions()).toEqual(["die"]);
    await r.stop();
    // A position that is no number is ignored.
    const other = fakeDaemon();
    const bad = reader(other, { after: "abc" });
    await tick();
    expect(other.connections[0]!.path).toContain("since=1780315199.000000000");
    expect(bad.r.position()).toBe((T0 - 1_000_000_000n).toString());
    await bad.r.stop();
  });

  test("a handler that throws does not stop the reader (logged once)", async () => {
    const daemon = fakeDaemon();
    const logs: string[] = [];
    let seen = 0;
    const r = startDockerEventReader({
      source: daemon.source,
      platform: daemon.platform,
      clock: () => new Date(NOW),
      onEvent: () => {
        seen++;
        throw new Error("bug");
      },
      log: (m) => void logs.push(m),
    });
    await tick();
    daemon.connections[0]!.push(line("create", T0 + 1n));
    daemon.connections[0]!.push(line("start", T0 + 2n));
    await tick();
    expect(seen).toBe(2);
    expect(logs.length).toBe(1);
    expect(r.up).toBe(true);
    await r.stop();
  });

  test("stop ends an open stream and a backoff wait at once", async () => {
    const daemon = fakeDaemon();
    const { r } = reader(daemon);
    await tick();
    await r.stop();
    const again = fakeDaemon();
    again.refusals.push(new Error("down"));
    const waiting = reader(again);
    await tick();
    expect(again.sleeps.length).toBe(1);
    await waiting.r.stop();
    expect(again.connections.length).toBe(0);
  });
});

describe("reader helpers", () => {
  test("nanosOfLine reads timeNano exactly (beyond 2^53), else time", () => {
    expect(nanosOfLine('{"time":1780315200,"timeNano":1780315200123456789}')).toBe(1780315200123456789n);
    expect(nanosOfLine('{"timeNano" : 1780315200123456789 }')).toBe(1780315200123456789n);
    expect(nanosOfLine('{"time":1780315200}')).toBe(1780315200_000000000n);
    // A label's value cannot pass for it: quotes inside a JSON string are escaped.
    expect(nanosOfLine('{"Actor":{"Attributes":{"x":"\\"timeNano\\":5"}},"time":7}')).toBe(7_000000000n);
    expect(nanosOfLine('{"Action":"start"}')).toBeUndefined();
  });

  test("sinceParam is dockerd's seconds.nanoseconds", () => {
    expect(sinceParam(1780315200123456789n)).toBe("1780315200.123456789");
    expect(sinceParam(5n)).toBe("0.000000005");
    expect(sinceParam(-5n)).toBe("0.000000000");
  });

  test("linesOf splits on newlines across chunks (multi-byte characters too), with a last line", async () => {
    const bytes = new TextEncoder().encode('{"a":"\u00e9\u4e2d"}\n{"b":1}\n\n{"c"');
    const chunks = [bytes.slice(0, 7), bytes.slice(7, 8), bytes.slice(8, 15), bytes.slice(15)];
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const chunk of chunks) controller.enqueue(chunk);
        controller.close();
      },
    });
    const out: string[] = [];
    for await (const l of linesOf(body)) out.push(l);
    expect(out).toEqual(['{"a":"\u00e9\u4e2d"}', '{"b":1}', "", '{"c"']);
  });

  test("unixEventSource: the agent's headers, an AgentError when dockerd refuses or is unreachable", async () => {
    const seen: { path: string; headers: Headers }[] = [];
    let status = 200;
    let reachable = true;
    const fetch = (_socket: string, path: string, init?: RequestInit) => {
      seen.push({ path, headers: new Headers(init?.headers) });
      if (!reachable) return Promise.reject(new Error("ECONNREFUSED"));
      return Promise.resolve(new Response(status === 200 ? "one\ntwo\n" : "no", { status }));
    };
    const source = unixEventSource(fetch, "/d.sock", () => ({ "X-Macaroon": "m" }));
    const lines: string[] = [];
    for await (const l of await source("/events?x", new AbortController().signal)) lines.push(l);
    expect(lines).toEqual(["one", "two"]);
    expect(seen[0]!.headers.get("x-macaroon")).toBe("m");
    status = 403;
    await expect(source("/events", new AbortController().signal)).rejects.toThrow("answered 403");
    reachable = false;
    await expect(source("/events", new AbortController().signal)).rejects.toThrow("cannot reach");
  });

  test("reconnectLoop: failures in a row, reset after a healthy connection, backoff capped at 5 s", async () => {
    expect([1, 2, 3, 4, 5, 6, 50].map(backoffMs)).toEqual([500, 1000, 2000, 4000, 5000, 5000, 5000]);
    const daemon = fakeDaemon();
    const abort = new AbortController();
    const downs: number[] = [];
    let connects = 0;
    const loop = reconnectLoop({
      platform: daemon.platform,
      signal: abort.signal,
      connect: () => {
        connects++;
        // The third connection lasts 11 s: healthy.
        if (connects === 3) daemon.advance(11_000);
        return Promise.reject(new Error("x"));
      },
      onDown: (_why, failures) => void downs.push(failures),
    });
    for (let i = 0; i < 4; i++) {
      await tick();
      daemon.wake();
    }
    abort.abort();
    await loop;
    expect(downs.slice(0, 4)).toEqual([1, 2, 1, 2]);
  });
});
