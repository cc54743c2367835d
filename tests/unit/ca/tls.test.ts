/**
 * Real TLS handshakes between `openssl s_server -Verify 1 -verify_return_error` (standing in for dockerd
 * --tlsverify) and `openssl s_client`, like Flocker's tests: the right kind of certificate is accepted;
 * another CA's certificate and a server-only certificate used as a client are refused.
 */
import "reflect-metadata";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import {
  type CaContext,
  caFiles,
  initAuthority,
  issueCertificate,
  type OutputPaths,
} from "../../../src/ca/index.ts";
import { newCaContext, removeTempDirs } from "./helpers.ts";

afterAll(removeTempDirs);

interface Pair {
  readonly certificate: string;
  readonly key: string;
}

interface Handshake {
  /** The server answered the HTTP request: both sides accepted the handshake. */
  readonly ok: boolean;
  readonly clientLog: string;
  readonly serverLog: string;
}

async function readUntilPort(stream: ReadableStream<Uint8Array>): Promise<number> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value);
    const match = /ACCEPT 127\.0\.0\.1:(\d+)/.exec(text);
    if (match) {
      reader.releaseLock();
      return Number(match[1]);
    }
  }
  throw new Error(`s_server did not start: ${text}`);
}

async function handshake(
  server: Pair,
  serverCa: string,
  client: Pair | undefined,
  clientCa: string,
  hostname = "localhost",
): Promise<Handshake> {
  const s = Bun.spawn([
    "/usr/bin/openssl",
    "s_server",
    "-accept",
    "127.0.0.1:0",
    "-naccept",
    "1",
    "-www",
    "-cert",
    server.certificate,
    "-key",
    server.key,
    "-CAfile",
    serverCa,
    "-Verify",
    "1",
    "-verify_return_error",
  ], { stdout: "pipe", stderr: "pipe" });
  try {
    const port = await readUntilPort(s.stdout);
    const c = Bun.spawn([
      "/usr/bin/openssl",
      "s_client",
      "-connect",
      `127.0.0.1:${port}`,
      "-servername",
      hostname,
      "-CAfile",
      clientCa,
      "-verify_return_error",
      "-verify_hostname",
      hostname,
      "-ign_eof",
      ...(client ? ["-cert", client.certificate, "-key", client.key] : []),
    ], { stdin: new TextEncoder().encode("GET / HTTP/1.0\r\n\r\n"), stdout: "pipe", stderr: "pipe" });
    const timer = setTimeout(() => c.kill(), 5000);
    const [stdout, stderr] = await Promise.all([
      new Response(c.stdout).text(),
      new Response(c.stderr).text(),
    ]);
    await c.exited;
    clearTimeout(timer);
    s.kill();
    const serverLog = await new Response(s.stderr).text();
    return { ok: stdout.includes("HTTP/1.0 200 ok"), clientLog: stderr, serverLog };
  } finally {
    s.kill();
  }
}

function pair(paths: OutputPaths): Pair {
  return { certificate: paths.certificate, key: paths.privateKey };
}

let ca: CaContext & { root: string };
let otherCa: CaContext & { root: string };
let server: Pair;
let alice: Pair;
let node: Pair;
let serverAsClient: Pair;
let foreignAlice: Pair;
let caCert: string;

beforeAll(async () => {
  ca = await newCaContext();
  otherCa = await newCaContext();
  await initAuthority(ca, { name: "cluster" });
  await initAuthority(otherCa, { name: "cluster" }); // same name, different CA
  caCert = caFiles(ca.caDir).certificate;
  const out = join(ca.root, "out");
  server = pair((await issueCertificate(ca, { kind: "server", name: "docker1" }, { dir: out })).paths);
  alice = pair((await issueCertificate(ca, { kind: "api", name: "alice" }, { dir: out })).paths);
  node = pair((await issueCertificate(ca, { kind: "node", name: "node1" }, { dir: out })).paths);
  serverAsClient = pair(
    (await issueCertificate(ca, { kind: "server", name: "docker2" }, { dir: out })).paths,
  );
  foreignAlice = pair(
    (await issueCertificate(otherCa, { kind: "api", name: "alice" }, { dir: join(otherCa.root, "out") }))
      .paths,
  );
});

describe("TLS handshakes with openssl", () => {
  test("alice's API certificate is accepted by a server requiring client certificates", async () => {
    const result = await handshake(server, caCert, alice, caCert);
    expect(result.serverLog).toContain("CN = alice");
    expect(result.ok).toBe(true);
  });

  test("a node certificate works as a client", async () => {
    expect((await handshake(server, caCert, node, caCert)).ok).toBe(true);
  });

  test("a node certificate works as a server under its own name", async () => {
    expect((await handshake(node, caCert, alice, caCert, "node1")).ok).toBe(true);
  });

  test("a client refuses a server certificate that does not name the host it dialled", async () => {
    const result = await handshake(server, caCert, alice, caCert, "elsewhere.example");
    expect(result.ok).toBe(false);
    expect(result.clientLog).toContain("hostname mismatch");
  });

  test("a client certificate from another CA (with the same CA name) is refused", async () => {
    const result = await handshake(server, caCert, foreignAlice, caCert);
    expect(result.ok).toBe(false);
    expect(result.serverLog).toMatch(/unable to get local issuer certificate|certificate signature failure/);
  });

  test("a server-only certificate used as a client certificate is refused", async () => {
    const result = await handshake(server, caCert, serverAsClient, caCert);
    expect(result.ok).toBe(false);
    expect(result.serverLog).toContain("unsuitable certificate purpose");
  });

  test("a client without a certificate is refused", async () => {
    const result = await handshake(server, caCert, undefined, caCert);
    expect(result.ok).toBe(false);
  });

  test("a client trusting another CA refuses the server", async () => {
    const result = await handshake(server, caCert, alice, caFiles(otherCa.caDir).certificate);
    expect(result.ok).toBe(false);
    expect(result.clientLog).toMatch(/certificate verify failed|unable to get local issuer certificate/);
  });
});
