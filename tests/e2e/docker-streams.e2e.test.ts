/**
 * The Docker side of logs and exec against a real private dockerd (no authorization plugin): followLogs
 * over Platform.unixFetch (tail, follow across a 15 s quiet period, stdout vs stderr, TTY containers, abort
 * closing the connection) and runExec over Platform.unixHijack (stdin round trip with half-close, separated
 * streams and exit codes, a missing container). The Deno platform runs the same through
 * tests/e2e/deno-streams-probe.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { join } from "node:path";
import { DockerCallError } from "../../src/docker/engine-call.ts";
import { type ExecOutput, type ExecSession, runExec } from "../../src/docker/exec.ts";
import { followLogs, type LogEntry } from "../../src/docker/logs.ts";
import { bunPlatform } from "../../src/runtime/bun-platform.ts";
import {
  type Dockerd,
  e2eUnavailable,
  importTinyImage,
  ROOT,
  run,
  skipBanner,
  startDockerd,
  tempDir,
  waitFor,
} from "./harness.ts";

const unavailable = e2eUnavailable();
if (unavailable) skipBanner("docker-streams.e2e.test.ts", unavailable);
const maybe = unavailable ? describe.skip : describe;

const DENO = join(ROOT, "node_modules", ".bin", "deno");
const enc = new TextEncoder();
const dec = new TextDecoder();

/** Connections dockerd has accepted on its socket right now (/proc/net/unix, state 03 = connected). */
function daemonConnections(socket: string): number {
  return readFileSync("/proc/net/unix", "utf8").split("\n").filter((line) => {
    const fields = line.trim().split(/\s+/);
    return fields[7] === socket && fields[5] === "03";
  }).length;
}

