/**
 * The HTTPS listener over real TLS on 127.0.0.1 (src/runtime/https-listener.ts): what it tells the handler
 * about each connection (address, client certificate chain, the TLS verdict against the agent's CA), and the
 * limits, each with a small value so the test is quick: oversized headers and bodies, slow handshakes,
 * headers and bodies, idle keep-alive connections, connections per address.
 */
import "reflect-metadata";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { connect as tcpConnect } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import {
  AuthorityKeyIdentifierExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  X509Certificate,
  X509CertificateGenerator,
} from "@peculiar/x509";
import { initAuthority, issueCertificate, parsePeerCertificatePems } from "../../../src/ca/index.ts";
import type { HttpsConnection, HttpsLimits, HttpsServer, ServeHttpsOptions } from "../../../src/ports.ts";
import { serveHttps } from "../../../src/runtime/https-listener.ts";
import { nodeFileSystem } from "../../../src/runtime/node-file-system.ts";
import { newCaContext, removeTempDirs } from "../ca/helpers.ts";

interface Pem {
  readonly cert: string;
  readonly key: string;
}

let caPem: string;
let server: Pem;
let alice: Pem;
let foreign: Pem;
let forged: Pem;

async function pkcs8Pem(key: CryptoKey): Promise<string> {
  const der = new Uint8Array(await crypto.subtle.exportKey("pkcs8", key));
  const b64 = Buffer.from(der).toString("base64").match(/.{1,64}/g)!.join("\n");
  return `-----BEGIN PRIVATE KEY-----\n${b64}\n-----END PRIVATE KEY-----\n`;
}

beforeAll(async () => {
  const ctx = await newCaContext({ seed: "https-listener" });
  await initAuthority(ctx, { name: "listener-test-ca" });
  caPem = await nodeFileSystem.readText(join(ctx.caDir, "cluster.crt"));
  const out = join(ctx.root, "out");
  const issue = async (kind: "server" | "api", name: string): Promise<Pem> => {
    const r = await issueCertificate(ctx, { kind, name, organizationalUnits: [] }, { dir: out, force: true });
    return { cert: r.certificatePem, key: await nodeFileSystem.readText(r.paths.privateKey) };
  };
  server = await issue("server", "localhost");
  alice = await issue("api", "alice");

  const other = await newCaContext({ seed: "https-listener-other" });
  await initAuthority(other, { name: "someone-else" });
  const r = await issueCertificate(other, { kind: "api", name: "alice" }, { dir: join(other.root, "out") });
  foreign = { cert: r.certificatePem, key: await nodeFileSystem.readText(r.paths.privateKey) };

  // A forgery: our CA's issuer name and key identifier, signed by a key of its own.
  const ca = new X509Certificate(caPem);
  const keyId = parsePeerCertificatePems([alice.cert])[0]!.authorityKeyId!;
  const keys = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]);
  const now = Date.now();
  const fake = await X509CertificateGenerator.create({
    serialNumber: "0badc0de",
    subject: "CN=alice",
    issuer: ca.subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 86_400_000),
    publicKey: keys.publicKey,
    signingKey: keys.privateKey,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
    extensions: [
      new AuthorityKeyIdentifierExtension(keyId),
      new ExtendedKeyUsageExtension([ExtendedKeyUsage.clientAuth]),
    ],
  });
  forged = { cert: fake.toString("pem"), key: await pkcs8Pem(keys.privateKey) };
});
afterAll(removeTempDirs);

const LIMITS: HttpsLimits = {
  maxHeaderBytes: 4096,
  maxBodyBytes: 1024,
  handshakeTimeoutMs: 400,
  headersTimeoutMs: 400,
  requestTimeoutMs: 700,
  maxConnectionsPerAddress: 3,
  maxConnections: 100,
  maxWebSocketMessageBytes: 64 * 1024,
  maxWebSocketBufferedBytes: 1024 * 1024,
  maxWebSocketsPerAddress: 16,
  maxWebSockets: 100,
  webSocketPingIntervalMs: 20_000,
};

async function listen(
  overrides: Partial<ServeHttpsOptions> = {},
): Promise<{ server: HttpsServer; seen: HttpsConnection[] }> {
  const seen: HttpsConnection[] = [];
  const s = await serveHttps({
    hostname: "127.0.0.1",
    port: 0,
    certificatePem: server.cert,
    privateKeyPem: server.key,
    clientCaPem: caPem,
    limits: LIMITS,
    fetch: async (request, connection) => {
      seen.push(connection);
      const text = request.body === null ? "" : await request.text();
      return Response.json({
        method: request.method,
        path: new URL(request.url).pathname,
        bytes: text.length,
      });
    },
    ...overrides,
  });
  return { server: s, seen };
}

