/**
 * The HTTPS listener on Bun and Deno alike. Bun.serve and Deno.serve never tell a handler the client's
 * certificate, so TLS is node:tls (a client certificate requested, never required: `rejectUnauthorized:
 * false`, and the verdict kept per connection) and HTTP/1.1 is node:http, given each decrypted connection
 * with `emit("connection")`; both work on Bun 1.4.5 and Deno 2.9 (probed). The limits are enforced here
 * with timers of our own: Bun's node:http ignores `headersTimeout`, `requestTimeout` and
 * `keepAliveTimeout` (probed), so a slow client would otherwise hold a connection forever.
 *
 * `updateTls` swaps the certificate, key and client CA with `setSecureContext` (Bun and Deno alike, probed):
 * new connections get the new material, open ones keep theirs. The pair is checked first with node:crypto,
 * because Deno takes a key that does not match and then fails every handshake (probed). Whether a client
 * certificate is requested is fixed at start: Bun ignores a later `requestCert` (probed).
 *
 * Websockets: node:http hands a request with `Connection: upgrade` to the 'upgrade' event, socket and all,
 * on Bun and Deno alike for these emitted TLS sockets (probed). Until then the handshake and header timers
 * apply as to any request; the upgrade then has the request timer for the handler and the 101. A valid
 * websocket upgrade goes to the same `fetch` with `connection.websocket` (anything else asking to upgrade
 * is answered 400 here); the Response it returns is written on the socket, which is then closed, unless it
 * is the one `accept` made, when the 101 is written, the request timer stopped, and the socket becomes a
 * websocket (websocket.ts) pinged every `webSocketPingIntervalMs`. That Response is known by identity, or
 * else by a random token in its ACCEPT_HEADER: frameworks copy a Response to change its headers (Hono does
 * on `c.header()` after the handler, or when a middleware read `c.res` first), and the copy keeps them.
 * Websockets count as connections (per address and in all) until their socket closes, and have limits of
 * their own checked before the handler runs: 429 per address, 503 in all.
 */
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
  STATUS_CODES,
} from "node:http";
import { createPrivateKey, X509Certificate } from "node:crypto";
import type { AddressInfo, Socket } from "node:net";
import {
  createServer as createTlsServer,
  type PeerCertificate,
  type SecureContextOptions,
  type TLSSocket,
} from "node:tls";
import { AgentError } from "../errors.ts";
import type {
  ByteStream,
  HijackHead,
  HttpsConnection,
  HttpsLimits,
  HttpsServer,
  HttpsTls,
  ServeHttpsOptions,
  WebSocketAccept,
} from "../ports.ts";
import { acceptKey, checkUpgradeRequest } from "../ws/index.ts";
import { SocketPeer } from "./websocket.ts";
import { webStreamOf } from "./web-stream.ts";

/** More than any real chain; the rest is ignored. */
const MAX_CHAIN = 16;

interface Pending {
  readonly timer: ReturnType<typeof setTimeout>;
  readonly raw: Socket;
}

interface Live {
  readonly connection: HttpsConnection;
  /** The TCP socket under the TLS one (the same object on Bun, another on Deno). */
  readonly raw: Socket;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** Responses being written (keep-alive requests may be pipelined); an upgrade waits for them. */
  inFlight: number;
  idle: (() => void)[];
}

/** Names the Response `accept` made even in a framework's copy of it (never sent). */
const ACCEPT_HEADER = "x-agent-websocket-accept";

/** Response headers never copied onto a 101: the handshake's own, the body's framing, our token. */
const NOT_ON_101 = new Set([
  ACCEPT_HEADER,
  "connection",
  "upgrade",
  "content-length",
  "content-type",
  "transfer-encoding",
  "keep-alive",
  "sec-websocket-accept",
]);

class BodyTooLarge extends Error {}

