/**
 * The Stream API's client commands against a fake platform whose websocketConnect plays scripted servers:
 * `agent event` resuming across drops (each event printed once, ?since= the last), a relist ending it,
 * `agent container|service logs` routing lines, `agent container exec` forwarding stdin and its EOF
 * marker and returning the command's exit code. Sleeps are recorded, never waited for.
 */
import { describe, expect, test } from "bun:test";
import { splitWords } from "../../../src/api/service-spec.ts";
import { containerCommands } from "../../../src/cli/container.ts";
import type { CliContext } from "../../../src/cli/context.ts";
import { eventCommands } from "../../../src/cli/event.ts";
import type { CommandGroup } from "../../../src/cli/group.ts";
import { runCli } from "../../../src/cli/index.ts";
import { serviceCommands } from "../../../src/cli/service.ts";
import { quoteWord } from "../../../src/cli/stream-commands.ts";
import { AgentError } from "../../../src/errors.ts";
import type { Env, Platform, WebSocketPeer, WebSocketSession } from "../../../src/ports.ts";
import { nodeFileSystem } from "../../../src/runtime/node-file-system.ts";
import { refusingPlatform } from "../../helpers/refusing-platform.ts";

const KEY = `agt_${"a".repeat(49)}`;
const ENV: Env = { AGENT_HOST: "https://docker1:8443", AGENT_USER: "alice", AGENT_APIKEY: KEY };
const AUTHORIZATION = `Basic ${btoa(`alice:${KEY}`)}`;
const ID1 = "1".repeat(64);
const ID2 = "2".repeat(64);
const ID3 = "3".repeat(64);
const SERVICE = "5e7a1c9e-0000-4000-8000-000000000001";
const uriOf = (id: string) => `/api/app/v1/alice/container/${id}/`;

/** What one scripted server can do with its connection. */
interface Server {
  readonly url: URL;
  send(message: unknown): void;
  close(code: number, reason?: string): void;
  /** Text and binary messages from the client, in order. */
  readonly received: (string | Uint8Array)[];
  /** Resolves once `predicate` holds for what the client sent. */
  until(predicate: (received: readonly (string | Uint8Array)[]) => boolean): Promise<void>;
  /** Sends SIGINT/SIGTERM to the command (as the terminal would). */
  signal(name: "SIGINT" | "SIGTERM"): void;
}

/** A connection: a script that plays the server, or the error websocketConnect rejects with. */
type Script = ((server: Server) => void | Promise<void>) | Error;

interface Connection {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  /** Text and binary messages from the client, in order. */
  readonly received: (string | Uint8Array)[];
  /** The close the client sent, if it closed first. */
  clientClose?: { code: number; reason: string };
}

interface FakeOptions {
  readonly scripts: Script[];
  readonly pages?: Record<string, unknown>;
  /** Chunks of stdin, or "open": a stdin that never ends (a terminal nobody types into). */
  readonly stdin?: readonly string[] | "open";
}

