/**
 * HttpsServer.updateTls over real TLS on 127.0.0.1: new connections get the new certificate and are verified
 * against the new client CA, a connection opened before the swap goes on, and material that cannot work (a
 * key that does not match, text that is not PEM) is refused with the old material kept.
 */
import "reflect-metadata";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { X509Certificate } from "node:crypto";
import { initAuthority, issueCertificate } from "../../../src/ca/index.ts";
import type { HttpsConnection, HttpsLimits, HttpsServer, HttpsTls } from "../../../src/ports.ts";
import { serveHttps } from "../../../src/runtime/https-listener.ts";
import { nodeFileSystem } from "../../../src/runtime/node-file-system.ts";
import { newCaContext, removeTempDirs } from "../ca/helpers.ts";

interface Pem {
  readonly cert: string;
  readonly key: string;
}

interface Authority {
  readonly caPem: string;
  readonly server: Pem;
  readonly alice: Pem;
}

let a: Authority;
let b: Authority;

async function authority(seed: string): Promise<Authority> {
  const ctx = await newCaContext({ seed });
  await initAuthority(ctx, { name: seed });
  const out = join(ctx.root, "out");
  const issue = async (kind: "server" | "api", name: string): Promise<Pem> => {
    const r = await issueCertificate(ctx, { kind, name }, { dir: out, force: true });
    return { cert: r.certificatePem, key: await nodeFileSystem.readText(r.paths.privateKey) };
  };
  return {
    caPem: await nodeFileSystem.readText(join(ctx.caDir, "cluster.crt")),
    server: await issue("server", "localhost"),
    alice: await issue("api", "alice"),
  };
}

beforeAll(async () => {
  a = await authority("update-ca-a");
  b = await authority("update-ca-b");
});
afterAll(removeTempDirs);

const LIMITS: HttpsLimits = {
  maxHeaderBytes: 4096,
  maxBodyBytes: 1024,
  handshakeTimeoutMs: 5_000,
  headersTimeoutMs: 5_000,
  requestTimeoutMs: 5_000,
  maxConnectionsPerAddress: 10,
  maxConnections: 100,
  maxWebSocketMessageBytes: 64 * 1024,
  maxWebSocketBufferedBytes: 1024 * 1024,
  maxWebSocketsPerAddress: 16,
  maxWebSockets: 100,
  webSocketPingIntervalMs: 20_000,
};

async function listen(tls: HttpsTls): Promise<{ server: HttpsServer; seen: HttpsConnection[] }> {
  const seen: HttpsConnection[] = [];
  const server = await serveHttps({
    hostname: "127.0.0.1",
    port: 0,
    ...tls,
    limits: LIMITS,
    fetch: (request, connection) => {
      seen.push(connection);
      return Response.json({ path: new URL(request.url).pathname });
    },
  });
  return { server, seen };
}