export async function serveHttps(options: ServeHttpsOptions): Promise<HttpsServer> {
  const { limits } = options;
  const open = new Set<Socket>();
  const perAddress = new Map<string, number>();
  // A connection is known by its peer's address and port until its TLS socket exists (on Deno the raw and
  // the TLS socket are two objects).
  const handshaking = new Map<string, Pending>();
  const live = new WeakMap<Socket, Live>();
  const base = `https://${options.hostname.includes(":") ? `[${options.hostname}]` : options.hostname}`;
  // Websockets: counted per address and in all while their socket is open (reserved before the handler
  // runs, so handlers running at once cannot pass the limits together).
  const peers = new Set<SocketPeer>();
  const upgradedRaw = new Set<Socket>();
  // The gateway's hijacked streams: cut when the listener stops.
  const hijacks = new Set<Socket>();
  const websocketsPerAddress = new Map<string, number>();
  let websockets = 0;
  let stopping = false;

  const http: HttpServer = createHttpServer({ maxHeaderSize: limits.maxHeaderBytes });
  // A client that half-closes after its request (shutdown(SHUT_WR)) still gets its answer: by default node:http
  // aborts the requests in flight at the client's FIN (seen on Bun 1.4.5: no answer at all; with this, the
  // answer, then the close).
  (http as unknown as { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  http.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    const state = live.get(socket);
    if (state === undefined) {
      socket.destroy();
      return;
    }
    // Headers are in: from now on the request (body, handler, response) has requestTimeoutMs in all.
    rearm(state, socket, limits.requestTimeoutMs);
    state.inFlight++;
    let done = false;
    const finished = () => {
      if (done) return;
      done = true;
      state.inFlight--;
      if (state.inFlight === 0) { for (const wake of state.idle.splice(0)) wake(); }
    };
    res.once("finish", () => {
      finished();
      if (!socket.destroyed) rearm(state, socket, limits.headersTimeoutMs);
    });
    res.once("close", finished);
    // A streamed answer (STREAM_HEADER: events as NDJSON) may last for hours: no request timer once it starts.
    const unlimit = () => clearTimeout(state.timer);
    if (options.passThrough?.(req.url ?? "") === true) {
      // The gateway: an upload or a `logs -f` takes as long as it takes, like dockerd's own port.
      unlimit();
      void passThrough(req, res, socket, state.connection, base, options);
      return;
    }
    void respond(req, res, socket, state.connection, base, options, limits, unlimit);
  });
  http.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => {
    void upgrade(req, socket, head);
  });

  /** A request that asks to upgrade: refused, answered by the handler, or made a websocket. */
  async function upgrade(req: IncomingMessage, socket: Socket, head: Uint8Array): Promise<void> {
    const state = live.get(socket);
    if (state === undefined || stopping) {
      socket.destroy();
      return;
    }
    // Headers are in: the handler and the 101 have requestTimeoutMs, as any request.
    rearm(state, socket, limits.requestTimeoutMs);
    if (state.inFlight > 0) await new Promise<void>((resolve) => state.idle.push(resolve));
    if (socket.destroyed || stopping) {
      socket.destroy();
      return;
    }
    const refuse = (status: number, message: string, headers: Record<string, string> = {}) =>
      writeRaw(socket, jsonError(status, message), headers);
    const target = req.url ?? "";
    if (!target.startsWith("/")) return refuse(400, "the request target must be a path");
    if (options.passThrough?.(target) === true) return hijack(req, socket, head, state);
    const headers = headersOf(req);
    if (headers === undefined) return refuse(400, "malformed request header");
    const check = checkUpgradeRequest(req.method ?? "", headers);
    if (!check.ok) return refuse(check.status, check.message, check.headers);
    const address = state.connection.address;
    const mine = websocketsPerAddress.get(address) ?? 0;
    if (mine >= limits.maxWebSocketsPerAddress) {
      return refuse(429, `too many websockets from this address (at most ${limits.maxWebSocketsPerAddress})`);
    }
    if (websockets >= limits.maxWebSockets) {
      return refuse(503, `too many websockets (at most ${limits.maxWebSockets})`);
    }
    websocketsPerAddress.set(address, mine + 1);
    websockets++;
    socket.once("close", () => {
      websockets--;
      const left = (websocketsPerAddress.get(address) ?? 1) - 1;
      if (left > 0) websocketsPerAddress.set(address, left);
      else websocketsPerAddress.delete(address);
    });

    // What `accept` made for this request: only these upgrade this socket.
    const byResponse = new WeakMap<Response, WebSocketAccept>();
    const byToken = new Map<string, WebSocketAccept>();
    const connection: HttpsConnection = {
      ...state.connection,
      websocket: {
        accept(open: WebSocketAccept): Response {
          const token = crypto.randomUUID();
          const response = new Response(null, { status: 200, headers: { [ACCEPT_HEADER]: token } });
          byResponse.set(response, open);
          byToken.set(token, open);
          return response;
        },
      },
    };
    let response: Response;
    try {
      response = await options.fetch(new Request(`${base}${target}`, { method: "GET", headers }), connection);
    } catch {
      response = jsonError(500, "internal error");
    }
    if (socket.destroyed || stopping) {
      socket.destroy();
      return;
    }
    const token = response.headers.get(ACCEPT_HEADER);
    const accepted = byResponse.get(response) ?? (token === null ? undefined : byToken.get(token));
    if (accepted === undefined) {
      // Another request's acceptance is the app's mistake: refused, never passed on.
      return token === null ? writeRaw(socket, response) : refuse(500, "internal error");
    }

    // The websocket may live for hours: no request timer from here on, pings instead.
    clearTimeout(state.timer);
    state.timer = undefined;
    const lines = [
      "HTTP/1.1 101 Switching Protocols",
      "upgrade: websocket",
      "connection: Upgrade",
      `sec-websocket-accept: ${acceptKey(check.key)}`,
    ];
    response.headers.forEach((value, name) => {
      if (!NOT_ON_101.has(name)) lines.push(`${name}: ${value}`);
    });
    socket.write(`${lines.join("\r\n")}\r\n\r\n`);
    const peer = new SocketPeer(socket, {
      role: "server",
      maxMessageBytes: limits.maxWebSocketMessageBytes,
      maxBufferedBytes: limits.maxWebSocketBufferedBytes,
      pingIntervalMs: limits.webSocketPingIntervalMs,
    });
    peers.add(peer);
    upgradedRaw.add(state.raw);
    void peer.closed.then(() => {
      peers.delete(peer);
      upgradedRaw.delete(state.raw);
    });
    peer.start(accepted, head);
  }
  /**
   * An upgrade to a pass-through target (the gateway's attach and exec start): the body (exec start's small
   * JSON) is read from what came with the head, the handler answers or accepts, and an accepted one becomes a
   * byte stream both ways that either side may half-close (the docker CLI closes its side at stdin's end and
   * still reads the output).
   */
  async function hijack(req: IncomingMessage, socket: Socket, head: Uint8Array, state: Live): Promise<void> {
    const target = req.url ?? "";
    const refuse = (status: number, message: string) => writeRaw(socket, jsonError(status, message));
    const headers = headersOf(req);
    if (headers === undefined) return refuse(400, "malformed request header");
    if (headers.has("transfer-encoding")) {
      return refuse(400, "an upgrade request may not have a chunked body");
    }
    const length = Number(headers.get("content-length") ?? "0");
    if (!Number.isInteger(length) || length < 0) return refuse(400, "a bad Content-Length");
    if (length > limits.maxBodyBytes) {
      return refuse(413, `request body larger than ${limits.maxBodyBytes} bytes`);
    }
    const received = await readExactly(socket, head, length);
    if (received === undefined) {
      socket.destroy();
      return;
    }
    const [body, rest] = received;
    let accepted: { head: HijackHead; open: (client: ByteStream) => void } | undefined;
    const marks = new WeakSet<Response>();
    const connection: HttpsConnection = {
      ...state.connection,
      hijack: {
        accept(answer, open) {
          const response = new Response(null, { status: 200 });
          marks.add(response);
          accepted = { head: answer, open };
          return response;
        },
      },
    };
    let response: Response;
    try {
      const method = req.method ?? "POST";
      response = await options.fetch(
        new Request(`${base}${target}`, {
          method,
          headers,
          ...(body.length === 0 || method === "GET" || method === "HEAD"
            ? {}
            : { body: body as Uint8Array<ArrayBuffer> }),
        }),
        connection,
      );
    } catch {
      response = jsonError(500, "internal error");
    }
    if (socket.destroyed || stopping) {
      socket.destroy();
      return;
    }
    if (!marks.has(response) || accepted === undefined) return writeRaw(socket, response);
    clearTimeout(state.timer);
    state.timer = undefined;
    const lines = [`HTTP/1.1 ${accepted.head.status} ${accepted.head.statusText}`];
    for (const [name, value] of accepted.head.headers) lines.push(`${name}: ${value}`);
    socket.write(`${lines.join("\r\n")}\r\n\r\n`);
    upgradedRaw.add(state.raw);
    socket.once("close", () => upgradedRaw.delete(state.raw));
    hijacks.add(socket);
    socket.once("close", () => hijacks.delete(socket));
    accepted.open(byteStreamOf(socket, rest));
  }

  // Malformed or oversized requests: answer in JSON when the socket can still take it, then close.
  http.on("clientError", (err: NodeJS.ErrnoException, socket: Socket) => {
    if (socket.writable && err.code !== "ECONNRESET") {
      const [status, text] = err.code === "HPE_HEADER_OVERFLOW"
        ? [431, `request headers larger than ${limits.maxHeaderBytes} bytes`]
        : [400, "malformed HTTP request"];
      const body = JSON.stringify({ error: text });
      socket.end(
        `HTTP/1.1 ${status} ${status === 431 ? "Request Header Fields Too Large" : "Bad Request"}\r\n` +
          `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
          `connection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  });

  // Fixed at start (see the module comment); the client CA itself may change (updateTls).
  const requested = options.clientCaPem !== undefined;
  let clientCaPem = options.clientCaPem;
  let tls;
  try {
    const problem = tlsProblem(options);
    if (problem !== undefined) throw new Error(problem);
    tls = createTlsServer({
      ...secureContextOptions(options),
      // A hijacked stream's client may half-close (its stdin ended) and still read; node:http ends the
      // others itself when their client ends.
      allowHalfOpen: true,
      requestCert: requested,
      rejectUnauthorized: false,
      ALPNProtocols: ["http/1.1"],
    });
  } catch (err) {
    throw new AgentError(
      "ERR_LISTEN",
      "the listener's certificate and key cannot be used (are they PEM, and do they match?)",
      err instanceof Error ? err.message : undefined,
    );
  }

  tls.on("connection", (raw: Socket) => {
    const address = clientAddress(raw.remoteAddress);
    const count = address === undefined ? 0 : perAddress.get(address) ?? 0;
    if (
      address === undefined || open.size >= limits.maxConnections || count >= limits.maxConnectionsPerAddress
    ) {
      raw.destroy();
      return;
    }
    open.add(raw);
    perAddress.set(address, count + 1);
    const key = `${address}|${raw.remotePort}`;
    handshaking.set(key, { timer: setTimeout(() => raw.destroy(), limits.handshakeTimeoutMs), raw });
    raw.once("close", () => {
      const pending = handshaking.get(key);
      if (pending !== undefined) clearTimeout(pending.timer);
      handshaking.delete(key);
      open.delete(raw);
      const left = (perAddress.get(address) ?? 1) - 1;
      if (left > 0) perAddress.set(address, left);
      else perAddress.delete(address);
    });
  });
  tls.on("secureConnection", (socket: TLSSocket) => {
    const address = clientAddress(socket.remoteAddress);
    const key = `${address}|${socket.remotePort}`;
    const pending = handshaking.get(key);
    if (address === undefined || pending === undefined) {
      socket.destroy();
      return;
    }
    clearTimeout(pending.timer);
    handshaking.delete(key);
    const state: Live = {
      connection: connectionOf(socket, address, requested),
      raw: pending.raw,
      timer: undefined,
      inFlight: 0,
      idle: [],
    };
    live.set(socket, state);
    socket.once("close", () => clearTimeout(state.timer));
    rearm(state, socket, limits.headersTimeoutMs);
    http.emit("connection", socket);
  });
  tls.on("tlsClientError", (_err: Error, socket: TLSSocket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException) =>
      reject(
        new AgentError(
          "ERR_LISTEN",
          `cannot listen on ${base.slice("https://".length)}:${options.port}: ${listenProblem(err)}`,
          err.message,
        ),
      );
    tls.once("error", failed);
    tls.listen(options.port, options.hostname, () => {
      tls.off("error", failed);
      resolve();
    });
  });
  const port = (tls.address() as AddressInfo).port;
  return {
    port,
    updateTls(update: HttpsTls) {
      const next = { ...update, clientCaPem: requested ? update.clientCaPem ?? clientCaPem : undefined };
      const problem = tlsProblem(next);
      if (problem !== undefined) {
        throw new AgentError("ERR_LISTEN", problem);
      }
      try {
        tls.setSecureContext(secureContextOptions(next));
      } catch (err) {
        throw new AgentError(
          "ERR_LISTEN",
          "the TLS library refused the new certificate, key or client CA",
          err instanceof Error ? err.message : undefined,
        );
      }
      clientCaPem = next.clientCaPem;
    },
    async stop() {
      stopping = true;
      // Websockets get a close frame (1001) and the grace to answer it; every other connection is cut.
      const closing = [...peers].map((peer) => {
        peer.close(1001, "server stopping");
        return peer.closed;
      });
      await Promise.all([
        new Promise<void>((resolve) => {
          tls.close(() => resolve());
          for (const socket of open) if (!upgradedRaw.has(socket)) socket.destroy();
        }),
        ...closing,
      ]);
      for (const socket of hijacks) socket.destroy();
      for (const socket of open) socket.destroy();
    },
  };
}