function fakePlatform(options: FakeOptions) {
  const connections: Connection[] = [];
  const sleeps: number[] = [];
  const signals = new Map<string, Set<() => void>>();
  const stdinState = { reads: 0, returned: false };
  const scripts = [...options.scripts];
  const fire = (name: string) => {
    for (const handler of [...(signals.get(name) ?? [])]) handler();
  };

  const websocketConnect: Platform["websocketConnect"] = async (url, init, open) => {
    const script = scripts.shift();
    if (script === undefined) throw new Error("no more scripted connections");
    const received: (string | Uint8Array)[] = [];
    const connection: Connection = { url, headers: init.headers, received };
    connections.push(connection);
    await Promise.resolve();
    if (script instanceof Error) throw script;
    const waiters: { predicate: (r: typeof received) => boolean; resolve: () => void }[] = [];
    const check = () => {
      for (const w of [...waiters]) {
        if (w.predicate(received)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
      }
    };
    let closed = false;
    let session: WebSocketSession = {};
    const end = (code: number, reason: string) => {
      if (closed) return;
      closed = true;
      queueMicrotask(() => session.onClose?.(code, reason));
    };
    const peer: WebSocketPeer = {
      sendText(text) {
        if (closed) return false;
        received.push(text);
        check();
        return true;
      },
      sendBinary(data) {
        if (closed) return false;
        received.push(new Uint8Array(data));
        check();
        return true;
      },
      bufferedBytes: 0,
      close(code, reason) {
        if (closed) return;
        connection.clientClose = { code, reason };
        end(code, reason);
      },
    };
    session = open(peer);
    const server: Server = {
      url: new URL(url),
      send: (message) => {
        if (!closed) session.onText?.(typeof message === "string" ? message : JSON.stringify(message));
      },
      close: (code, reason = "") => end(code, reason),
      received,
      until: (predicate) =>
        new Promise((resolve) => {
          waiters.push({ predicate, resolve });
          check();
        }),
      signal: fire,
    };
    // The server speaks once the client holds the peer (frames after the 101).
    setTimeout(() => void script(server), 0);
    return peer;
  };

  const readStdin = (): AsyncIterable<Uint8Array> => ({
    [Symbol.asyncIterator]() {
      const chunks = options.stdin === "open" ? [] : [...(options.stdin ?? [])];
      let release: (() => void) | undefined;
      return {
        async next() {
          stdinState.reads++;
          if (stdinState.returned) return { done: true, value: undefined };
          if (options.stdin === "open") {
            await new Promise<void>((resolve) => (release = resolve));
            return { done: true, value: undefined };
          }
          const chunk = chunks.shift();
          return chunk === undefined
            ? { done: true, value: undefined }
            : { done: false, value: new TextEncoder().encode(chunk) };
        },
        return() {
          stdinState.returned = true;
          release?.();
          return Promise.resolve({ done: true, value: undefined });
        },
      };
    },
  });

  const platform: Platform = {
    ...refusingPlatform("the stream client tests"),
    websocketConnect,
    readStdin,
    httpsFetch(url: string) {
      const page = options.pages?.[new URL(url).pathname + new URL(url).search];
      if (page === undefined) return Promise.reject(new Error("connect ECONNREFUSED"));
      return Promise.resolve(new Response(JSON.stringify(page), { status: 200 }));
    },
    onSignal(name: string, handler: () => void) {
      const set = signals.get(name) ?? new Set();
      signals.set(name, set.add(handler));
      return () => void set.delete(handler);
    },
    sleep(ms: number) {
      sleeps.push(ms);
      return Promise.resolve();
    },
  };
  return { platform, connections, sleeps, signals, stdinState };
}

async function run(argv: string[], group: CommandGroup, platform: Platform, env: Env = ENV) {
  const out: string[] = [];
  const err: string[] = [];
  const ctx = {
    fs: nodeFileSystem,
    clock: () => new Date(0),
    random: (n: number) => new Uint8Array(n),
    env,
    output: { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) },
    build: { version: "t", commit: "t" },
    platform,
  } as CliContext;
  const code = await runCli(argv, ctx, [group]);
  return { code, out: out.join(""), err: err.join("") };
}

const event = (seq: number, extra: Record<string, unknown> = {}) => ({
  type: "container",
  action: "update",
  parents: [`/api/app/v1/alice/service/${SERVICE}/`],
  resource_uri: uriOf(ID1),
  state: "Running",
  uuid: ID1,
  datetime: "2026-01-02T03:04:05Z",
  seq,
  ...extra,
});
const auth = (seq: number) => ({ type: "auth", state: "Success", user: "alice", namespace: null, seq });
const seqsOf = (out: string) => [...out.matchAll(/\(seq (\d+)\)/g)].map((m) => Number(m[1]));