/** A TLS connection to the listener, optionally with a client certificate. */
function open(port: number, client?: Pem): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host: "127.0.0.1",
      port,
      servername: "localhost",
      ca: caPem,
      ...(client === undefined ? {} : { cert: client.cert, key: client.key }),
    });
    socket.once("secureConnect", () => resolve(socket));
    socket.once("error", reject);
  });
}

/** Everything the server sends until it closes the connection (or `ms` pass), and whether it closed. */
function readAll(socket: TLSSocket, ms = 3_000): Promise<{ text: string; closed: boolean; afterMs: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    let text = "";
    const timer = setTimeout(() => done(false), ms);
    const done = (closed: boolean) => {
      clearTimeout(timer);
      resolve({ text, closed, afterMs: performance.now() - started });
    };
    socket.on("data", (d: Buffer) => (text += d.toString("utf8")));
    socket.once("close", () => done(true));
    socket.once("error", () => {});
  });
}

async function get(port: number, client?: Pem, path = "/x"): Promise<string> {
  const socket = await open(port, client);
  const reading = readAll(socket);
  socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
  return (await reading).text;
}

describe("HTTPS listener: what the handler learns about the connection", () => {
  test("a client certificate of the agent's CA: the chain, leaf first, verified", async () => {
    const { server: s, seen } = await listen();
    try {
      expect(await get(s.port, alice)).toStartWith("HTTP/1.1 200");
      expect(seen[0]!.address).toBe("127.0.0.1");
      expect(seen[0]!.peerVerified).toBe(true);
      expect(parsePeerCertificatePems(seen[0]!.peerCertificatesPem.slice(0, 1))[0]!.commonName).toBe("alice");
    } finally {
      await s.stop();
    }
  });

  test("requested, never required: no certificate, another CA's, and a forgery are all let in, unverified", async () => {
    const { server: s, seen } = await listen();
    try {
      for (const client of [undefined, foreign, forged]) {
        expect(await get(s.port, client)).toStartWith("HTTP/1.1 200");
      }
      expect(seen.map((c) => [c.peerCertificatesPem.length > 0, c.peerVerified])).toEqual([
        [false, false],
        [true, false],
        [true, false],
      ]);
      expect(parsePeerCertificatePems(seen[2]!.peerCertificatesPem.slice(0, 1))[0]!.commonName).toBe("alice");
    } finally {
      await s.stop();
    }
  });

  test("without a client CA no certificate is requested", async () => {
    const { server: s, seen } = await listen({ clientCaPem: undefined });
    try {
      expect(await get(s.port, alice)).toStartWith("HTTP/1.1 200");
      expect(seen[0]).toEqual({ address: "127.0.0.1", peerCertificatesPem: [], peerVerified: false });
    } finally {
      await s.stop();
    }
  });

  test("keeps a connection alive across requests, with the same connection facts", async () => {
    const { server: s, seen } = await listen();
    try {
      const socket = await open(s.port, alice);
      const reading = readAll(socket);
      socket.write("GET /one HTTP/1.1\r\nHost: x\r\n\r\n");
      await Bun.sleep(50);
      socket.write("GET /two HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      const { text } = await reading;
      expect(text).toContain('"path":"/one"');
      expect(text).toContain('"path":"/two"');
      expect(seen).toHaveLength(2);
      expect(seen[1]).toEqual(seen[0]!);
    } finally {
      await s.stop();
    }
  });

  test("a handler that throws is a JSON 500, and the connection goes on", async () => {
    const { server: s } = await listen({
      fetch: () => {
        throw new Error("secret detail");
      },
    });
    try {
      const text = await get(s.port);
      expect(text).toStartWith("HTTP/1.1 500");
      expect(text).toContain('{"error":"internal error"}');
      expect(text).not.toContain("secret");
    } finally {
      await s.stop();
    }
  });
});

describe("HTTPS listener: limits", () => {
  test("headers over the limit get a JSON 431 and the connection is closed", async () => {
    const { server: s, seen } = await listen();
    try {
      const socket = await open(s.port);
      const reading = readAll(socket);
      socket.write(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(8000)}\r\n\r\n`);
      const { text, closed } = await reading;
      expect(text).toStartWith("HTTP/1.1 431");
      expect(text).toContain('{"error":"request headers larger than 4096 bytes"}');
      expect(closed).toBe(true);
      expect(seen).toEqual([]);
    } finally {
      await s.stop();
    }
  });

  test("a body over the limit gets a JSON 413, declared or chunked; one within it reaches the handler", async () => {
    const { server: s, seen } = await listen();
    try {
      const declared = await open(s.port);
      let reading = readAll(declared);
      declared.write(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n",
      );
      let result = await reading;
      expect(result.text).toStartWith("HTTP/1.1 413");
      expect(result.text).toContain('{"error":"request body larger than 1024 bytes"}');
      expect(result.closed).toBe(true);

      const chunked = await open(s.port);
      reading = readAll(chunked);
      const chunk = "a".repeat(600);
      chunked.write(
        `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n${chunk}\r\n258\r\n${chunk}\r\n0\r\n\r\n`,
      );
      result = await reading;
      expect(result.text).toStartWith("HTTP/1.1 413");
      expect(seen).toEqual([]);

      const fits = await open(s.port);
      reading = readAll(fits);
      fits.write(`POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 600\r\n\r\n${chunk}`);
      expect((await reading).text).toContain('"bytes":600');
    } finally {
      await s.stop();
    }
  });

  test("a TLS handshake that never starts is cut off", async () => {
    const { server: s } = await listen();
    try {
      const closed = await new Promise<number>((resolve) => {
        const started = performance.now();
        const raw = tcpConnect({ host: "127.0.0.1", port: s.port });
        raw.on("error", () => {});
        raw.once("close", () => resolve(performance.now() - started));
      });
      expect(closed).toBeGreaterThanOrEqual(300);
      expect(closed).toBeLessThan(2_000);
    } finally {
      await s.stop();
    }
  });

  test("headers sent slowly, and an idle keep-alive connection, are cut off", async () => {
    const { server: s, seen } = await listen();
    try {
      const slow = await open(s.port);
      const reading = readAll(slow);
      slow.write("GET / HTTP/1.1\r\nHost: x\r\n");
      const drip = setInterval(() => slow.writable && slow.write("X-A: b\r\n"), 100);
      const result = await reading;
      clearInterval(drip);
      expect(result.closed).toBe(true);
      expect(result.afterMs).toBeLessThan(2_000);
      expect(seen).toEqual([]);

      const idle = await open(s.port);
      const idleReading = readAll(idle);
      idle.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
      const idleResult = await idleReading;
      expect(idleResult.text).toStartWith("HTTP/1.1 200");
      expect(idleResult.closed).toBe(true);
      expect(idleResult.afterMs).toBeLessThan(2_000);
    } finally {
      await s.stop();
    }
  });

  test("a body sent slowly is cut off at the request limit", async () => {
    const { server: s, seen } = await listen();
    try {
      const socket = await open(s.port);
      const reading = readAll(socket);
      socket.write("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n");
      const drip = setInterval(() => socket.writable && socket.write("aa"), 100);
      const result = await reading;
      clearInterval(drip);
      expect(result.closed).toBe(true);
      expect(result.afterMs).toBeGreaterThanOrEqual(600);
      expect(result.afterMs).toBeLessThan(2_500);
      expect(seen).toEqual([]);
    } finally {
      await s.stop();
    }
  });

  test("one address may hold only so many connections; a closed one frees its place", async () => {
    const { server: s } = await listen({ limits: { ...LIMITS, headersTimeoutMs: 5_000 } });
    try {
      const held = [await open(s.port), await open(s.port), await open(s.port)];
      await expect(open(s.port)).rejects.toThrow();
      held[0]!.destroy();
      await Bun.sleep(100);
      const again = await open(s.port);
      for (const socket of [...held, again]) socket.destroy();
    } finally {
      await s.stop();
    }
  });
});

describe("HTTPS listener: starting and stopping", () => {
  test("stop closes open connections and frees the port", async () => {
    const { server: s } = await listen({ limits: { ...LIMITS, headersTimeoutMs: 10_000 } });
    const socket = await open(s.port);
    const reading = readAll(socket);
    await s.stop();
    expect((await reading).closed).toBe(true);
    const again = await listen({ port: s.port });
    await again.server.stop();
  });

  test("a port in use and an unusable certificate are ERR_LISTEN with a sentence", async () => {
    const { server: s } = await listen();
    try {
      await expect(listen({ port: s.port })).rejects.toMatchObject({
        code: "ERR_LISTEN",
        message:
          `cannot listen on 127.0.0.1:${s.port}: the address is in use (is another server listening there?)`,
      });
      await expect(listen({ privateKeyPem: alice.key })).rejects.toMatchObject({ code: "ERR_LISTEN" });
    } finally {
      await s.stop();
    }
  });
});