function secureContextOptions(material: HttpsTls): SecureContextOptions {
  return {
    cert: material.certificatePem,
    key: material.privateKeyPem,
    ...(material.clientCaPem === undefined ? {} : { ca: material.clientCaPem }),
    minVersion: "TLSv1.2",
  };
}

/** What is wrong with a certificate, key and client CA, in words (no key material); undefined when usable. */
function tlsProblem(material: HttpsTls): string | undefined {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(material.certificatePem);
  } catch {
    return "the certificate is not a PEM certificate";
  }
  let matches: boolean;
  try {
    matches = certificate.checkPrivateKey(createPrivateKey(material.privateKeyPem));
  } catch {
    return "the key is not a PEM private key";
  }
  if (!matches) return "the key does not match the certificate";
  if (material.clientCaPem !== undefined) {
    try {
      new X509Certificate(material.clientCaPem);
    } catch {
      return "the client CA is not a PEM certificate";
    }
  }
  return undefined;
}

function rearm(state: Live, socket: Socket, ms: number): void {
  clearTimeout(state.timer);
  state.timer = setTimeout(() => socket.destroy(), ms);
}

/** The peer's address, an IPv4 client of a dual-stack socket as plain IPv4. */
function clientAddress(address: string | undefined): string | undefined {
  if (address === undefined || address === "") return undefined;
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice("::ffff:".length) : address;
}

