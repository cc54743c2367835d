/** followLogs and runExec over fake platforms: the calls made, the streams read, errors, aborts. */
import { describe, expect, test } from "bun:test";
import { DockerCallError } from "../../../src/docker/engine-call.ts";
import { runExec } from "../../../src/docker/exec.ts";
import { followLogs, type LogEntry, logsQuery } from "../../../src/docker/logs.ts";
import { MultiplexedStreamError } from "../../../src/docker/multiplexed.ts";
import type { HijackedStream, HijackRequest } from "../../../src/ports.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function frame(stream: number, payload: string): Uint8Array {
  const data = enc.encode(payload);
  const out = new Uint8Array(8 + data.length);
  out[0] = stream;
  new DataView(out.buffer).setUint32(4, data.length);
  out.set(data, 8);
  return out;
}

/** A body that hands out `chunks`, then stays open (`open`) or ends; records a cancel. */
function body(
  chunks: Uint8Array[],
  open = false,
): { stream: ReadableStream<Uint8Array>; cancelled: () => boolean } {
  let cancelled = false;
  let i = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      if (i < chunks.length) c.enqueue(chunks[i++]!);
      else if (!open) c.close();
      else return new Promise<void>(() => {});
    },
    cancel() {
      cancelled = true;
    },
  });
  return { stream, cancelled: () => cancelled };
}

interface Call {
  path: string;
  method: string;
  headers: Record<string, string>;
  body: unknown;
}

function fetchPlatform(answer: (path: string, init: RequestInit) => Response | Promise<Response>) {
  const calls: Call[] = [];
  const platform = {
    unixFetch(_socket: string, path: string, init: RequestInit = {}) {
      const headers: Record<string, string> = {};
      new Headers(init.headers).forEach((v, k) => (headers[k] = v));
      calls.push({ path, method: init.method ?? "GET", headers, body: init.body });
      if (init.signal?.aborted) return Promise.reject(init.signal.reason);
      return Promise.resolve(answer(path, init));
    },
  };
  return { platform, calls };
}

async function collect(source: AsyncIterable<LogEntry>): Promise<[string, string, string | undefined][]> {
  const out: [string, string, string | undefined][] = [];
  for await (const e of source) out.push([e.streamType, e.log, e.timestamp]);
  return out;
}

const TS = "2026-12-01T10:00:00.123456789Z";

