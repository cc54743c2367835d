/**
 * Run by websocket.test.ts under Deno (`deno run`): the listener takes a websocket upgrade and the client
 * connects, echoes text and binary, is refused with 401 before the upgrade, and is closed 1001 by stop.
 * Argument: a directory holding ca.pem, server.pem and server.key. Prints one JSON line.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { serveHttps } from "../../../src/runtime/https-listener.ts";
import { websocketConnect } from "../../../src/runtime/websocket.ts";

const dir = process.argv[2]!;
const caPem = readFileSync(join(dir, "ca.pem"), "utf8");
const server = await serveHttps({
  hostname: "127.0.0.1",
  port: 0,
  certificatePem: readFileSync(join(dir, "server.pem"), "utf8"),
  privateKeyPem: readFileSync(join(dir, "server.key"), "utf8"),
  limits: {
    maxHeaderBytes: 4096,
    maxBodyBytes: 1024,
    handshakeTimeoutMs: 5_000,
    headersTimeoutMs: 300,
    requestTimeoutMs: 500,
    maxConnectionsPerAddress: 10,
    maxConnections: 100,
    maxWebSocketMessageBytes: 1024,
    maxWebSocketBufferedBytes: 1 << 20,
    maxWebSocketsPerAddress: 4,
    maxWebSockets: 10,
    webSocketPingIntervalMs: 100,
  },
  fetch: (request, connection) =>
    new URL(request.url).pathname === "/echo" && connection.websocket !== undefined
      ? connection.websocket.accept((peer) => ({
        onText: (text) => void peer.sendText(text),
        onBinary: (data) => void peer.sendBinary(data),
      }))
      : Response.json({ error: "no credentials" }, { status: 401 }),
});

const result: Record<string, unknown> = {};
try {
  await websocketConnect(`wss://localhost:${server.port}/nope`, { headers: {}, caPem }, () => ({}));
} catch (err) {
  result["refused"] = `${(err as { code?: string }).code}: ${(err as Error).message}`;
}
const received: unknown[] = [];
let closed!: (value: [number, string]) => void;
const closing = new Promise<[number, string]>((resolve) => (closed = resolve));
const peer = await websocketConnect(`wss://localhost:${server.port}/echo`, { headers: {}, caPem }, () => ({
  onText: (text) => void received.push(text),
  onBinary: (data) => void received.push(Array.from(data)),
  onClose: (code, reason) => closed([code, reason]),
}));
peer.sendText("h\u00e9llo");
peer.sendBinary(Uint8Array.of(1, 2, 3));
// Past the header and request timeouts: the pings keep it open.
await new Promise((resolve) => setTimeout(resolve, 1_000));
result["received"] = received;
await server.stop();
result["closed"] = await closing;
console.log(JSON.stringify(result));