describe("agent event", () => {
  test("resumes after drops with ?since= the last event printed: each event once, none missed", async () => {
    const fake = fakePlatform({
      scripts: [
        (s) => {
          s.send(auth(10));
          s.send(event(11));
          s.send(event(12));
          s.close(1006);
        },
        (s) => {
          s.send(auth(14));
          s.send(event(12)); // a replay the client already printed: not again
          s.send(event(13));
          s.send({ type: "error", error: "too slow: resume with ?since=13", seq: 13 });
          s.close(4429, "too slow");
        },
        new AgentError("ERR_API_UNREACHABLE", "cannot reach the agent at wss://docker1:8443: ECONNREFUSED"),
        (s) => {
          s.send(auth(14));
          s.send(event(14));
          setTimeout(() => s.signal("SIGINT"), 0);
        },
      ],
    });
    const result = await run(["event"], eventCommands, fake.platform);
    expect(result.code).toBe(0);
    expect(seqsOf(result.out)).toEqual([11, 12, 13, 14]);
    expect(fake.connections.map((c) => new URL(c.url).searchParams.get("since"))).toEqual([
      null,
      "12",
      "13",
      "13",
    ]);
    for (const c of fake.connections) {
      expect(c.url.startsWith("wss://docker1:8443/api/audit/v1/events/")).toBe(true);
      expect(c.url).not.toContain(KEY);
      expect(c.headers["authorization"]).toBe(AUTHORIZATION);
    }
    // SIGINT closes cleanly, with 1000.
    expect(fake.connections[3]!.clientClose?.code).toBe(1000);
    expect(fake.signals.get("SIGINT")?.size ?? 0).toBe(0);
    // Backoff between attempts, growing while they fail, never over 5 s.
    expect(fake.sleeps).toEqual([250, 250, 500]);
    expect(result.err).toContain("the event stream closed (1006); reconnecting in 0.25 s after seq 12");
    expect(result.err).toContain("(4429: too slow: resume with ?since=13)");
    expect(result.err).toContain("cannot reach the agent at wss://docker1:8443");
    expect(result.out + result.err).not.toContain(KEY);
  });

  test("before any event it resumes from the seq the auth message named", async () => {
    const fake = fakePlatform({
      scripts: [
        (s) => {
          s.send(auth(7));
          s.close(1001, "going away");
        },
        (s) => s.close(1000),
      ],
    });
    const result = await run(
      ["event", "--type", "service", "--type", "container,node"],
      eventCommands,
      fake.platform,
    );
    expect(result.code).toBe(0);
    const urls = fake.connections.map((c) => new URL(c.url).searchParams);
    expect(urls.map((q) => q.get("since"))).toEqual([null, "7"]);
    expect(urls.map((q) => q.get("type"))).toEqual(["service,container,node", "service,container,node"]);
  });

  test("the backoff doubles up to 5 s while the agent stays away", async () => {
    const down = () => new AgentError("ERR_API_UNREACHABLE", "cannot reach the agent at wss://docker1:8443");
    const fake = fakePlatform({
      scripts: [(s) => s.close(1006), ...Array.from({ length: 8 }, down), (s) => s.close(1000)],
    });
    const result = await run(["event"], eventCommands, fake.platform);
    expect(result.code).toBe(0);
    expect(fake.sleeps).toEqual([250, 500, 1000, 2000, 4000, 5000, 5000, 5000, 5000]);
  });

  test("a relist (4410) prints the server's error and exits 1; --since starts there", async () => {
    const fake = fakePlatform({
      scripts: [
        (s) => {
          s.send(auth(900));
          s.send({
            type: "error",
            error: "seq 5 is older than the oldest event kept (100): relist",
            relist: true,
            oldest: 100,
            latest: 900,
          });
          s.close(4410, "relist");
        },
      ],
    });
    const result = await run(["event", "--since", "5"], eventCommands, fake.platform);
    expect(result.code).toBe(1);
    expect(new URL(fake.connections[0]!.url).searchParams.get("since")).toBe("5");
    expect(fake.connections.length).toBe(1);
    expect(result.err.split("\n").filter((l) => l !== "")).toEqual([
      "agent: seq 5 is older than the oldest event kept (100): relist (relist, then resume with --since) " +
      "[ERR_API_RESPONSE]",
    ]);
  });

  test("a refused first connection is the answer: one line, exit 1, no retry", async () => {
    const fake = fakePlatform({
      scripts: [
        new AgentError(
          "ERR_API_REFUSED",
          "the agent at wss://docker1:8443 answered 401: authentication required",
        ),
      ],
    });
    const result = await run(["event"], eventCommands, fake.platform);
    expect(result.code).toBe(1);
    expect(result.err).toBe(
      "agent: the agent at wss://docker1:8443 answered 401: authentication required [ERR_API_REFUSED]\n",
    );
    expect(fake.sleeps).toEqual([]);
  });

  test("prints a line per event with control characters made harmless, or the JSON with --json", async () => {
    const weird = event(3, { state: "Run\u001b[2Jning", resource_uri: "/api/app/v1/alice/container/x\n/" });
    const script = (s: Server) => {
      s.send(auth(2));
      s.send(weird);
      s.send("not json");
      s.close(1000);
    };
    const table = await run(["event"], eventCommands, fakePlatform({ scripts: [script] }).platform);
    expect(table.code).toBe(0);
    expect(table.out).toBe(
      "2026-01-02T03:04:05Z  container  update  Run?[2Jning     /api/app/v1/alice/container/x?/  (seq 3)\n",
    );
    const json = await run(["event", "--json"], eventCommands, fakePlatform({ scripts: [script] }).platform);
    expect(json.out.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l))).toEqual([weird]);
  });

  test("bad options are usage errors (exit 2) before any connection", async () => {
    for (
      const argv of [
        ["event", "--type", "bogus"],
        ["event", "--since", "-1"],
        ["event", "--since", "x"],
        ["event", "--since", "1", "--since", "2"],
        ["event", "--object", "service-1"],
        ["event", "--follow"],
        ["event", "extra"],
      ]
    ) {
      const fake = fakePlatform({ scripts: [] });
      const result = await run(argv, eventCommands, fake.platform);
      expect({ argv, code: result.code }).toEqual({ argv, code: 2 });
      expect(result.err).toContain("[ERR_USAGE]");
      expect(fake.connections.length).toBe(0);
    }
    const help = await run(["event", "--help"], eventCommands, fakePlatform({ scripts: [] }).platform);
    expect(help.code).toBe(0);
    expect(help.out).toContain(
      "Usage: agent event [--since SEQ] [--type TYPE ...] [--object URI] [--parent URI] [--json]",
    );
    expect(help.out).toContain("AGENT_HOST");
  });
});

