/**
 * Websockets over real TLS on 127.0.0.1: the listener's upgrade (src/runtime/https-listener.ts) and the
 * client (src/runtime/websocket.ts, Platform.websocketConnect). The app accepts /echo and refuses the rest
 * through the same fetch as any request; limits are small so the test is quick. Waits are functional (until
 * something happened), never thresholds on durations. The last test runs the same under Deno.
 */
import "reflect-metadata";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { Hono } from "hono";
import { initAuthority, issueCertificate } from "../../../src/ca/index.ts";
import type {
  HttpsConnection,
  HttpsLimits,
  HttpsServer,
  ServeHttpsOptions,
  WebSocketPeer,
} from "../../../src/ports.ts";
import { serveHttps } from "../../../src/runtime/https-listener.ts";
import { nodeFileSystem } from "../../../src/runtime/node-file-system.ts";
import { websocketConnect } from "../../../src/runtime/websocket.ts";
import {
  encodeClosePayload,
  encodeFrame,
  MessageReader,
  Opcode,
  type WebSocketEvent,
} from "../../../src/ws/index.ts";
import { newCaContext, removeTempDirs } from "../ca/helpers.ts";

const ROOT = join(import.meta.dir, "..", "..", "..");
let caPem: string;
let serverPem: { cert: string; key: string };
let certDir: string;

beforeAll(async () => {
  const ctx = await newCaContext({ seed: "websocket" });
  await initAuthority(ctx, { name: "websocket-test-ca" });
  caPem = await nodeFileSystem.readText(join(ctx.caDir, "cluster.crt"));
  const r = await issueCertificate(ctx, { kind: "server", name: "localhost", organizationalUnits: [] }, {
    dir: join(ctx.root, "out"),
    force: true,
  });
  serverPem = { cert: r.certificatePem, key: await nodeFileSystem.readText(r.paths.privateKey) };
  certDir = join(ctx.root, "pem");
  await mkdir(certDir);
  await writeFile(join(certDir, "ca.pem"), caPem);
  await writeFile(join(certDir, "server.pem"), serverPem.cert);
  await writeFile(join(certDir, "server.key"), serverPem.key);
});
afterAll(removeTempDirs);

const LIMITS: HttpsLimits = {
  maxHeaderBytes: 4096,
  maxBodyBytes: 1024,
  handshakeTimeoutMs: 2_000,
  headersTimeoutMs: 300,
  requestTimeoutMs: 500,
  maxConnectionsPerAddress: 20,
  maxConnections: 100,
  maxWebSocketMessageBytes: 64 * 1024,
  maxWebSocketBufferedBytes: 256 * 1024,
  maxWebSocketsPerAddress: 8,
  maxWebSockets: 100,
  // Pings well inside the header timeout: a websocket left idle outlives every request timer.
  webSocketPingIntervalMs: 100,
};

interface Served {
  readonly server: HttpsServer;
  /** Connection facts of every request the app saw. */
  readonly seen: HttpsConnection[];
  /** The server side of each accepted websocket, and how each ended. */
  readonly peers: WebSocketPeer[];
  readonly ended: [number, string][];
}

async function listen(overrides: Partial<ServeHttpsOptions> = {}): Promise<Served> {
  const served: Served = { server: undefined!, seen: [], peers: [], ended: [] };
  const server = await serveHttps({
    hostname: "127.0.0.1",
    port: 0,
    certificatePem: serverPem.cert,
    privateKeyPem: serverPem.key,
    limits: LIMITS,
    fetch: (request, connection) => {
      served.seen.push(connection);
      const path = new URL(request.url).pathname;
      if (path === "/echo" && connection.websocket !== undefined) {
        return connection.websocket.accept((peer) => {
          served.peers.push(peer);
          return {
            onText: (text) => void peer.sendText(text),
            onBinary: (data) => void peer.sendBinary(data),
            onClose: (code, reason) => void served.ended.push([code, reason]),
          };
        });
      }
      if (path === "/nope") return Response.json({ error: "no credentials" }, { status: 401 });
      if (path === "/plain") return Response.json({ websocket: connection.websocket !== undefined });
      return Response.json({ error: "no such path" }, { status: 404 });
    },
    ...overrides,
  });
  return Object.assign(served, { server });
}