/** A verified TLS connection trusting `caPem`, optionally with a client certificate. */
function open(port: number, caPem: string, client?: Pem): Promise<TLSSocket> {
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

/** One request on an open connection; resolves with the response head and body as text. */
function request(socket: TLSSocket, path: string, close: boolean): Promise<string> {
  return new Promise((resolve) => {
    let text = "";
    const onData = (d: Buffer) => {
      text += d.toString("utf8");
      // The whole response: chunked (ends with the last chunk) or with a content-length (ends with the JSON).
      if (!close && text.includes("\r\n\r\n") && (text.endsWith("\r\n0\r\n\r\n") || text.endsWith("}"))) {
        socket.off("data", onData);
        resolve(text);
      }
    };
    socket.on("data", onData);
    if (close) socket.once("close", () => resolve(text));
    socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\n${close ? "Connection: close\r\n" : ""}\r\n`);
  });
}

const served = (socket: TLSSocket) => socket.getPeerCertificate().fingerprint256;
const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;

describe("HttpsServer.updateTls", () => {
  test("new connections get the new certificate and client CA; an open one goes on", async () => {
    const { server, seen } = await listen({
      certificatePem: a.server.cert,
      privateKeyPem: a.server.key,
      clientCaPem: a.caPem,
    });
    try {
      const before = await open(server.port, a.caPem, a.alice);
      expect(served(before)).toBe(fingerprint(a.server.cert));
      expect(await request(before, "/one", false)).toStartWith("HTTP/1.1 200");

      server.updateTls({ certificatePem: b.server.cert, privateKeyPem: b.server.key, clientCaPem: b.caPem });

      // The connection opened before the swap is not dropped and keeps what it negotiated.
      expect(await request(before, "/two", true)).toStartWith("HTTP/1.1 200");
      expect(seen.map((c) => c.peerVerified)).toEqual([true, true]);

      const after = await open(server.port, b.caPem, b.alice);
      expect(served(after)).toBe(fingerprint(b.server.cert));
      expect(await request(after, "/three", true)).toStartWith("HTTP/1.1 200");
      expect(seen[2]!.peerVerified).toBe(true);

      // A client certificate of the old CA no longer verifies; a client trusting only the old CA refuses
      // the new certificate.
      const old = await open(server.port, b.caPem, a.alice);
      expect(await request(old, "/four", true)).toStartWith("HTTP/1.1 200");
      expect(seen[3]!.peerVerified).toBe(false);
      expect(seen[3]!.peerCertificatesPem.length).toBeGreaterThan(0);
      await expect(open(server.port, a.caPem)).rejects.toThrow();
    } finally {
      await server.stop();
    }
  });

  test("a key that does not match, or text that is not PEM, is ERR_LISTEN and the material in force stays", async () => {
    const { server } = await listen({
      certificatePem: a.server.cert,
      privateKeyPem: a.server.key,
      clientCaPem: a.caPem,
    });
    try {
      const cases: [HttpsTls, string][] = [
        [
          { certificatePem: b.server.cert, privateKeyPem: a.server.key, clientCaPem: b.caPem },
          "the key does not match the certificate",
        ],
        [
          { certificatePem: "garbage", privateKeyPem: b.server.key, clientCaPem: b.caPem },
          "the certificate is not a PEM certificate",
        ],
        [
          { certificatePem: b.server.cert, privateKeyPem: "garbage", clientCaPem: b.caPem },
          "the key is not a PEM private key",
        ],
        [
          { certificatePem: b.server.cert, privateKeyPem: b.server.key, clientCaPem: "garbage" },
          "the client CA is not a PEM certificate",
        ],
      ];
      for (const [tls, message] of cases) {
        expect(() => server.updateTls(tls)).toThrow(expect.objectContaining({ code: "ERR_LISTEN", message }));
      }
      const socket = await open(server.port, a.caPem, a.alice);
      expect(served(socket)).toBe(fingerprint(a.server.cert));
      expect(await request(socket, "/", true)).toStartWith("HTTP/1.1 200");
    } finally {
      await server.stop();
    }
  });

  test("without a client CA given, the previous one stays", async () => {
    const { server, seen } = await listen({
      certificatePem: a.server.cert,
      privateKeyPem: a.server.key,
      clientCaPem: a.caPem,
    });
    try {
      server.updateTls({ certificatePem: b.server.cert, privateKeyPem: b.server.key });
      const socket = await open(server.port, b.caPem, a.alice);
      expect(await request(socket, "/", true)).toStartWith("HTTP/1.1 200");
      expect(seen[0]!.peerVerified).toBe(true);
    } finally {
      await server.stop();
    }
  });

  test("a listener started without a client CA asks for no certificate after one is given", async () => {
    const { server, seen } = await listen({ certificatePem: a.server.cert, privateKeyPem: a.server.key });
    try {
      server.updateTls({ certificatePem: b.server.cert, privateKeyPem: b.server.key, clientCaPem: b.caPem });
      const socket = await open(server.port, b.caPem, b.alice);
      expect(served(socket)).toBe(fingerprint(b.server.cert));
      expect(await request(socket, "/", true)).toStartWith("HTTP/1.1 200");
      expect(seen[0]).toEqual({ address: "127.0.0.1", peerCertificatesPem: [], peerVerified: false });
    } finally {
      await server.stop();
    }
  });
});
