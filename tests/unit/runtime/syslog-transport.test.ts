/**
 * The syslog connection against in-process collectors (node:net and node:tls servers): order, flush at
 * close, a collector down at first, one that drops us mid-way, the bounded queue, TLS verification, and that
 * nothing reaches the caller as an exception or carries a frame's contents into an error message.
 */
import "reflect-metadata";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createServer, type Server, type Socket } from "node:net";
import { createServer as createTlsServer } from "node:tls";
import { join } from "node:path";
import { initAuthority, issueCertificate } from "../../../src/ca/index.ts";
import type { SyslogConnection, SyslogTarget } from "../../../src/ports.ts";
import { nodeFileSystem } from "../../../src/runtime/node-file-system.ts";
import { connectSyslog } from "../../../src/runtime/syslog-transport.ts";
import { newCaContext, removeTempDirs } from "../ca/helpers.ts";

let caPem: string;
let otherCaPem: string;
let serverPem: { cert: string; key: string };

beforeAll(async () => {
  const ctx = await newCaContext({ seed: "syslog-transport" });
  await initAuthority(ctx, { name: "syslog-test-ca" });
  caPem = await nodeFileSystem.readText(join(ctx.caDir, "cluster.crt"));
  const r = await issueCertificate(ctx, { kind: "server", name: "localhost", organizationalUnits: [] }, {
    dir: join(ctx.root, "out"),
  });
  serverPem = { cert: r.certificatePem, key: await nodeFileSystem.readText(r.paths.privateKey) };
  const other = await newCaContext({ seed: "syslog-transport-other" });
  await initAuthority(other, { name: "someone-else" });
  otherCaPem = await nodeFileSystem.readText(join(other.caDir, "cluster.crt"));
});
afterAll(removeTempDirs);

/** A collector that records what it received, split into octet-counted frames. */
class Collector {
  readonly received: Buffer[] = [];
  readonly sockets = new Set<Socket>();
  constructor(readonly server: Server, tls: boolean) {
    server.on(tls ? "secureConnection" : "connection", (s: Socket) => this.adopt(s));
  }

  private adopt(s: Socket): void {
    this.sockets.add(s);
    s.on("data", (d: Buffer) => this.received.push(d));
    s.on("error", () => {});
    s.on("close", () => this.sockets.delete(s));
  }

  frames(): string[] {
    let text = Buffer.concat(this.received).toString("utf8");
    const out: string[] = [];
    while (text.length > 0) {
      const m = /^(\d+) /.exec(text);
      if (m === null) throw new Error(`bad framing: ${text.slice(0, 40)}`);
      const len = Number(m[1]);
      const body = Buffer.from(text.slice(m[0].length), "utf8");
      out.push(body.subarray(0, len).toString("utf8"));
      text = body.subarray(len).toString("utf8");
    }
    return out;
  }

  /** Drops every connection (a collector restarting), keeps listening unless told. */
  async drop(stopListening = false): Promise<void> {
    for (const s of this.sockets) s.destroy();
    if (stopListening) await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  close(): Promise<void> {
    return this.drop(true);
  }
}

async function listen(
  server: Server,
  tls: boolean,
  port = 0,
): Promise<{ collector: Collector; port: number }> {
  const collector = new Collector(server, tls);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  return { collector, port: (server.address() as { port: number }).port };
}

const tcpCollector = (port = 0) => listen(createServer(), false, port);
const tlsCollector = () => listen(createTlsServer({ cert: serverPem.cert, key: serverPem.key }), true);

async function freePort(): Promise<number> {
  const { collector, port } = await tcpCollector();
  await collector.close();
  return port;
}

const frame = (text: string) => new TextEncoder().encode(`${new TextEncoder().encode(text).length} ${text}`);

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!ok()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}

function open(target: Partial<SyslogTarget> & { port: number }, maxQueued = 100) {
  const errors: string[] = [];
  const connection: SyslogConnection = connectSyslog(
    { transport: "tcp", host: "127.0.0.1", ...target },
    {
      maxQueued,
      onError: (m) => void errors.push(m),
      droppedNotice: (n) => frame(`dropped ${n}`),
    },
  );
  return { connection, errors };
}