/** Polls until `check` holds (a functional wait); fails the test after `ms`. */
async function until(check: () => boolean, what: string, ms = 5_000): Promise<void> {
  const started = performance.now();
  while (!check()) {
    if (performance.now() - started > ms) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}

interface Client {
  readonly peer: WebSocketPeer;
  readonly received: (string | number[])[];
  /** How it ended, once it did. */
  readonly closed: Promise<[number, string]>;
  ended?: [number, string];
}

async function connect(port: number, path = "/echo", maxMessageBytes?: number): Promise<Client> {
  let done!: (value: [number, string]) => void;
  const received: (string | number[])[] = [];
  const closed = new Promise<[number, string]>((resolve) => (done = resolve));
  const client: Partial<Client> = { received, closed };
  const peer = await websocketConnect(
    `wss://localhost:${port}${path}`,
    {
      headers: { authorization: "Bearer test" },
      caPem,
      ...(maxMessageBytes === undefined ? {} : { maxMessageBytes }),
    },
    () => ({
      onText: (text) => void received.push(text),
      onBinary: (data) => void received.push(Array.from(data)),
      onClose: (code, reason) => {
        client.ended = [code, reason];
        done([code, reason]);
      },
    }),
  );
  return Object.assign(client, { peer }) as Client;
}

/** A TLS connection of our own, speaking raw bytes. */
function tls(port: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: "127.0.0.1", port, servername: "localhost", ca: caPem });
    socket.once("secureConnect", () => resolve(socket));
    socket.once("error", reject);
  });
}

const KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const upgradeRequest = (path: string, extra = "") =>
  `GET ${path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
  `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${KEY}\r\n${extra}\r\n`;

interface Raw {
  readonly socket: TLSSocket;
  /** The server's answer to the upgrade (status line and headers). */
  readonly head: string;
  /** Frames the server sent after its 101, parsed. */
  readonly events: WebSocketEvent[];
  closed: boolean;
}

/** A raw client past the handshake: what the server sends is parsed, nothing is answered. */
async function rawWebSocket(port: number, path = "/echo", extra = ""): Promise<Raw> {
  const socket = await tls(port);
  const reader = new MessageReader({ masked: false, maxMessageBytes: 1 << 20 });
  const raw: Raw = { socket, head: "", events: [], closed: false };
  let buffered = Buffer.alloc(0);
  socket.on("error", () => {});
  socket.once("close", () => (raw.closed = true));
  await new Promise<void>((resolve) => {
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf("\r\n\r\n");
      if (end < 0) return;
      socket.off("data", onData);
      (raw as { head: string }).head = buffered.subarray(0, end).toString("latin1");
      const collect = (bytes: Uint8Array) => raw.events.push(...reader.feed(bytes).events);
      collect(buffered.subarray(end + 4));
      socket.on("data", collect);
      resolve();
    };
    socket.on("data", onData);
    socket.write(upgradeRequest(path, extra));
  });
  return raw;
}

/** Everything the server sends on a raw connection until it closes it. */
function readAll(socket: TLSSocket): Promise<string> {
  return new Promise((resolve) => {
    let text = "";
    socket.on("data", (d: Buffer) => (text += d.toString("latin1")));
    socket.on("error", () => {});
    socket.once("close", () => resolve(text));
  });
}

const mask = Uint8Array.of(1, 2, 3, 4);

describe("websockets: the upgrade goes through the app's fetch", () => {
  test("a refusal before the upgrade is an AgentError naming the status and the server's error", async () => {
    const { server } = await listen();
    try {
      const refused = websocketConnect(
        `wss://localhost:${server.port}/nope`,
        { headers: {}, caPem },
        () => ({}),
      );
      await expect(refused).rejects.toMatchObject({
        code: "ERR_API_REFUSED",
        message: `the agent at wss://localhost:${server.port} answered 401: no credentials`,
      });
      await expect(connect(server.port, "/elsewhere")).rejects.toMatchObject({
        code: "ERR_API_RESPONSE",
        message: `the agent at wss://localhost:${server.port} answered 404: no such path`,
      });
    } finally {
      await server.stop();
    }
  });

  test("only a websocket upgrade request carries connection.websocket", async () => {
    const { server, seen } = await listen();
    try {
      const socket = await tls(server.port);
      const reading = readAll(socket);
      socket.write("GET /plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      expect(await reading).toContain('{"websocket":false}');
      const client = await connect(server.port);
      expect(seen.map((c) => c.websocket !== undefined)).toEqual([false, true]);
      expect(seen[1]!.address).toBe("127.0.0.1");
      client.peer.close(1000, "done");
      expect(await client.closed).toEqual([1000, "done"]);
    } finally {
      await server.stop();
    }
  });

  test("a malformed upgrade is a JSON 400 from the listener; the app never sees it", async () => {
    const { server, seen } = await listen();
    try {
      for (
        const [extra, error] of [
          ["Sec-WebSocket-Version: 8\r\n", "only websocket version 13 is supported"],
          ["Sec-WebSocket-Key: c2hvcnQ=\r\n", "Sec-WebSocket-Key must be the base64 of 16 bytes"],
        ] as const
      ) {
        const socket = await tls(server.port);
        const reading = readAll(socket);
        const request = upgradeRequest("/echo").replace(
          extra.startsWith("Sec-WebSocket-Version")
            ? "Sec-WebSocket-Version: 13\r\n"
            : `Sec-WebSocket-Key: ${KEY}\r\n`,
          extra,
        );
        socket.write(request);
        const text = await reading;
        expect(text).toStartWith("HTTP/1.1 400 Bad Request\r\n");
        expect(text).toContain(`{"error":"${error}"}`);
        if (extra.startsWith("Sec-WebSocket-Version")) expect(text).toContain("sec-websocket-version: 13");
      }
      expect(seen).toEqual([]);
    } finally {
      await server.stop();
    }
  });

  test("a refusal carries the app's headers (WWW-Authenticate) and closes the connection", async () => {
    const { server } = await listen({
      fetch: () =>
        Response.json({ error: "no credentials" }, {
          status: 401,
          headers: { "www-authenticate": "Bearer" },
        }),
    });
    try {
      const socket = await tls(server.port);
      const reading = readAll(socket);
      socket.write(upgradeRequest("/echo"));
      const text = await reading;
      expect(text).toStartWith("HTTP/1.1 401 Unauthorized\r\n");
      expect(text).toContain("www-authenticate: Bearer\r\n");
      expect(text).toContain("connection: close\r\n");
      expect(text).toEndWith('{"error":"no credentials"}');
    } finally {
      await server.stop();
    }
  });
});

