/**
 * Platform.unixHijack against a scripted server on a unix socket: the request as written, response heads
 * cut anywhere, bytes that follow the head, error bodies (length, chunked, to the end), half-close, and
 * what is refused before anything is sent.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import type { HijackRequest } from "../../../src/ports.ts";
import { unixHijack } from "../../../src/runtime/unix-hijack.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
let dir: string | undefined;
let server: Server | undefined;
const open = new Set<Socket>();

/** Stops the server, dropping the connections it still holds. */
async function stopServer(): Promise<void> {
  for (const socket of open) socket.destroy();
  open.clear();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
}

afterEach(stopServer);

/** A server whose handler sees each connection and the request bytes received so far. */
async function serve(onRequest: (socket: Socket, request: string) => void): Promise<string> {
  dir = mkdtempSync("/tmp/unix-hijack-test-");
  const path = join(dir, "d.sock");
  server = createServer({ allowHalfOpen: true }, (socket) => {
    open.add(socket);
    socket.on("close", () => open.delete(socket));
    let request = "";
    let answered = false;
    socket.on("data", (data: Uint8Array) => {
      request += dec.decode(data);
      const end = request.indexOf("\r\n\r\n");
      if (answered || end < 0) return;
      const length = Number(/content-length: (\d+)/i.exec(request)?.[1] ?? 0);
      if (request.length < end + 4 + length) return;
      answered = true;
      onRequest(socket, request);
    });
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => server!.listen(path, resolve));
  return path;
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<string> {
  let out = "";
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return out;
    out += dec.decode(value);
  }
}

describe("unixHijack", () => {
  test("writes the request with the upgrade headers; a 101 head cut anywhere, then the stream", async () => {
    let seen = "";
    const path = await serve((socket, request) => {
      seen = request;
      const answer = "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n" +
        "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\nfirst bytes";
      // One byte at a time: the head's end arrives split.
      let i = 0;
      const drip = () => {
        if (i < answer.length) {
          socket.write(answer[i++]!);
          setTimeout(drip, 0);
        } else {
          socket.end(" and more");
        }
      };
      drip();
    });
    const stream = await unixHijack(path, {
      method: "post",
      path: "/exec/abc/start",
      headers: { "X-Proof": "p1", Host: "evil", "content-length": "999", Upgrade: "h2c" },
      body: '{"Detach":false,"Tty":false}',
    });
    expect(stream.status).toBe(101);
    expect(stream.errorBody).toBe("");
    expect(await readAll(stream.output)).toBe("first bytes and more");
    const lines = seen.split("\r\n");
    expect(lines[0]).toBe("POST /exec/abc/start HTTP/1.1");
    expect(lines).toContain("Host: localhost");
    expect(lines).toContain("Connection: Upgrade");
    expect(lines).toContain("Upgrade: tcp");
    expect(lines).toContain("Content-Type: application/json");
    expect(lines).toContain("Content-Length: 28");
    expect(lines).toContain("X-Proof: p1");
    // The caller's copies of the platform's own headers are dropped.
    expect(seen).not.toContain("evil");
    expect(seen).not.toContain("999");
    expect(seen).not.toContain("h2c");
    expect(seen.endsWith('\r\n\r\n{"Detach":false,"Tty":false}')).toBe(true);
  });

  test("a 200 with a raw stream is a stream too", async () => {
    const path = await serve((socket) => socket.end("HTTP/1.1 200 OK\r\nContent-Type: x\r\n\r\nraw"));
    const stream = await unixHijack(path, { method: "POST", path: "/x", headers: {} });
    expect(stream.status).toBe(200);
    expect(await readAll(stream.output)).toBe("raw");
  });

  test("half-close: closeWrite() sends EOF while output keeps flowing", async () => {
    const path = await serve((socket) => {
      socket.write("HTTP/1.1 101 UPGRADED\r\n\r\n");
      let got = "";
      socket.on("data", (data: Uint8Array) => (got += dec.decode(data)));
      socket.on("end", () => socket.end(`echo:${got}`));
    });
    const stream = await unixHijack(path, { method: "POST", path: "/x", headers: {} });
    await stream.write(enc.encode("hello "));
    await stream.write(enc.encode("world"));
    stream.closeWrite();
    expect(await readAll(stream.output)).toBe("echo:hello world");
    await expect(stream.write(enc.encode("late"))).rejects.toMatchObject({ code: "ERR_DOCKER_UNREACHABLE" });
  });

  test("close() ends the output and the server sees the connection end", async () => {
    let ended!: () => void;
    const serverSawEnd = new Promise<void>((resolve) => (ended = resolve));
    const path = await serve((socket) => {
      socket.write("HTTP/1.1 101 UPGRADED\r\n\r\n");
      socket.on("end", () => ended());
    });
    const stream = await unixHijack(path, { method: "POST", path: "/x", headers: {} });
    const reading = readAll(stream.output);
    stream.close();
    stream.close();
    expect(await reading).toBe("");
    await serverSawEnd;
  });

  test("an error with Content-Length: its body, and no stream", async () => {
    const body = '{"message":"No such container: nope"}';
    const path = await serve((socket) =>
      socket.write(
        `HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      )
    );
    const stream = await unixHijack(path, { method: "POST", path: "/x", headers: {} });
    expect(stream.status).toBe(404);
    expect(stream.errorBody).toBe(body);
    expect(await readAll(stream.output)).toBe("");
    await expect(stream.write(enc.encode("x"))).rejects.toMatchObject({ code: "ERR_DOCKER_RESPONSE" });
    stream.close();
  });

  test("an error body chunked, or until the server closes", async () => {
    const chunked = await serve((socket) => {
      socket.write("HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n");
      socket.write('5\r\n{"mes\r\n');
      setTimeout(() => socket.write('e\r\nsage":"boom"}\n\r\n0\r\n\r\n'), 5);
    });
    const a = await unixHijack(chunked, { method: "POST", path: "/x", headers: {} });
    expect(a.status).toBe(500);
    expect(a.errorBody).toBe('{"message":"boom"}\n');
    await stopServer();
    const untilClose = await serve((socket) =>
      socket.end("HTTP/1.0 403 Forbidden\r\n\r\nauthorization denied")
    );
    const b = await unixHijack(untilClose, { method: "POST", path: "/x", headers: {} });
    expect(b.status).toBe(403);
    expect(b.errorBody).toBe("authorization denied");
  });

  test("a connection closed before a whole head, or a head that is not HTTP", async () => {
    const cut = await serve((socket) => socket.end("HTTP/1.1 101 UPGR"));
    await expect(unixHijack(cut, { method: "POST", path: "/x", headers: {} })).rejects.toMatchObject({
      code: "ERR_DOCKER_RESPONSE",
    });
    await stopServer();
    const garbage = await serve((socket) => socket.write("SSH-2.0-OpenSSH\r\n\r\n"));
    await expect(unixHijack(garbage, { method: "POST", path: "/x", headers: {} })).rejects.toMatchObject({
      code: "ERR_DOCKER_RESPONSE",
    });
  });

  test("a missing socket is ERR_DOCKER_UNREACHABLE", async () => {
    await expect(
      unixHijack("/nonexistent/agent-test.sock", { method: "POST", path: "/x", headers: {} }),
    ).rejects.toMatchObject({ code: "ERR_DOCKER_UNREACHABLE" });
  });

  test("an abort before the head rejects; after it, closes the stream", async () => {
    const silent = await serve(() => {});
    const abort = new AbortController();
    const pending = unixHijack(silent, { method: "POST", path: "/x", headers: {}, signal: abort.signal });
    setTimeout(() => abort.abort(), 20);
    await expect(pending).rejects.toMatchObject({ code: "ERR_DOCKER_UNREACHABLE" });
    await stopServer();
    const upgraded = await serve((socket) => socket.write("HTTP/1.1 101 UPGRADED\r\n\r\n"));
    const later = new AbortController();
    const stream = await unixHijack(upgraded, {
      method: "POST",
      path: "/x",
      headers: {},
      signal: later.signal,
    });
    const reading = readAll(stream.output);
    later.abort();
    expect(await reading).toBe("");
  });

  test("header injection, a bad path or method is refused before anything is sent", async () => {
    let connected = false;
    const path = await serve(() => (connected = true));
    const requests: HijackRequest[] = [
      { method: "POST", path: "/x", headers: { "x-a": "1\r\nX-Evil: 1" } },
      { method: "POST", path: "/x", headers: { "bad name": "1" } },
      { method: "POST", path: "/x y", headers: {} },
      { method: "POST", path: "x", headers: {} },
      { method: "PO ST", path: "/x", headers: {} },
    ];
    for (const request of requests) {
      await expect(unixHijack(path, request)).rejects.toMatchObject({ code: "ERR_INTERNAL" });
    }
    expect(connected).toBe(false);
  });
});