describe("followLogs", () => {
  test("the query: both streams, timestamps, tail, follow, since and until as dockerd's seconds", () => {
    expect(logsQuery({})).toBe("stdout=1&stderr=1&timestamps=1&tail=all");
    expect(logsQuery({ tail: 10, follow: true, stdout: false, since: 1700000000, until: 1700000000.25 }))
      .toBe("stdout=0&stderr=1&timestamps=1&follow=1&tail=10&since=1700000000&until=1700000000.250000000");
    expect(logsQuery({ since: new Date(Date.UTC(2026, 11, 1, 10, 0, 0, 500)) })).toContain(
      "since=1796119200.500000000",
    );
    expect(() => logsQuery({ tail: -1 })).toThrow();
    expect(() => logsQuery({ tail: 1.5 })).toThrow();
    expect(() => logsQuery({ since: Number.NaN })).toThrow();
  });

  test("inspects for Config.Tty first (headers per call), then demultiplexes lines with timestamps", async () => {
    const logs = body([frame(1, `${TS} one\n${TS} tw`), frame(2, `${TS} err\n`), frame(1, "o\n")]);
    const { platform, calls } = fetchPlatform((path) =>
      path.endsWith("/json") ? Response.json({ Config: { Tty: false } }) : new Response(logs.stream)
    );
    const seen: string[] = [];
    const entries = await collect(followLogs({ platform, socketPath: "/d.sock" }, "web/../x", {
      headers: (method, uri) => {
        seen.push(`${method} ${uri}`);
        return { "x-proof": String(seen.length) };
      },
    }));
    const ts = "2026-12-01T10:00:00.123Z";
    expect(entries).toEqual([["stdout", "one", ts], ["stderr", "err", ts], ["stdout", "two", ts]]);
    expect(calls.map((c) => c.path)).toEqual([
      "/containers/web%2F..%2Fx/json",
      "/containers/web%2F..%2Fx/logs?stdout=1&stderr=1&timestamps=1&tail=all",
    ]);
    expect(seen).toEqual(calls.map((c) => `GET ${c.path}`));
    expect(calls.map((c) => c.headers["x-proof"])).toEqual(["1", "2"]);
  });

  test("a TTY container's raw stream: all stdout, \\r\\n endings; a last partial line at the end", async () => {
    const logs = body([enc.encode(`${TS} $ ls\r\n${TS} a`), enc.encode("b")]);
    const { platform } = fetchPlatform((path) =>
      path.endsWith("/json") ? Response.json({ Config: { Tty: true } }) : new Response(logs.stream)
    );
    expect(await collect(followLogs({ platform, socketPath: "/d" }, "c"))).toEqual([
      ["stdout", "$ ls", "2026-12-01T10:00:00.123Z"],
      ["stdout", "ab", "2026-12-01T10:00:00.123Z"],
    ]);
  });

  test("a given tty flag skips the inspect", async () => {
    const { platform, calls } = fetchPlatform(() => new Response(body([frame(1, "x\n")]).stream));
    expect(await collect(followLogs({ platform, socketPath: "/d" }, "c", { tty: false }))).toEqual([
      ["stdout", "x", undefined],
    ]);
    expect(calls.length).toBe(1);
  });

  test("dockerd's 404 is a DockerCallError with its message; unreachable is ERR_DOCKER_UNREACHABLE", async () => {
    const { platform } = fetchPlatform(() =>
      Response.json({ message: "No such container: c" }, { status: 404 })
    );
    for (const tty of [undefined, false]) {
      const err = await collect(followLogs({ platform, socketPath: "/d" }, "c", { tty })).catch((e) => e);
      expect(err).toBeInstanceOf(DockerCallError);
      expect(err).toMatchObject({
        status: 404,
        code: "ERR_DOCKER_NOT_FOUND",
        daemonMessage: "No such container: c",
      });
      expect((err as Error).message).toBe("the Docker daemon answered 404: No such container: c");
    }
    const down = { unixFetch: () => Promise.reject(new Error("ECONNREFUSED")) };
    await expect(collect(followLogs({ platform: down, socketPath: "/d" }, "c", { tty: false }))).rejects
      .toMatchObject({ code: "ERR_DOCKER_UNREACHABLE" });
  });

  test("a stream that is not multiplexed is a MultiplexedStreamError", async () => {
    const { platform } = fetchPlatform(() => new Response(body([enc.encode("plain text\n")]).stream));
    await expect(collect(followLogs({ platform, socketPath: "/d" }, "c", { tty: false }))).rejects
      .toBeInstanceOf(MultiplexedStreamError);
  });

  test("leaving the loop early cancels the body", async () => {
    const logs = body([frame(1, "a\nb\n")], true);
    const { platform } = fetchPlatform(() => new Response(logs.stream));
    for await (const _ of followLogs({ platform, socketPath: "/d" }, "c", { tty: false, follow: true })) {
      break;
    }
    expect(logs.cancelled()).toBe(true);
  });

  test("an abort while waiting ends the iteration quietly and cancels the body", async () => {
    const abort = new AbortController();
    let cancelled = false;
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(frame(1, "first\n"));
        abort.signal.addEventListener("abort", () => c.error(abort.signal.reason));
      },
      cancel() {
        cancelled = true;
      },
    });
    const { platform } = fetchPlatform(() => new Response(stream));
    const seen: string[] = [];
    for await (
      const e of followLogs({ platform, socketPath: "/d" }, "c", { tty: false, signal: abort.signal })
    ) {
      seen.push(e.log);
      setTimeout(() => abort.abort(), 5);
    }
    expect(seen).toEqual(["first"]);
    expect(cancelled || abort.signal.aborted).toBe(true);
  });
});

// ---------------------------------------------------------------- exec

function fakeHijack(output: Uint8Array[], status = 101, errorBody = "") {
  const written: string[] = [];
  const state = { closedWrite: false, closed: false, request: undefined as HijackRequest | undefined };
  const hijack = (_socket: string, request: HijackRequest): Promise<HijackedStream> => {
    state.request = request;
    const { stream } = body(output);
    return Promise.resolve({
      status,
      statusText: status === 101 ? "UPGRADED" : "",
      headers: [],
      errorBody,
      output: stream,
      write: (data: Uint8Array) => {
        written.push(dec.decode(data));
        return Promise.resolve();
      },
      closeWrite: () => void (state.closedWrite = true),
      close: () => void (state.closed = true),
    });
  };
  return { hijack, written, state };
}

function execPlatform(
  hijack: ReturnType<typeof fakeHijack>["hijack"],
  answers: { create?: () => Response; inspect?: () => Response } = {},
) {
  const { platform, calls } = fetchPlatform((path) => {
    if (path.endsWith("/exec")) return answers.create?.() ?? Response.json({ Id: "e1d" }, { status: 201 });
    return answers.inspect?.() ?? Response.json({ Running: false, ExitCode: 3 });
  });
  let slept = 0;
  return {
    platform: { ...platform, unixHijack: hijack, sleep: () => Promise.resolve(void slept++) },
    calls,
    slept: () => slept,
  };
}