/** Sockets this (test) process holds open. */
function ownSockets(): number {
  return readdirSync("/proc/self/fd").filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`).startsWith("socket:");
    } catch {
      return false;
    }
  }).length;
}

async function collectLogs(source: AsyncIterable<LogEntry>): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  for await (const entry of source) out.push(entry);
  return out;
}

async function collectOutput(session: ExecSession): Promise<Record<string, string>> {
  const out: Record<string, string> = { stdout: "", stderr: "", stdin: "" };
  for await (const item of session.output) out[item.streamType] += dec.decode(item.data);
  return out;
}

maybe("Docker logs and exec streams against a real dockerd", () => {
  let dir: string;
  let dockerd: Dockerd;
  let deps: { platform: typeof bunPlatform; socketPath: string };
  let sleeper: string;

  const runDetached = async (args: string[]): Promise<string> => {
    const r = await dockerd.docker(["run", "-d", "--network", "none", ...args]);
    expect(r.stderr).toBe("");
    return r.stdout.trim();
  };

  beforeAll(async () => {
    dir = tempDir("streams");
    dockerd = await startDockerd({ dir: join(dir, "dockerd"), authorizationPlugins: [] });
    await importTinyImage(dockerd, dir);
    deps = { platform: bunPlatform, socketPath: dockerd.socket };
    sleeper = await runDetached(["tiny:latest", "sh", "-c", "echo ready; exec sleep 1000"]);
  }, 120_000);

  afterAll(async () => {
    await dockerd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  describe("logs", () => {
    let done: string;

    beforeAll(async () => {
      done = await runDetached([
        "tiny:latest",
        "sh",
        "-c",
        "echo one; sleep 1; echo two >&2; sleep 1; echo three; printf 'no newline'",
      ]);
      expect((await dockerd.docker(["wait", done])).stdout.trim()).toBe("0");
    }, 30_000);

    test("all lines, stdout and stderr apart, each with dockerd's timestamp", async () => {
      const entries = await collectLogs(followLogs(deps, done, { tty: false }));
      expect(entries.map((e) => [e.streamType, e.log])).toEqual([
        ["stdout", "one"],
        ["stderr", "two"],
        ["stdout", "three"],
        ["stdout", "no newline"],
      ]);
      for (const e of entries) expect(e.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      const times = entries.map((e) => Date.parse(e.timestamp!));
      expect(times[2]! - times[0]!).toBeGreaterThanOrEqual(1500);
    });

    test("tail, one stream only, and since", async () => {
      const last = await collectLogs(followLogs(deps, done, { tail: 2 }));
      expect(last.map((e) => e.log)).toEqual(["three", "no newline"]);
      const errors = await collectLogs(followLogs(deps, done, { stdout: false }));
      expect(errors.map((e) => [e.streamType, e.log])).toEqual([["stderr", "two"]]);
      const all = await collectLogs(followLogs(deps, done, {}));
      const since = new Date(Date.parse(all[2]!.timestamp!) - 1);
      const recent = await collectLogs(followLogs(deps, done, { since }));
      expect(recent.map((e) => e.log)).toEqual(["three", "no newline"]);
    });

    test("follow streams each line as it is written, across a 15 s quiet period", async () => {
      const id = await runDetached(["tiny:latest", "sh", "-c", "echo first; sleep 15; echo second >&2"]);
      const started = performance.now();
      const seen: { entry: LogEntry; at: number }[] = [];
      for await (const entry of followLogs(deps, id, { follow: true })) {
        seen.push({ entry, at: performance.now() - started });
      }
      // The iteration ended by itself when the container exited.
      expect(seen.map((s) => [s.entry.streamType, s.entry.log])).toEqual([["stdout", "first"], [
        "stderr",
        "second",
      ]]);
      expect(seen[0]!.at).toBeLessThan(5_000);
      expect(seen[1]!.at - seen[0]!.at).toBeGreaterThan(13_000);
    }, 60_000);

    test("a TTY container is one raw stream, found by inspecting it", async () => {
      const id = await runDetached(["-t", "tiny:latest", "sh", "-c", "echo tty; echo err >&2"]);
      await dockerd.docker(["wait", id]);
      const entries = await collectLogs(followLogs(deps, id));
      expect(entries.map((e) => [e.streamType, e.log])).toEqual([["stdout", "tty"], ["stdout", "err"]]);
      expect(entries[0]!.timestamp).toBeDefined();
    });

    test("abort ends a follow quietly and closes its connection", async () => {
      const before = daemonConnections(dockerd.socket);
      const abort = new AbortController();
      const entries: LogEntry[] = [];
      let during = -1;
      const iteration = (async () => {
        for await (
          const entry of followLogs(deps, sleeper, { follow: true, tty: false, signal: abort.signal })
        ) {
          entries.push(entry);
        }
      })();
      await waitFor("the first line", () => Promise.resolve(entries.length === 1), 10_000);
      during = daemonConnections(dockerd.socket);
      expect(during).toBeGreaterThanOrEqual(1);
      expect(during).toBeLessThanOrEqual(before + 1);
      await Bun.sleep(500);
      abort.abort();
      await iteration;
      expect(entries.map((e) => e.log)).toEqual(["ready"]);
      // dockerd saw the logs call end: its side of the connection is gone.
      await waitFor(
        "dockerd to drop the logs connection",
        () => Promise.resolve(daemonConnections(dockerd.socket) === during - 1),
        5_000,
      );
    });

    test("leaving the loop early closes the connection too", async () => {
      const once = async () => {
        for await (const _entry of followLogs(deps, sleeper, { follow: true, tty: false })) break;
      };
      await once();
      const after = daemonConnections(dockerd.socket);
      await once();
      await once();
      await Bun.sleep(200);
      expect(daemonConnections(dockerd.socket)).toBeLessThanOrEqual(after);
    });

    test("an already aborted signal asks nothing", async () => {
      const abort = new AbortController();
      abort.abort();
      expect(await collectLogs(followLogs(deps, sleeper, { follow: true, signal: abort.signal }))).toEqual(
        [],
      );
    });

    test("a missing container is a DockerCallError with dockerd's message", async () => {
      for (const tty of [undefined, false]) {
        const err = await collectLogs(followLogs(deps, "no-such-container", { tty })).catch((e: unknown) =>
          e
        );
        expect(err).toBeInstanceOf(DockerCallError);
        expect((err as DockerCallError).status).toBe(404);
        expect((err as DockerCallError).code).toBe("ERR_DOCKER_NOT_FOUND");
        expect((err as DockerCallError).daemonMessage).toContain("No such container: no-such-container");
      }
    });
  });

  describe("exec", () => {
    test("cat echoes stdin back; closing stdin ends it with exit code 0", async () => {
      const calls: string[] = [];
      const session = await runExec(deps, sleeper, {
        cmd: ["cat"],
        stdin: true,
        headers: (method, uri) => {
          calls.push(`${method} ${uri}`);
          return { "x-proof": String(calls.length) };
        },
      });
      const output = session.output[Symbol.asyncIterator]();
      await session.write(enc.encode("hello\n"));
      const first = await output.next();
      expect(first.done).toBe(false);
      expect(first.value as ExecOutput).toMatchObject({ streamType: "stdout" });
      expect(dec.decode((first.value as ExecOutput).data)).toBe("hello\n");
      await session.write(enc.encode("world"));
      session.closeStdin();
      let rest = "";
      for (let next = await output.next(); !next.done; next = await output.next()) {
        rest += dec.decode(next.value.data);
      }
      expect(rest).toBe("world");
      expect(await session.exitCode()).toBe(0);
      expect(calls).toEqual([
        `POST /containers/${sleeper}/exec`,
        `POST /exec/${session.execId}/start`,
        `GET /exec/${session.execId}/json`,
      ]);
    });

    test("two MiB through cat come back byte for byte", async () => {
      const session = await runExec(deps, sleeper, { cmd: ["cat"], stdin: true });
      const data = new Uint8Array(2 * 1024 * 1024);
      for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
      const writing = (async () => {
        for (let at = 0; at < data.length; at += 65536) await session.write(data.subarray(at, at + 65536));
        session.closeStdin();
      })();
      const received: Uint8Array[] = [];
      let size = 0;
      for await (const item of session.output) {
        expect(item.streamType).toBe("stdout");
        received.push(item.data);
        size += item.data.length;
      }
      await writing;
      expect(size).toBe(data.length);
      const joined = new Uint8Array(size);
      let at = 0;
      for (const part of received) {
        joined.set(part, at);
        at += part.length;
      }
      expect(Buffer.from(joined).equals(Buffer.from(data))).toBe(true);
      expect(await session.exitCode()).toBe(0);
    }, 60_000);

    test("stdout and stderr come apart, and the exit code is the command's", async () => {
      const session = await runExec(deps, sleeper, {
        cmd: ["sh", "-c", "echo out; echo err >&2; exit 3"],
        stdin: false,
      });
      expect(await collectOutput(session)).toEqual({ stdout: "out\n", stderr: "err\n", stdin: "" });
      expect(await session.exitCode()).toBe(3);
    });

    test("with a TTY the output is one raw stream", async () => {
      const session = await runExec(deps, sleeper, {
        cmd: ["sh", "-c", "echo hi; echo err >&2; exit 5"],
        stdin: false,
        tty: true,
      });
      expect(await collectOutput(session)).toEqual({ stdout: "hi\r\nerr\r\n", stderr: "", stdin: "" });
      expect(await session.exitCode()).toBe(5);
    });

    test("close() cuts the stream: our socket goes at once and the command sees stdin end", async () => {
      const session = await runExec(deps, sleeper, { cmd: ["sh", "-c", "echo go; exec cat"], stdin: true });
      const output = session.output[Symbol.asyncIterator]();
      const first = await output.next();
      expect(dec.decode((first.value as ExecOutput).data)).toBe("go\n");
      const ours = ownSockets();
      session.close();
      expect((await output.next()).done).toBe(true);
      await waitFor("our exec socket to close", () => Promise.resolve(ownSockets() < ours), 2_000);
      // cat ends on the EOF. (dockerd 20.10 keeps its own end of a hijacked connection whose client went
      // away, the docker CLI's included, so its socket count is no measure here.)
      await waitFor("the exec to end", async () => {
        const r = await bunPlatform.unixFetch(dockerd.socket, `/exec/${session.execId}/json`);
        const state = (await r.json()) as { Running: boolean; ExitCode: number };
        return !state.Running && state.ExitCode === 0;
      }, 5_000);
      expect([null, 0]).toContain(await session.exitCode());
      await expect(session.write(enc.encode("late"))).rejects.toMatchObject({
        code: "ERR_DOCKER_UNREACHABLE",
      });
    });

    test("close() leaves a command that ignores stdin running: exitCode() is then null", async () => {
      const session = await runExec(deps, sleeper, {
        cmd: ["sh", "-c", "echo go; exec sleep 30"],
        stdin: true,
      });
      const output = session.output[Symbol.asyncIterator]();
      await output.next();
      const ours = ownSockets();
      session.close();
      expect((await output.next()).done).toBe(true);
      await waitFor("our exec socket to close", () => Promise.resolve(ownSockets() < ours), 2_000);
      expect(await session.exitCode()).toBeNull();
    });

    test("a missing container is a DockerCallError with dockerd's message", async () => {
      const err = await runExec(deps, "no-such-container", { cmd: ["true"], stdin: false }).catch((
        e: unknown,
      ) => e);
      expect(err).toBeInstanceOf(DockerCallError);
      expect((err as DockerCallError).code).toBe("ERR_DOCKER_NOT_FOUND");
      expect((err as DockerCallError).message).toBe(
        "the Docker daemon answered 404: No such container: no-such-container",
      );
    });

    test("a stopped container is dockerd's 409", async () => {
      const id = await runDetached(["tiny:latest", "true"]);
      await dockerd.docker(["wait", id]);
      const err = await runExec(deps, id, { cmd: ["true"], stdin: false }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DockerCallError);
      expect((err as DockerCallError).status).toBe(409);
      expect((err as DockerCallError).daemonMessage).toContain("is not running");
    });

    test("a command that cannot start: dockerd's error, or an exit code 126/127", async () => {
      const session = await runExec(deps, sleeper, { cmd: ["/no/such/binary"], stdin: false });
      const out = await collectOutput(session);
      const code = await session.exitCode();
      expect(code === 126 || code === 127 || out["stdout"]!.includes("no such file")).toBe(true);
    });

    test("an unreachable socket is ERR_DOCKER_UNREACHABLE", async () => {
      const err = await runExec({ platform: bunPlatform, socketPath: join(dir, "nothing.sock") }, sleeper, {
        cmd: ["true"],
        stdin: false,
      }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: "ERR_DOCKER_UNREACHABLE" });
    });

    test("the hijack refuses a header that could split the request", async () => {
      await expect(
        bunPlatform.unixHijack(dockerd.socket, {
          method: "POST",
          path: "/exec/x/start",
          headers: { "x-proof": "a\r\nX-Evil: 1" },
        }),
      ).rejects.toMatchObject({ code: "ERR_INTERNAL" });
    });
  });

  test("the same under Deno: unixFetch and unixHijack on node:http and node:net", async () => {
    const socket = dockerd.socket;
    const r = await run([
      DENO,
      "run",
      "--no-prompt",
      "--cached-only",
      "--no-remote",
      "--config",
      join(ROOT, "deno.json"),
      `--allow-net=unix:${socket}`,
      `--allow-read=${socket}`,
      `--allow-write=${socket}`,
      join(ROOT, "tests", "e2e", "deno-streams-probe.ts"),
      socket,
      sleeper,
    ], { env: { DENO_NO_UPDATE_CHECK: "1" } });
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toEqual({
      echoed: "stdout:hello from deno\n",
      catExit: 0,
      streams: { stdout: "out\n", stderr: "err\n" },
      shExit: 3,
      missing:
        "ERR_DOCKER_NOT_FOUND: the Docker daemon answered 404: No such container: no-such-container-here",
      logs: ["stdout:ready:true"],
      aborted: true,
    });
  }, 60_000);
});