describe("websockets: an app on Hono", () => {
  test("accepts through a middleware that copies the Response to add a header", async () => {
    const app = new Hono<{ Bindings: HttpsConnection }>();
    app.use(async (c, next) => {
      await next();
      c.header("x-request-id", "r1"); // Hono makes a new Response for this
    });
    app.get("/events", (c) => {
      if (c.env.websocket === undefined) return c.json({ error: "a websocket endpoint" }, 426);
      if (c.req.header("authorization") !== "Bearer test") return c.json({ error: "no credentials" }, 401);
      return c.env.websocket.accept((peer) => ({ onText: (text) => void peer.sendText(`got ${text}`) }));
    });
    const { server } = await listen({ fetch: (request, connection) => app.fetch(request, connection) });
    try {
      const raw = await rawWebSocket(server.port, "/events");
      expect(raw.head).toStartWith("HTTP/1.1 401 Unauthorized\r\n");
      const client = await connect(server.port, "/events");
      client.peer.sendText("hi");
      await until(() => client.received.length === 1, "the answer");
      expect(client.received).toEqual(["got hi"]);
      client.peer.close(1000, "");
      await client.closed;

      // The 101 carries the middleware's header, never the listener's token.
      const accepted = await rawWebSocket(server.port, "/events", "Authorization: Bearer test\r\n");
      expect(accepted.head).toStartWith("HTTP/1.1 101 Switching Protocols\r\n");
      expect(accepted.head).toContain("x-request-id: r1");
      expect(accepted.head).not.toContain("x-agent-websocket-accept");
      accepted.socket.destroy();
    } finally {
      await server.stop();
    }
  });
});