const containerList = {
  "/api/app/v1/container/?limit=100": {
    meta: { next: null },
    objects: [
      { uuid: ID1, name: "web-1", resource_uri: uriOf(ID1), state: "Running" },
      { uuid: ID2, name: "web-2", resource_uri: uriOf(ID2), state: "Running" },
    ],
  },
  "/api/app/v1/service/?limit=100": {
    meta: { next: null },
    objects: [{ uuid: SERVICE, name: "web", state: "Running" }],
  },
};

describe("agent container logs / agent service logs", () => {
  test("container logs: stdout lines to stdout, stderr lines to stderr; tail and follow in the query", async () => {
    const fake = fakePlatform({
      pages: containerList,
      scripts: [
        (s) => {
          s.send({ type: "log", log: "listening on :80", streamType: "stdout", timestamp: 1767322000 });
          s.send({ type: "log", log: "warning: no config", streamType: "stderr", timestamp: 1767322001 });
          s.send({ type: "log", log: "GET /", streamType: "stdout", timestamp: 1767322002 });
          s.close(1000, "end of logs");
        },
      ],
    });
    const result = await run(
      ["container", "logs", "web-1", "--tail", "3", "-f"],
      containerCommands,
      fake.platform,
    );
    expect(result).toEqual({ code: 0, out: "listening on :80\nGET /\n", err: "warning: no config\n" });
    const url = new URL(fake.connections[0]!.url);
    expect(url.origin + url.pathname).toBe(`wss://docker1:8443/api/app/v1/container/${ID1}/logs/`);
    expect(url.searchParams.get("tail")).toBe("3");
    expect(url.searchParams.get("follow")).toBe("true");
    expect(fake.connections[0]!.headers["authorization"]).toBe(AUTHORIZATION);
    expect(fake.connections[0]!.url).not.toContain(KEY);
  });

  test("follow ends cleanly (1000, exit 0) on SIGINT; a resource_uri names the container itself", async () => {
    const fake = fakePlatform({
      scripts: [
        (s) => {
          s.send({ type: "log", log: "tick", streamType: "stdout", timestamp: 1 });
          setTimeout(() => s.signal("SIGINT"), 0);
        },
      ],
    });
    const result = await run(["container", "logs", uriOf(ID1), "--follow"], containerCommands, fake.platform);
    expect(result).toEqual({ code: 0, out: "tick\n", err: "" });
    expect(new URL(fake.connections[0]!.url).pathname).toBe(`${uriOf(ID1)}logs/`);
    expect(new URL(fake.connections[0]!.url).searchParams.get("tail")).toBeNull();
    expect(fake.connections[0]!.clientClose?.code).toBe(1000);
  });

  test("service logs prefix each line with its container's name (or its short id)", async () => {
    const fake = fakePlatform({
      pages: containerList,
      scripts: [
        (s) => {
          s.send({ type: "log", log: "one", streamType: "stdout", timestamp: 1, source: uriOf(ID1) });
          s.send({ type: "log", log: "two", streamType: "stderr", timestamp: 1, source: uriOf(ID2) });
          s.send({ type: "log", log: "three", streamType: "stdout", timestamp: 2, source: uriOf(ID3) });
          s.close(1000);
        },
      ],
    });
    const result = await run(["service", "logs", "web"], serviceCommands, fake.platform);
    expect(result.code).toBe(0);
    expect(new URL(fake.connections[0]!.url).pathname).toBe(`/api/app/v1/service/${SERVICE}/logs/`);
    expect(result.out).toBe(`web-1 | one\n${"3".repeat(12)} | three\n`);
    expect(result.err).toBe("web-2 | two\n");
  });

  test("--json prints the messages as they came; the agent's error is one line and exit 1", async () => {
    const messages = [
      { type: "log", log: "a", streamType: "stderr", timestamp: 1, source: uriOf(ID1) },
      { type: "error", error: "the Docker daemon answered 500: boom" },
    ];
    const fake = fakePlatform({
      pages: containerList,
      scripts: [
        (s) => {
          for (const m of messages) s.send(m);
          s.close(1011, "logs failed");
        },
      ],
    });
    const result = await run(["service", "logs", SERVICE, "--json"], serviceCommands, fake.platform);
    expect(result.code).toBe(1);
    expect(result.out.trim().split("\n").map((l) => JSON.parse(l))).toEqual(messages);
    expect(result.err).toBe(
      "agent: the agent's logs failed: the Docker daemon answered 500: boom [ERR_API_RESPONSE]\n",
    );
  });

  test("a lost connection and bad options say so", async () => {
    const lost = fakePlatform({ scripts: [(s) => s.close(1006)] });
    const result = await run(["container", "logs", ID1], containerCommands, lost.platform);
    expect(result.code).toBe(1);
    expect(result.err).toBe(
      "agent: the connection to the agent at wss://docker1:8443 was lost [ERR_API_UNREACHABLE]\n",
    );
    for (
      const argv of [
        ["container", "logs", ID1, "--tail", "10001"],
        ["container", "logs", ID1, "--tail", "x"],
        ["container", "logs", ID1, "--since", "1"],
        ["container", "logs"],
        ["container", "logs", "/api/app/v1/service/x/"],
      ]
    ) {
      const fake = fakePlatform({ scripts: [] });
      const bad = await run(argv, containerCommands, fake.platform);
      expect({ argv, code: bad.code }).toEqual({ argv, code: 2 });
      expect(fake.connections.length).toBe(0);
    }
    const help = await run(
      ["service", "logs", "--help"],
      serviceCommands,
      fakePlatform({ scripts: [] }).platform,
    );
    expect(help.out).toContain("Usage: agent service logs UUID|NAME [-f|--follow] [--tail N] [--json]");
  });
});