describe("runExec", () => {
  test("create, start hijacked, inspect: bodies, per-call headers, output apart, exit code", async () => {
    const h = fakeHijack([frame(1, "out\n"), frame(2, "err\n")]);
    const { platform, calls } = execPlatform(h.hijack);
    const asked: string[] = [];
    const session = await runExec({ platform, socketPath: "/d" }, "web", {
      cmd: ["sh", "-c", "echo"],
      stdin: true,
      headers: (method, uri) => {
        asked.push(`${method} ${uri}`);
        return { "x-proof": `p${asked.length}` };
      },
    });
    expect(session.execId).toBe("e1d");
    expect(JSON.parse(calls[0]!.body as string)).toEqual({
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
      Cmd: ["sh", "-c", "echo"],
    });
    expect(calls[0]!.headers).toMatchObject({ "x-proof": "p1", "content-type": "application/json" });
    expect(h.state.request).toMatchObject({
      method: "POST",
      path: "/exec/e1d/start",
      headers: { "x-proof": "p2" },
      body: '{"Detach":false,"Tty":false}',
    });
    await session.write(enc.encode("in"));
    session.closeStdin();
    expect(h.written).toEqual(["in"]);
    expect(h.state.closedWrite).toBe(true);
    const out: string[] = [];
    for await (const o of session.output) out.push(`${o.streamType}:${dec.decode(o.data)}`);
    expect(out).toEqual(["stdout:out\n", "stderr:err\n"]);
    expect(await session.exitCode()).toBe(3);
    expect(asked).toEqual(["POST /containers/web/exec", "POST /exec/e1d/start", "GET /exec/e1d/json"]);
    expect(calls[1]!.headers["x-proof"]).toBe("p3");
  });

  test("exitCode() waits while dockerd still reports the exec running", async () => {
    let polls = 0;
    const { platform, slept } = execPlatform(fakeHijack([]).hijack, {
      inspect: () =>
        Response.json(++polls < 3 ? { Running: true, ExitCode: null } : { Running: false, ExitCode: 0 }),
    });
    const session = await runExec({ platform, socketPath: "/d" }, "c", { cmd: ["true"], stdin: false });
    for await (const _ of session.output) { /* drain */ }
    expect(await session.exitCode()).toBe(0);
    expect(polls).toBe(3);
    expect(slept()).toBe(2);
  });

  test("with a TTY the output is raw stdout", async () => {
    const h = fakeHijack([enc.encode("\x01 not a header\r\n")]);
    const { platform } = execPlatform(h.hijack);
    const session = await runExec({ platform, socketPath: "/d" }, "c", {
      cmd: ["sh"],
      stdin: true,
      tty: true,
    });
    expect(h.state.request?.body).toBe('{"Detach":false,"Tty":true}');
    const out: string[] = [];
    for await (const o of session.output) out.push(`${o.streamType}:${dec.decode(o.data)}`);
    expect(out).toEqual(["stdout:\x01 not a header\r\n"]);
  });

  test("create refused: dockerd's message (404, 409); a start refused closes the connection", async () => {
    for (
      const [status, message] of [[404, "No such container: c"], [409, "Container c is not running"]] as const
    ) {
      const { platform } = execPlatform(fakeHijack([]).hijack, {
        create: () => Response.json({ message }, { status }),
      });
      const err = await runExec({ platform, socketPath: "/d" }, "c", { cmd: ["true"], stdin: false }).catch((
        e,
      ) => e);
      expect(err).toBeInstanceOf(DockerCallError);
      expect(err).toMatchObject({ status, daemonMessage: message });
    }
    const h = fakeHijack([], 403, '{"message":"authorization denied by plugin agent: no"}');
    const { platform } = execPlatform(h.hijack);
    const err = await runExec({ platform, socketPath: "/d" }, "c", { cmd: ["true"], stdin: false }).catch((
      e,
    ) => e);
    expect(err).toMatchObject({ status: 403, code: "ERR_DOCKER_RESPONSE" });
    expect((err as Error).message).toBe(
      "the Docker daemon answered 403: authorization denied by plugin agent: no",
    );
    expect(h.state.closed).toBe(true);
  });

  test("an answer without an exec id, an empty command", async () => {
    const { platform } = execPlatform(fakeHijack([]).hijack, { create: () => Response.json({ Id: "../x" }) });
    await expect(runExec({ platform, socketPath: "/d" }, "c", { cmd: ["true"], stdin: false })).rejects
      .toMatchObject({ code: "ERR_DOCKER_RESPONSE" });
    await expect(runExec({ platform, socketPath: "/d" }, "c", { cmd: [], stdin: false })).rejects
      .toMatchObject({
        code: "ERR_INTERNAL",
      });
  });

  test("close() before the end: output stops, exitCode() looks once", async () => {
    let polls = 0;
    const { platform } = execPlatform(fakeHijack([frame(1, "a")]).hijack, {
      inspect: () => Response.json((polls++, { Running: true, ExitCode: null })),
    });
    const session = await runExec({ platform, socketPath: "/d" }, "c", { cmd: ["cat"], stdin: true });
    session.close();
    expect(await session.exitCode()).toBeNull();
    expect(polls).toBe(1);
  });
});