function listenProblem(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case "EADDRINUSE":
      return "the address is in use (is another server listening there?)";
    case "EADDRNOTAVAIL":
      return "this host has no such address";
    case "EACCES":
      return "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "the host name does not resolve";
    default:
      return "the system refused it";
  }
}

/** What the handshake established, computed once per connection. */
function connectionOf(socket: TLSSocket, address: string, requested: boolean): HttpsConnection {
  const chain: string[] = [];
  if (requested) {
    let cert: PeerCertificate | undefined = socket.getPeerCertificate(true) as PeerCertificate | undefined;
    while (cert !== undefined && cert.raw !== undefined && cert.raw.length > 0 && chain.length < MAX_CHAIN) {
      chain.push(pemOf(cert.raw));
      const issuer: PeerCertificate | undefined = (cert as { issuerCertificate?: PeerCertificate })
        .issuerCertificate;
      // A self-signed root is its own issuer.
      if (issuer === undefined || issuer === cert || issuer.fingerprint256 === cert.fingerprint256) break;
      cert = issuer;
    }
  }
  return {
    address,
    peerCertificatesPem: chain,
    peerVerified: chain.length > 0 && socket.authorized === true,
  };
}

function pemOf(der: Uint8Array): string {
  const base64 = Buffer.from(der).toString("base64");
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join("\n")}\n-----END CERTIFICATE-----\n`;
}

async function respond(
  req: IncomingMessage,
  res: ServerResponse,
  socket: Socket,
  connection: HttpsConnection,
  base: string,
  options: ServeHttpsOptions,
  limits: HttpsLimits,
  unlimit: () => void,
): Promise<void> {
  let response: Response;
  try {
    const request = await webRequestOf(req, base, limits.maxBodyBytes);
    if (request instanceof Response) {
      response = request;
    } else {
      try {
        response = await options.fetch(request, connection);
      } catch {
        response = jsonError(500, "internal error");
      }
    }
  } catch {
    socket.destroy();
    return;
  }
  await writeResponse(req, res, socket, response, unlimit);
}

/**
 * A pass-through request (the gateway): its body handed on as a stream as it arrives (the handler bounds what
 * it reads), its response streamed with the headers written at once (`docker run` waits for the headers of
 * its `wait` before it starts the container).
 */
async function passThrough(
  req: IncomingMessage,
  res: ServerResponse,
  socket: Socket,
  connection: HttpsConnection,
  base: string,
  options: ServeHttpsOptions,
): Promise<void> {
  const target = req.url ?? "";
  // Only origin-form targets ("/path?query"), as for every other request.
  if (!target.startsWith("/")) {
    await writeResponse(req, res, socket, jsonError(400, "the request target must be a path", true));
    return;
  }
  let response: Response;
  const headers = headersOf(req);
  if (headers === undefined) {
    await writeResponse(req, res, socket, jsonError(400, "malformed request header", true));
    return;
  }
  const method = req.method ?? "GET";
  const hasBody = method !== "GET" && method !== "HEAD" &&
    (headers.has("transfer-encoding") || Number(headers.get("content-length") ?? "0") > 0);
  try {
    response = await options.fetch(
      new Request(`${base}${target}`, {
        method,
        headers,
        ...(hasBody ? { body: streamOf(req, undefined, socket), duplex: "half" } : {}),
      } as RequestInit),
      connection,
    );
  } catch {
    response = jsonError(500, "internal error");
  }
  await writeResponse(req, res, socket, response, undefined, true);
  // What the handler did not read of the body is not waited for: the connection cannot be reused.
  if (!req.complete) res.once("finish", () => socket.destroy());
}

/**
 * A request body or a hijacked client's bytes as a web stream. `under` is the socket a request body arrives
 * on: pausing the IncomingMessage alone does not stop Bun reading the socket (a 1 GiB upload held 1.2 GiB;
 * pausing the socket too, about 120 MiB over the idle agent, measured). A reader that cancels lets the rest
 * drain.
 */
function streamOf(
  source: IncomingMessage | Socket,
  first?: Uint8Array,
  under?: Socket,
): ReadableStream<Uint8Array> {
  return webStreamOf(source, {
    ...(first === undefined ? {} : { first }),
    ...(under === undefined ? {} : { under }),
    broken: () => new Error("the client's connection broke"),
    cancel: () => {
      source.resume();
      under?.resume();
    },
  });
}

/** The client's side of a hijacked connection: what it sends (after the request), writes, half-close. */
function byteStreamOf(socket: Socket, first: Uint8Array): ByteStream {
  return {
    output: streamOf(socket, first),
    write(data) {
      if (socket.destroyed || socket.writableEnded) {
        return Promise.reject(new Error("the client's connection is closed"));
      }
      return new Promise<void>((resolve, reject) => {
        socket.write(data, (err) => (err ? reject(err) : resolve()));
      });
    },
    closeWrite() {
      if (!socket.destroyed && !socket.writableEnded) socket.end();
    },
    close() {
      socket.destroy();
    },
  };
}

/**
 * `length` bytes of body from what came with the head and then from the socket; the rest of what came is
 * returned too (the start of the client's stream). Undefined when the client closes first.
 */
function readExactly(
  socket: Socket,
  head: Uint8Array,
  length: number,
): Promise<[Uint8Array, Uint8Array] | undefined> {
  if (head.length >= length) {
    return Promise.resolve([head.slice(0, length), head.slice(length)]);
  }
  return new Promise((resolve) => {
    const chunks: Uint8Array[] = [head];
    let received = head.length;
    const done = (value: [Uint8Array, Uint8Array] | undefined) => {
      socket.off("data", onData);
      socket.off("close", onClose);
      socket.pause();
      resolve(value);
    };
    const onData = (chunk: Uint8Array) => {
      chunks.push(chunk);
      received += chunk.length;
      if (received >= length) {
        const all = Buffer.concat(chunks);
        done([new Uint8Array(all.subarray(0, length)), new Uint8Array(all.subarray(length))]);
      }
    };
    const onClose = () => done(undefined);
    socket.on("data", onData);
    socket.once("close", onClose);
    socket.resume();
  });
}

/** The request's headers as they came (repeats kept), or undefined when one is malformed. */
function headersOf(req: IncomingMessage): Headers | undefined {
  const headers = new Headers();
  try {
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
      headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
    }
  } catch {
    return undefined;
  }
  return headers;
}

/** Set by the app on an answer streamed for as long as the client reads (never sent). */
export const STREAM_HEADER = "x-agent-stream";

function jsonError(status: number, message: string, close = false): Response {
  return new Response(JSON.stringify({ error: message }), {
    status,
    headers: { "content-type": "application/json", ...(close ? { connection: "close" } : {}) },
  });
}

/** The node request as a web Request, its body read whole up to the limit; a Response when it is refused. */
async function webRequestOf(
  req: IncomingMessage,
  base: string,
  maxBodyBytes: number,
): Promise<Request | Response> {
  const target = req.url ?? "";
  // Only origin-form targets ("/path?query"): an absolute URL or "*" names no path of ours.
  if (!target.startsWith("/")) return jsonError(400, "the request target must be a path", true);
  const headers = headersOf(req);
  if (headers === undefined) return jsonError(400, "malformed request header", true);
  const declared = Number(req.headers["content-length"] ?? "0");
  if (Number.isFinite(declared) && declared > maxBodyBytes) {
    return jsonError(413, `request body larger than ${maxBodyBytes} bytes`, true);
  }
  let body: Uint8Array;
  try {
    body = await readBody(req, maxBodyBytes);
  } catch (err) {
    if (err instanceof BodyTooLarge) {
      return jsonError(413, `request body larger than ${maxBodyBytes} bytes`, true);
    }
    throw err;
  }
  const method = req.method ?? "GET";
  const bodyless = method === "GET" || method === "HEAD";
  return new Request(`${base}${target}`, {
    method,
    headers,
    ...(bodyless || body.length === 0 ? {} : { body: body as Uint8Array<ArrayBuffer> }),
  });
}

async function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Uint8Array>) {
    total += chunk.length;
    if (total > limit) throw new BodyTooLarge();
    chunks.push(chunk);
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/** `socket` is the request's connection (Bun clears req.socket early, so the caller keeps it). */
async function writeResponse(
  req: IncomingMessage,
  res: ServerResponse,
  socket: Socket,
  response: Response,
  unlimit?: () => void,
  alwaysStreamed = false,
): Promise<void> {
  const close = response.headers.get("connection")?.toLowerCase() === "close";
  const streamed = alwaysStreamed || response.headers.has(STREAM_HEADER);
  res.statusCode = response.status;
  response.headers.forEach((value, name) => {
    if (name !== "connection" && name !== STREAM_HEADER) res.setHeader(name, value);
  });
  if (streamed) {
    unlimit?.();
    res.flushHeaders();
  }
  if (close) {
    res.setHeader("connection", "close");
    res.once("finish", () => socket.destroy());
  }
  try {
    if (response.body === null || req.method === "HEAD") {
      await response.body?.cancel();
      res.end();
    } else {
      const reader = response.body.getReader();
      // A client that goes away ends the stream now, not at its next chunk.
      res.once("close", () => void reader.cancel().catch(() => undefined));
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (res.destroyed) {
          await reader.cancel();
          return;
        }
        if (!res.write(value)) await drained(res);
      }
      res.end();
    }
  } catch {
    socket.destroy();
  }
}

/**
 * A Response written straight on a socket node:http has let go of (an upgrade request that does not become a
 * websocket), with `connection: close`; the socket is then ended, and read (what comes is dropped) so the
 * client's own close is seen at once (the request timer cuts one that never closes its side).
 */
async function writeRaw(
  socket: Socket,
  response: Response,
  extra: Record<string, string> = {},
): Promise<void> {
  let body: Uint8Array;
  try {
    body = new Uint8Array(await response.arrayBuffer());
  } catch {
    socket.destroy();
    return;
  }
  if (socket.destroyed) return;
  const lines = [`HTTP/1.1 ${response.status} ${STATUS_CODES[response.status] ?? "Unknown"}`];
  const headers = new Headers(response.headers);
  for (const [name, value] of Object.entries(extra)) headers.set(name, value);
  headers.forEach((value, name) => {
    if (!["connection", "content-length", "transfer-encoding", ACCEPT_HEADER].includes(name)) {
      lines.push(`${name}: ${value}`);
    }
  });
  lines.push(`content-length: ${body.length}`, "connection: close");
  socket.write(`${lines.join("\r\n")}\r\n\r\n`);
  socket.end(body);
  socket.resume();
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.once("drain", done);
    res.once("close", done);
  });
}