const isEof = (m: string | Uint8Array) => m instanceof Uint8Array && m.length === 0;

describe("agent container exec", () => {
  test("forwards stdin, then the empty binary message; prints output by stream; exits with the exit code", async () => {
    const fake = fakePlatform({
      pages: containerList,
      stdin: ["hello ", "", "world\n"],
      scripts: [
        async (s) => {
          await s.until((received) => received.some(isEof));
          s.send({ type: "output", output: "hello world\n", streamType: "stdout" });
          s.send({ type: "output", output: "done\n", streamType: "stderr" });
          s.send({ type: "exit", exit_code: 3 });
          s.close(1000, "exited");
        },
      ],
    });
    const result = await run(
      ["container", "exec", "web-1", "--", "sh", "-c", `cat; echo "it's" >&2`],
      containerCommands,
      fake.platform,
    );
    expect(result).toEqual({ code: 3, out: "hello world\n", err: "done\n" });
    expect(fake.connections[0]!.received.map(shown)).toEqual(["hello ", "world\n", "<EOF>"]);
    const url = new URL(fake.connections[0]!.url);
    expect(url.pathname).toBe(`/api/app/v1/container/${ID1}/exec/`);
    // The agent splits the command like a shell's words: exactly the words typed.
    expect(splitWords(url.searchParams.get("command")!)).toEqual(["sh", "-c", `cat; echo "it's" >&2`]);
    expect(fake.connections[0]!.headers["authorization"]).toBe(AUTHORIZATION);
    expect(fake.connections[0]!.url).not.toContain(KEY);
  });

  test("an exit before stdin ends stops reading it; exit_code null is 1; options after the name are the command's", async () => {
    const fake = fakePlatform({
      stdin: "open",
      scripts: [
        (s) => {
          s.send({ type: "exit", exit_code: null });
          s.close(1000);
        },
      ],
    });
    const result = await run(
      ["container", "exec", ID1, "ls", "-la", "--help"],
      containerCommands,
      fake.platform,
    );
    expect(result.code).toBe(1);
    expect(fake.stdinState.returned).toBe(true);
    expect(splitWords(new URL(fake.connections[0]!.url).searchParams.get("command")!)).toEqual([
      "ls",
      "-la",
      "--help",
    ]);
    const zero = fakePlatform({
      stdin: [],
      scripts: [
        async (s) => {
          await s.until((received) => received.some(isEof));
          s.send({ type: "exit", exit_code: 0 });
          s.close(1000);
        },
      ],
    });
    expect((await run(["container", "exec", ID1, "true"], containerCommands, zero.platform)).code).toBe(0);
  });

  test("the agent's error, a refusal and a missing command each say what went wrong", async () => {
    const failing = fakePlatform({
      stdin: [],
      scripts: [
        (s) => {
          s.send({ type: "error", error: "the Docker daemon answered 409: container is not running" });
          s.close(1011, "exec failed");
        },
      ],
    });
    const failed = await run(["container", "exec", ID1, "ls"], containerCommands, failing.platform);
    expect(failed).toEqual({
      code: 1,
      out: "",
      err: "agent: the agent's exec failed: the Docker daemon answered 409: container is not running " +
        "[ERR_API_RESPONSE]\n",
    });
    const refused = fakePlatform({
      scripts: [
        new AgentError("ERR_API_REFUSED", "the agent at wss://docker1:8443 answered 403: read-only key"),
      ],
    });
    const denied = await run(["container", "exec", ID1, "ls"], containerCommands, refused.platform);
    expect(denied.code).toBe(1);
    expect(denied.err).toBe(
      "agent: the agent at wss://docker1:8443 answered 403: read-only key [ERR_API_REFUSED]\n",
    );
    const none = await run(
      ["container", "exec", ID1],
      containerCommands,
      fakePlatform({ scripts: [] }).platform,
    );
    expect(none.code).toBe(2);
    expect(none.err).toContain("name the command to run");
    const help = await run(
      ["container", "exec", "--help"],
      containerCommands,
      fakePlatform({ scripts: [] }).platform,
    );
    expect(help.out).toContain("Usage: agent container exec UUID|NAME [--] COMMAND [ARGS...]");
  });

  test("words are quoted so the agent splits them back exactly", () => {
    for (const word of ["plain", "", "two words", "it's", `"dq"`, "a\\b", "$HOME", "new\nline", "--flag=x"]) {
      expect(splitWords(quoteWord(word))).toEqual([word]);
    }
  });
});

/** A message from the client: stdin bytes as text, the EOF marker as <EOF>, text messages marked. */
function shown(message: string | Uint8Array): string {
  if (typeof message === "string") return `text:${message}`;
  return message.length === 0 ? "<EOF>" : new TextDecoder().decode(message);
}