describe("syslog transport", () => {
  test("frames arrive in order, whole; close flushes and ends the connection", async () => {
    const { collector, port } = await tcpCollector();
    const { connection, errors } = open({ port }, 1_000);
    const sent = Array.from({ length: 500 }, (_, i) => `message ${i} \u00e9 ${"x".repeat(i)}`);
    for (const m of sent) connection.send(frame(m));
    await connection.close(5_000);
    await until("the connection to end", () => collector.sockets.size === 0);
    expect(collector.frames()).toEqual(sent);
    expect(errors).toEqual([]);
    await collector.close();
  });

  test("a collector down at first: frames queue, arrive once it is up; reported, never thrown", async () => {
    const port = await freePort();
    const { connection, errors } = open({ port });
    for (let i = 0; i < 5; i++) connection.send(frame(`early ${i} SECRET-CONTENT`));
    await until("the failure report", () => errors.length > 0);
    const { collector } = await tcpCollector(port);
    await until("the queued frames", () => collector.received.length > 0 && collector.frames().length === 5);
    connection.send(frame("late"));
    await connection.close(5_000);
    expect(collector.frames()).toEqual(
      [0, 1, 2, 3, 4].map((i) => `early ${i} SECRET-CONTENT`).concat("late"),
    );
    expect(errors[0]).toMatch(/^syslog collector tcp:\/\/127\.0\.0\.1:\d+ unreachable: .*retrying/);
    expect(errors.at(-1)).toMatch(/reachable again/);
    expect(errors.join("\n")).not.toContain("SECRET");
    await collector.close();
  });

  test("a full queue drops the oldest and tells the collector how many, first", async () => {
    const port = await freePort();
    const { connection, errors } = open({ port }, 5);
    for (let i = 0; i < 8; i++) connection.send(frame(`m${i}`));
    const { collector } = await tcpCollector(port);
    await until("the frames", () => collector.received.length > 0 && collector.frames().length === 6);
    await connection.close(5_000);
    expect(collector.frames()).toEqual(["dropped 3", "m3", "m4", "m5", "m6", "m7"]);
    expect(errors).toContain(
      `3 audit messages were dropped for the syslog collector tcp://127.0.0.1:${port} (queue full)`,
    );
    await collector.close();
  });

  test("a collector that drops the connection mid-way: reconnected, later frames arrive", async () => {
    const { collector, port } = await tcpCollector();
    const { connection, errors } = open({ port });
    connection.send(frame("before"));
    await until("the first frame", () => collector.received.length > 0);
    await collector.drop();
    await until("the loss report", () => errors.some((e) => e.includes("lost")));
    connection.send(frame("after"));
    await until("the reconnect", () => collector.frames().includes("after"));
    await connection.close(5_000);
    expect(collector.frames()).toEqual(["before", "after"]);
    await collector.close();
  });

  test("unreachable at close: close resolves within its timeout and reports what was not delivered", async () => {
    const port = await freePort();
    const { connection, errors } = open({ port });
    connection.send(frame("one"));
    connection.send(frame("two"));
    const started = performance.now();
    await connection.close(300);
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(errors.at(-1)).toBe(
      `2 audit messages were not delivered to the syslog collector tcp://127.0.0.1:${port} (unreachable at exit)`,
    );
    // After close: ignored, never thrown.
    connection.send(frame("three"));
    await connection.close(100);
  });

  test("TLS: verified against the given CA; the wrong CA is refused and reported", async () => {
    const { collector, port } = await tlsCollector();
    const good = open({ transport: "tls", host: "localhost", port, caPem });
    good.connection.send(frame("over tls"));
    await good.connection.close(5_000);
    expect(collector.frames()).toEqual(["over tls"]);
    expect(good.errors).toEqual([]);

    const bad = open({ transport: "tls", host: "localhost", port, caPem: otherCaPem });
    bad.connection.send(frame("must not arrive"));
    await until("the verification failure", () => bad.errors.length > 0);
    await bad.connection.close(200);
    expect(bad.errors[0]).toMatch(/^syslog collector tls:\/\/localhost:\d+ unreachable: .+/);
    expect(bad.errors.join("\n")).not.toContain("must not arrive");
    expect(collector.frames()).toEqual(["over tls"]);
    await collector.close();
  });

  test("a collector that accepts and drops at once: backoff grows, the log is not flooded", async () => {
    const server = createServer((s) => s.destroy());
    const accepted: number[] = [];
    server.on("connection", () => accepted.push(performance.now()));
    const { collector, port } = await listen(server, false);
    const { connection, errors } = open({ port });
    connection.send(frame("x"));
    await Bun.sleep(2_000);
    await connection.close(0);
    // 250 ms, 500 ms, 1 s...: a handful of attempts, not hundreds; one problem and one recovery said.
    expect(accepted.length).toBeGreaterThan(1);
    expect(accepted.length).toBeLessThan(8);
    expect(errors.filter((e) => e.includes("reachable again")).length).toBeLessThanOrEqual(1);
    expect(errors.filter((e) => / (lost|unreachable): /.test(e))).toHaveLength(1);
    await collector.close();
  });

  test("errors are said at most once a minute while it stays down", async () => {
    const port = await freePort();
    const { connection, errors } = open({ port });
    await Bun.sleep(1_500); // several attempts (backoff from 250 ms)
    await connection.close(0);
    expect(errors.filter((e) => e.includes("unreachable:"))).toHaveLength(1);
  });
});