describe("websockets: messages", () => {
  test("text and binary are echoed, small and large", async () => {
    const { server } = await listen();
    try {
      const client = await connect(server.port);
      const big = Uint8Array.from({ length: 60_000 }, (_, i) => i & 0xff);
      expect(client.peer.sendText("h\u00e9llo \u{1f600}")).toBe(true);
      expect(client.peer.sendBinary(Uint8Array.of(0, 1, 255))).toBe(true);
      expect(client.peer.sendText("")).toBe(true);
      expect(client.peer.sendBinary(big)).toBe(true);
      await until(() => client.received.length === 4, "four echoes");
      expect(client.received.slice(0, 3)).toEqual(["h\u00e9llo \u{1f600}", [0, 1, 255], ""]);
      expect(client.received[3]).toEqual(Array.from(big));
      client.peer.close(1000, "");
      expect(await client.closed).toEqual([1000, ""]);
    } finally {
      await server.stop();
    }
  });

  test("the server answers a client's ping with a pong of the same payload", async () => {
    const { server } = await listen();
    try {
      const raw = await rawWebSocket(server.port);
      expect(raw.head).toStartWith("HTTP/1.1 101 Switching Protocols\r\n");
      expect(raw.head.toLowerCase()).toContain("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo=");
      raw.socket.write(encodeFrame(Opcode.Ping, new TextEncoder().encode("are you there"), { mask }));
      await until(() => raw.events.some((e) => e.type === "pong"), "a pong");
      const pong = raw.events.find((e) => e.type === "pong") as { payload: Uint8Array };
      expect(new TextDecoder().decode(pong.payload)).toBe("are you there");
      raw.socket.destroy();
    } finally {
      await server.stop();
    }
  });

  test("a client sending a message over the limit is closed with 1009", async () => {
    const { server, ended } = await listen();
    try {
      const client = await connect(server.port);
      expect(client.peer.sendText("x".repeat(LIMITS.maxWebSocketMessageBytes + 1))).toBe(true);
      expect(await client.closed).toEqual([
        1009,
        `message larger than ${LIMITS.maxWebSocketMessageBytes} bytes`,
      ]);
      await until(() => ended.length === 1, "the server's end");
      expect(ended[0]![0]).toBe(1009);
    } finally {
      await server.stop();
    }
  });

  test("the client closes 1009 on a server message over its own limit", async () => {
    const { server, ended } = await listen();
    try {
      const client = await connect(server.port, "/echo", 100);
      client.peer.sendText("y".repeat(101));
      expect(await client.closed).toEqual([1009, "message larger than 100 bytes"]);
      await until(() => ended.length === 1, "the server's end");
      expect(ended[0]![0]).toBe(1009);
    } finally {
      await server.stop();
    }
  });

  test("garbage after the handshake is closed 1002; the server goes on serving others", async () => {
    const { server, ended } = await listen();
    try {
      const other = await connect(server.port);
      const raw = await rawWebSocket(server.port);
      raw.socket.write(Buffer.from("GET / HTTP/1.1\r\n\r\n"));
      await until(() => raw.closed, "the garbage connection to close");
      const close = raw.events.find((e) => e.type === "close");
      expect(close).toMatchObject({ type: "close", code: 1002 });
      expect(ended.map(([code]) => code)).toEqual([1002]);

      // An unmasked frame is garbage from a client too.
      const unmasked = await rawWebSocket(server.port);
      unmasked.socket.write(encodeFrame(Opcode.Text, new TextEncoder().encode("hi")));
      await until(() => unmasked.closed, "the unmasked connection to close");
      expect(unmasked.events.find((e) => e.type === "close")).toMatchObject({ code: 1002 });

      // Invalid UTF-8 in a text message: 1007.
      const badText = await rawWebSocket(server.port);
      badText.socket.write(encodeFrame(Opcode.Text, Uint8Array.of(0xc3, 0x28), { mask }));
      await until(() => badText.closed, "the bad-text connection to close");
      expect(badText.events.find((e) => e.type === "close")).toMatchObject({ code: 1007 });

      other.peer.sendText("still here");
      await until(() => other.received.includes("still here"), "the other client's echo");
      expect(other.ended).toBeUndefined();
      const socket = await tls(server.port);
      const reading = readAll(socket);
      socket.write("GET /plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      expect(await reading).toStartWith("HTTP/1.1 200");
    } finally {
      await server.stop();
    }
  });

  test("a peer's close is echoed and reported with its code and reason", async () => {
    const { server, ended } = await listen();
    try {
      const raw = await rawWebSocket(server.port);
      raw.socket.write(encodeFrame(Opcode.Close, encodeClosePayload(4001, "bye now"), { mask }));
      await until(() => raw.closed, "the connection to close");
      expect(raw.events).toContainEqual({ type: "close", code: 4001, reason: "" });
      await until(() => ended.length === 1, "the server's end");
      expect(ended[0]).toEqual([4001, "bye now"]);

      // Dropped without a close frame: 1006.
      const dropped = await rawWebSocket(server.port);
      dropped.socket.destroy();
      await until(() => ended.length === 2, "the dropped connection's end");
      expect(ended[1]).toEqual([1006, ""]);
    } finally {
      await server.stop();
    }
  });
});

describe("websockets: limits", () => {
  test("over the websockets of one address: 429 before the upgrade; a closed one frees its place", async () => {
    const { server } = await listen({ limits: { ...LIMITS, maxWebSocketsPerAddress: 2 } });
    try {
      const first = await connect(server.port);
      const second = await connect(server.port);
      await expect(connect(server.port)).rejects.toMatchObject({
        code: "ERR_API_RESPONSE",
        message:
          `the agent at wss://localhost:${server.port} answered 429: too many websockets from this address (at most 2)`,
      });
      first.peer.close(1000, "");
      await first.closed;
      const third = await connect(server.port);
      for (const c of [second, third]) c.peer.close(1000, "");
      await Promise.all([second.closed, third.closed]);
    } finally {
      await server.stop();
    }
  });

  test("over the websockets in all: 503", async () => {
    const { server } = await listen({ limits: { ...LIMITS, maxWebSockets: 1 } });
    try {
      const only = await connect(server.port);
      await expect(connect(server.port)).rejects.toMatchObject({
        code: "ERR_API_RESPONSE",
        message: `the agent at wss://localhost:${server.port} answered 503: too many websockets (at most 1)`,
      });
      only.peer.close(1000, "");
      await only.closed;
    } finally {
      await server.stop();
    }
  });

  test("websockets count as connections of their address until they close", async () => {
    const { server } = await listen({ limits: { ...LIMITS, maxConnectionsPerAddress: 2 } });
    try {
      const a = await connect(server.port);
      const b = await connect(server.port);
      await expect(tls(server.port)).rejects.toThrow();
      a.peer.close(1000, "");
      await a.closed;
      // The server releases the place when its side of the socket closes, just after the client's.
      const socket = await retry(() => tls(server.port));
      socket.destroy();
      b.peer.close(1000, "");
      await b.closed;
    } finally {
      await server.stop();
    }
  });

  test("an upgrade request that never completes is cut off by the header timeout", async () => {
    const { server, seen } = await listen();
    try {
      const socket = await tls(server.port);
      const reading = readAll(socket);
      socket.write(upgradeRequest("/echo").slice(0, -2));
      const drip = setInterval(() => socket.writable && socket.write("X-A: b\r\n"), 50);
      await reading;
      clearInterval(drip);
      expect(seen).toEqual([]);
    } finally {
      await server.stop();
    }
  });

  test("a peer that stops reading: sendText returns false once the queue would pass the limit", async () => {
    const { server, peers } = await listen();
    try {
      const raw = await rawWebSocket(server.port);
      await until(() => peers.length === 1, "the server's peer");
      const peer = peers[0]!;
      raw.socket.pause();
      const message = "z".repeat(16 * 1024);
      let refusedAt: number | undefined;
      // One message per turn of the event loop, so the socket writes what it can between them: the queue
      // grows only once the kernel's buffers are full (bounded: 256 MiB).
      let sent = 0;
      for (let i = 0; i < 16 * 1024 && refusedAt === undefined; i++) {
        const before = peer.bufferedBytes;
        if (peer.sendText(message)) {
          sent += message.length;
        } else {
          expect(peer.bufferedBytes).toBe(before);
          refusedAt = before;
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
      // More went out than the limit: the kernel took its share before our queue filled.
      expect(sent).toBeGreaterThan(LIMITS.maxWebSocketBufferedBytes);
      expect(refusedAt).toBeDefined();
      expect(refusedAt!).toBeLessThanOrEqual(LIMITS.maxWebSocketBufferedBytes);
      expect(refusedAt! + message.length).toBeGreaterThan(LIMITS.maxWebSocketBufferedBytes);
      // Reading again drains the queue, and sending works again.
      raw.socket.resume();
      await until(() => peer.bufferedBytes === 0, "the queue to drain", 20_000);
      expect(peer.sendText("again")).toBe(true);
      raw.socket.destroy();
    } finally {
      await server.stop();
    }
  });

  test("pings keep an idle websocket open past the header and request timeouts", async () => {
    const { server, ended } = await listen();
    try {
      const client = await connect(server.port);
      const raw = await rawWebSocket(server.port);
      // Several ping intervals, and well past headersTimeoutMs and requestTimeoutMs.
      await until(() => raw.events.filter((e) => e.type === "ping").length >= 2, "two pings");
      await Bun.sleep(3 * LIMITS.requestTimeoutMs);
      expect(client.ended).toBeUndefined();
      client.peer.sendText("awake");
      await until(() => client.received.includes("awake"), "the echo");

      // The raw client answers no ping: it is closed (a 1001 frame sent, 1006 reported).
      await until(() => raw.closed, "the silent client to be closed");
      expect(raw.events.find((e) => e.type === "close")).toMatchObject({
        code: 1001,
        reason: "no answer to pings",
      });
      expect(ended).toEqual([[1006, "no answer to pings"]]);
      expect(client.ended).toBeUndefined();
      client.peer.close(1000, "");
      await client.closed;
    } finally {
      await server.stop();
    }
  });

  test("HttpsServer.stop closes websockets with 1001", async () => {
    const { server, ended } = await listen();
    const a = await connect(server.port);
    const b = await connect(server.port);
    await server.stop();
    expect(await a.closed).toEqual([1001, "server stopping"]);
    expect(await b.closed).toEqual([1001, "server stopping"]);
    expect(ended).toEqual([[1001, "server stopping"], [1001, "server stopping"]]);
  });
});

describe("the websocket client", () => {
  test("refuses what is not wss:// and headers it cannot send", async () => {
    await expect(websocketConnect("https://localhost/x", { headers: {} }, () => ({}))).rejects.toMatchObject({
      code: "ERR_USAGE",
    });
    await expect(websocketConnect("wss://localhost/x", { headers: { "x-a": "b\r\nc: d" } }, () => ({})))
      .rejects.toMatchObject({ code: "ERR_USAGE" });
    await expect(websocketConnect("wss://localhost/x", { headers: { upgrade: "h2c" } }, () => ({})))
      .rejects.toMatchObject({ code: "ERR_USAGE" });
  });

  test("a server it cannot verify, or none at all, is ERR_API_UNREACHABLE", async () => {
    const { server } = await listen();
    const port = server.port;
    try {
      // Without our CA the system's roots do not know the agent's.
      await expect(websocketConnect(`wss://localhost:${port}/echo`, { headers: {} }, () => ({}))).rejects
        .toMatchObject({ code: "ERR_API_UNREACHABLE" });
    } finally {
      await server.stop();
    }
    await expect(websocketConnect(`wss://127.0.0.1:${port}/echo`, { headers: {}, caPem }, () => ({}))).rejects
      .toMatchObject({ code: "ERR_API_UNREACHABLE" });
  });
});

describe("under Deno", () => {
  test("the listener upgrades and the client echoes, is refused, and is closed by stop", () => {
    const result = Bun.spawnSync([
      join(ROOT, "node_modules", ".bin", "deno"),
      "run",
      "--config",
      join(ROOT, "deno.json"),
      "--no-prompt",
      "--cached-only",
      "--no-remote",
      "--allow-net=127.0.0.1,localhost",
      `--allow-read=${certDir}`,
      join(import.meta.dir, "websocket-deno-probe.ts"),
      certDir,
    ], { env: { ...process.env, DENO_NO_UPDATE_CHECK: "1" }, stdout: "pipe", stderr: "pipe" });
    expect(result.stderr.toString()).toBe("");
    expect(JSON.parse(result.stdout.toString())).toEqual({
      refused: expect.stringMatching(
        /^ERR_API_REFUSED: the agent at wss:\/\/localhost:\d+ answered 401: no credentials$/,
      ),
      received: ["h\u00e9llo", [1, 2, 3]],
      closed: [1001, "server stopping"],
    });
    expect(result.exitCode).toBe(0);
  }, 30_000);
});

async function retry<T>(op: () => Promise<T>, tries = 50): Promise<T> {
  for (let i = 0;; i++) {
    try {
      return await op();
    } catch (err) {
      if (i >= tries) throw err;
      await Bun.sleep(20);
    }
  }
}
