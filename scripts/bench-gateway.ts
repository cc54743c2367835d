/**
 * Gateway mode (`agent serve --listen ADDR:PORT --gateway`: the agent's TLS port also serves the Docker
 * Engine API, authenticates the client, decides with the policy and forwards to dockerd's unix socket)
 * beside its baselines, in the same run, on the same private dockerd:
 *  A. dockerd's own TLS port (`-H tcp://127.0.0.1:PORT --tlsverify`), the baseline every ratio is against;
 *  B. docker-socket-proxy's approach: HAProxy (http mode, allow-all, keep-alive, http-reuse always) with a
 *     TLS frontend that verifies the client certificate, in front of dockerd's unix socket;
 *  C. the gateway, the client authenticated by its certificate (and, for the calls, a second series with an
 *     API key over Basic auth instead).
 *  D. the floor of the gateway's stack: a bare proxy on the same runtime layers (node:tls handing each
 *     connection to a node:http server, as src/runtime/https-listener.ts does; every request forwarded with
 *     node:http's client to dockerd's unix socket, as src/runtime/unix-forward.ts does; nothing checked), for
 *     the calls only: what the gateway costs beyond it is the agent's own work.
 * Every leg serves the same ECDSA P-256 server certificate issued by the agent's CA and (but C with the API
 * key) verifies the same client certificate. dockerd is guarded by the agent's plugin in every leg, so every
 * leg pays the same AuthZReq and AuthZRes calls inside dockerd.
 *  1. Added latency per Engine API call: `GET /v1.41/containers/json` and `GET /_ping`, sequential, one
 *     kept-alive TLS connection per leg, one minimal HTTP/1.1 client for every leg (so no client pool can
 *     open connections behind the figures; each leg's connection count is printed), taking turns
 *     (A, B, C, C', A, ...) after a warm-up: p50, p95, p99, mean, req/s and the ratios against A.
 *  2. Throughput of a 1 GiB stream each way with the real docker CLI: `docker cp FILE ctr:/` (PUT archive)
 *     and `docker cp ctr:/FILE -` (GET archive, the tar stream to /dev/null), taking turns, MB/s and the
 *     ratio against A, and the proxy's peak RSS during its transfers (VmHWM reset through clear_refs, and
 *     VmRSS sampled) to show bounded memory.
 *  3. CPU time per call, steadier than latency on a small VM: each leg alone for REQUESTS calls of each path,
 *     the CPU of the agent, HAProxy and the bare proxy (every thread, /proc/PID/stat) read around the series.
 *     The agent is dockerd's plugin in every leg, so the gateway's own work is its CPU per call in C less
 *     its CPU per call in A.
 * Without `--gateway` in `agent serve --help` (or without haproxy) that leg is left out and said so.
 * BENCH_REQUESTS: measured calls per leg and path (default 500); BENCH_STREAM_MIB: stream size (default
 * 1024); BENCH_STREAM_ROUNDS: transfers per leg and direction (default 3; the median is printed);
 * BENCH_CPU_PROF_DIR: run the agent under `bun --cpu-prof` and write its profile there when it stops.
 * Needs root, dockerd, docker, busybox, openssl; haproxy for leg B.
 */
import { connect, type TLSSocket } from "node:tls";
import { closeSync, ftruncateSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  agentCli,
  e2eUnavailable,
  freePort,
  type GuardedHost,
  importTinyImage,
  run,
  spawnLogged,
  startGuardedHost,
  tempDir,
  waitFor,
} from "../tests/e2e/harness.ts";

function envInteger(name: string, fallback: number, min: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be a whole number >= ${min}`);
  return value;
}

const REQUESTS = envInteger("BENCH_REQUESTS", 500, 1);
const STREAM_BYTES = envInteger("BENCH_STREAM_MIB", 1024, 1) * 1024 * 1024;
const ROUNDS = envInteger("BENCH_STREAM_ROUNDS", 3, 1);
const CPU_PROF_DIR = process.env["BENCH_CPU_PROF_DIR"];
const WARMUP = 50;
/** A transfer slower than 8 MB/s is a stall, not a figure. */
const TRANSFER_TIMEOUT_MS = Math.max(30_000, STREAM_BYTES / 8e3);
const USER = "bench";
const CONTAINER = "bench-cp";
const HAPROXY = "/usr/sbin/haproxy";

// The anonymous rule covers the setup on dockerd's unix socket and what reaches dockerd through HAProxy's
// connection to it; the user's rule covers dockerd's TLS port and the gateway. anonymous (the unix socket)
// is a policy administrator, so HAProxy's calls pass the namespace gate for the container of the user's
// namespace, which the gateway shows the user only because it is labelled with that namespace.
const POLICY = `version: 1
administrators: [anonymous]
rules:
  - id: local
    who: anonymous
    allow: ["container:*", "image:*", "system:*"]
  - id: bench
    who: [${USER}]
    allow: ["container:*", "image:*", "system:*"]
`;

// ---------------------------------------------------------------- one kept-alive HTTP/1.1 client over TLS

interface Answer {
  readonly status: number;
  readonly body: Buffer;
}

interface TlsOptions {
  readonly ca: string;
  readonly cert?: string;
  readonly key?: string;
}

/**
 * Sends one request at a time over one TLS connection and reads the answer (Content-Length or chunked),
 * reconnecting only if the server closes it; `connections` counts the connections opened.
 */
class KeptAliveClient {
  connections = 0;
  private socket: TLSSocket | undefined;
  private buffer: Buffer = Buffer.alloc(0);
  private pending:
    | { head: boolean; resolve: (a: Answer) => void; reject: (e: Error) => void }
    | undefined;

  constructor(
    private readonly port: number,
    private readonly tls: TlsOptions,
    private readonly headers: Readonly<Record<string, string>> = {},
  ) {}

  private open(): Promise<TLSSocket> {
    return new Promise((resolve, reject) => {
      const socket = connect({
        host: "127.0.0.1",
        port: this.port,
        ca: this.tls.ca,
        cert: this.tls.cert,
        key: this.tls.key,
      });
      this.connections++;
      socket.setNoDelay(true);
      socket.once("secureConnect", () => resolve(socket));
      socket.on("data", (chunk: Buffer) => {
        this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
        this.parse();
      });
      const gone = (err?: Error) => {
        if (this.socket === socket) this.socket = undefined;
        this.buffer = Buffer.alloc(0);
        const pending = this.pending;
        this.pending = undefined;
        const error = err ?? new Error(`the connection to 127.0.0.1:${this.port} closed`);
        pending?.reject(error);
        reject(error);
      };
      socket.once("error", gone);
      socket.once("close", () => gone());
    });
  }

  private parse(): void {
    const pending = this.pending;
    if (!pending) return;
    const buf = this.buffer;
    const headEnd = buf.indexOf("\r\n\r\n");
    if (headEnd < 0) return;
    const lines = buf.subarray(0, headEnd).toString("latin1").split("\r\n");
    const status = Number(lines[0]!.split(" ")[1]);
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    let pos = headEnd + 4;
    let body: Buffer;
    if (pending.head || status === 204 || status === 304 || (status >= 100 && status < 200)) {
      body = Buffer.alloc(0);
    } else if ((headers.get("transfer-encoding") ?? "").toLowerCase().includes("chunked")) {
      const parts: Buffer[] = [];
      for (;;) {
        const lineEnd = buf.indexOf("\r\n", pos);
        if (lineEnd < 0) return;
        const size = parseInt(buf.subarray(pos, lineEnd).toString("latin1").split(";")[0]!, 16);
        if (size === 0) {
          // No trailers: CRLF right away; else the trailers end with an empty line.
          if (buf.length < lineEnd + 4) return;
          if (buf.subarray(lineEnd + 2, lineEnd + 4).toString("latin1") === "\r\n") pos = lineEnd + 4;
          else {
            const end = buf.indexOf("\r\n\r\n", lineEnd + 2);
            if (end < 0) return;
            pos = end + 4;
          }
          break;
        }
        if (buf.length < lineEnd + 2 + size + 2) return;
        parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
        pos = lineEnd + 2 + size + 2;
      }
      body = Buffer.concat(parts);
    } else if (headers.has("content-length")) {
      const length = Number(headers.get("content-length"));
      if (buf.length < pos + length) return;
      body = buf.subarray(pos, pos + length);
      pos += length;
    } else {
      pending.reject(
        new Error(`an answer (${status}) without Content-Length or chunking: cannot keep alive`),
      );
      this.pending = undefined;
      this.socket?.destroy();
      return;
    }
    this.buffer = buf.subarray(pos);
    this.pending = undefined;
    if ((headers.get("connection") ?? "").toLowerCase() === "close") this.socket?.end();
    pending.resolve({ status, body: Buffer.from(body) });
  }

  async request(method: string, path: string): Promise<Answer> {
    const socket = this.socket ??= await this.open();
    const extra = Object.entries(this.headers).map(([k, v]) => `${k}: ${v}\r\n`).join("");
    return await new Promise<Answer>((resolve, reject) => {
      this.pending = { head: method === "HEAD", resolve, reject };
      socket.write(`${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1:${this.port}\r\n${extra}\r\n`);
    });
  }

  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }
}

// ---------------------------------------------------------------- figures

interface Series {
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly mean: number;
  readonly rps: number;
  readonly bytes: number;
  readonly connections: number;
}

function seriesOf(latencies: number[], bytes: number, connections: number): Series {
  const sorted = [...latencies].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!;
  const total = latencies.reduce((a, b) => a + b, 0);
  return {
    p50: at(0.5),
    p95: at(0.95),
    p99: at(0.99),
    mean: total / latencies.length,
    rps: latencies.length / (total / 1000),
    bytes,
    connections,
  };
}

interface CallLeg {
  readonly name: string;
  readonly client: KeptAliveClient;
}

/** WARMUP calls of each leg, then REQUESTS of each, taking turns (a, b, c, a, b, c, ...). */
async function measureCalls(legs: readonly CallLeg[], path: string): Promise<Series[]> {
  const once = async (leg: CallLeg) => {
    const answer = await leg.client.request("GET", path);
    if (answer.status !== 200) {
      throw new Error(
        `${leg.name}: GET ${path} answered ${answer.status}: ${answer.body.toString("utf8").slice(0, 300)}`,
      );
    }
    return answer.body.length;
  };
  for (let i = 0; i < WARMUP; i++) for (const leg of legs) await once(leg);
  const before = legs.map((leg) => leg.client.connections);
  const times = legs.map((): number[] => []);
  const bytes = legs.map(() => 0);
  for (let i = 0; i < REQUESTS; i++) {
    for (const [n, leg] of legs.entries()) {
      const t0 = performance.now();
      bytes[n] = await once(leg);
      times[n]!.push(performance.now() - t0);
    }
  }
  return legs.map((leg, n) => seriesOf(times[n]!, bytes[n]!, leg.client.connections - before[n]! + 1));
}

/**
 * CPU time a process has used, every thread's, ended ones too (utime + stime of /proc/PID/stat, in clock ticks
 * of 10 ms: a series of a few hundred ms of CPU reads to within a few per cent; summing the live threads'
 * schedstat instead loses a thread that ends between the two readings, and went negative).
 */
function cpuNs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 1e7; // utime and stime: fields 14 and 15
}

interface CpuFigures {
  /** Per leg, per path: microseconds of CPU per call of each watched process. */
  readonly perCall: Map<string, Map<string, Record<string, number>>>;
}

/** Each leg alone, REQUESTS calls of each path, the watched processes' CPU read around each series. */
async function measureCpu(
  legs: readonly CallLeg[],
  paths: readonly string[],
  watched: Readonly<Record<string, number>>,
): Promise<CpuFigures> {
  const perCall = new Map<string, Map<string, Record<string, number>>>();
  for (const leg of legs) {
    const byPath = new Map<string, Record<string, number>>();
    for (const path of paths) {
      for (let i = 0; i < WARMUP; i++) await leg.client.request("GET", path);
      const before = Object.fromEntries(Object.entries(watched).map(([name, pid]) => [name, cpuNs(pid)]));
      for (let i = 0; i < REQUESTS; i++) await leg.client.request("GET", path);
      byPath.set(
        path,
        Object.fromEntries(
          Object.entries(watched).map((
            [name, pid],
          ) => [name, (cpuNs(pid) - before[name]!) / REQUESTS / 1000]),
        ),
      );
    }
    perCall.set(leg.name, byPath);
  }
  return { perCall };
}

function printCpu(legs: readonly CallLeg[], paths: readonly string[], cpu: CpuFigures): void {
  console.log(`\n### CPU per call (us; each leg alone, ${REQUESTS} calls of each path after ${WARMUP})`);
  console.log(`| | ${legs.map((l) => l.name).join(" | ")} |`);
  console.log(`|---|${legs.map(() => "---").join("|")}|`);
  const base = legs[0]!.name;
  for (const path of paths) {
    for (const name of ["agent", "haproxy", "bare proxy"]) {
      const cells = legs.map((leg) => {
        const value = cpu.perCall.get(leg.name)?.get(path)?.[name];
        if (value === undefined) return "-";
        const own = value - (cpu.perCall.get(base)?.get(path)?.[name] ?? 0);
        return leg.name === base || name !== "agent"
          ? fmt(value, 1)
          : `${fmt(value, 1)} (own ${fmt(own, 1)})`;
      });
      if (cells.some((c) => c !== "-")) console.log(`| ${path}: ${name} | ${cells.join(" | ")} |`);
    }
  }
  console.log(
    '(the agent is dockerd\'s plugin in every leg: "own" is its CPU per call beyond what it spends in A,' +
      " the gateway's own work)",
  );
}

const fmt = (n: number, digits = 3) => n.toFixed(digits);
const signed = (n: number) => (n < 0 ? "-" : "+") + fmt(Math.abs(n));
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function printCalls(title: string, legs: readonly CallLeg[], series: readonly Series[]): void {
  const base = series[0]!;
  console.log(`\n### ${title}`);
  console.log(`| | ${legs.map((l) => l.name).join(" | ")} |`);
  console.log(`|---|${legs.map(() => "---").join("|")}|`);
  for (const k of ["p50", "p95", "p99", "mean"] as const) {
    const cells = series.map((s, n) =>
      n === 0
        ? `${fmt(s[k])} ms`
        : `${fmt(s[k])} ms (x${fmt(s[k] / base[k], 2)}, ${signed(s[k] - base[k])} ms)`
    );
    console.log(`| ${k} | ${cells.join(" | ")} |`);
  }
  console.log(
    `| throughput | ${
      series.map((s, n) => `${Math.round(s.rps)} req/s` + (n === 0 ? "" : ` (x${fmt(s.rps / base.rps, 2)})`))
        .join(" | ")
    } |`,
  );
  console.log(`| answer | ${series.map((s) => `${s.bytes} bytes`).join(" | ")} |`);
  console.log(`| TLS connections | ${series.map((s) => `${s.connections}`).join(" | ")} |`);
}

// ---------------------------------------------------------------- memory of a process

function statusKb(pid: number, field: "VmRSS" | "VmHWM"): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
  return match ? Number(match[1]) : 0;
}

/** Resets the process's peak RSS (clear_refs 5) and samples VmRSS every 20 ms until `stop`. */
function watchMemory(pid: number): { stop(): { beforeKb: number; peakKb: number } } {
  const beforeKb = statusKb(pid, "VmRSS");
  let resetWorked = true;
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
  } catch {
    resetWorked = false;
  }
  let sampledKb = beforeKb;
  const timer = setInterval(() => {
    sampledKb = Math.max(sampledKb, statusKb(pid, "VmRSS"));
  }, 20);
  return {
    stop() {
      clearInterval(timer);
      const hwm = resetWorked ? statusKb(pid, "VmHWM") : 0;
      return { beforeKb, peakKb: Math.max(sampledKb, hwm, statusKb(pid, "VmRSS")) };
    },
  };
}

// ---------------------------------------------------------------- streams through the docker CLI

interface StreamLeg {
  readonly name: string;
  readonly port: number;
  /** The proxy's pid, whose memory is watched during the transfer (none for dockerd's own port). */
  readonly proxyPid?: number;
}

interface Direction {
  /** Median MB/s (10^6 bytes per second) of the transfers. */
  readonly mbs: number;
  /** The proxy's RSS (MiB) before the first transfer and its peak during them. */
  readonly beforeMiB?: number;
  readonly peakMiB?: number;
}

interface StreamFigures {
  readonly put: Direction;
  readonly get: Direction;
}

async function measureStreams(
  legs: readonly StreamLeg[],
  bigFile: string,
  certPath: string,
  configDir: string,
): Promise<StreamFigures[]> {
  const transfer = async (leg: StreamLeg, args: string[]) => {
    const watch = leg.proxyPid === undefined ? undefined : watchMemory(leg.proxyPid);
    const t0 = performance.now();
    const proc = Bun.spawn(["docker", ...args], {
      env: {
        ...process.env,
        DOCKER_HOST: `tcp://127.0.0.1:${leg.port}`,
        DOCKER_TLS_VERIFY: "1",
        DOCKER_CERT_PATH: certPath,
        DOCKER_CONFIG: configDir,
      },
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      proc.kill("SIGKILL");
    }, TRANSFER_TIMEOUT_MS);
    const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
    clearTimeout(timer);
    const seconds = (performance.now() - t0) / 1000;
    const memory = watch?.stop();
    if (timedOut) {
      throw new Error(
        `${leg.name}: docker ${args.join(" ")} did not finish in ${TRANSFER_TIMEOUT_MS / 1000} s`,
      );
    }
    if (code !== 0) throw new Error(`${leg.name}: docker ${args.join(" ")} exited ${code}: ${stderr}`);
    return { mbs: STREAM_BYTES / 1e6 / seconds, memory };
  };
  // Warm-up: one small call per leg (the CLI's /_ping and version negotiation).
  for (const leg of legs) {
    const r = await run(["docker", "version", "--format", "{{.Server.Version}}"], {
      env: {
        DOCKER_HOST: `tcp://127.0.0.1:${leg.port}`,
        DOCKER_TLS_VERIFY: "1",
        DOCKER_CERT_PATH: certPath,
        DOCKER_CONFIG: configDir,
      },
    });
    if (r.code !== 0) throw new Error(`${leg.name}: docker version failed: ${r.stderr}`);
  }
  const direction = async (args: string[]): Promise<Direction[]> => {
    const speeds = legs.map((): number[] => []);
    const peaks = legs.map(() => 0);
    const befores = legs.map((): number | undefined => undefined);
    for (let round = 0; round < ROUNDS; round++) {
      for (const [n, leg] of legs.entries()) {
        const r = await transfer(leg, args);
        speeds[n]!.push(r.mbs);
        if (r.memory) {
          peaks[n] = Math.max(peaks[n]!, r.memory.peakKb);
          befores[n] ??= r.memory.beforeKb;
        }
      }
    }
    return legs.map((leg, n) => ({
      mbs: median(speeds[n]!),
      beforeMiB: befores[n] === undefined ? undefined : befores[n]! / 1024,
      peakMiB: leg.proxyPid === undefined ? undefined : peaks[n]! / 1024,
    }));
  };
  const put = await direction(["cp", bigFile, `${CONTAINER}:/big`]);
  const get = await direction(["cp", `${CONTAINER}:/big`, "-"]);
  return legs.map((_, n) => ({ put: put[n]!, get: get[n]! }));
}

function printStreams(legs: readonly StreamLeg[], figures: readonly StreamFigures[]): void {
  const base = figures[0]!;
  const mib = STREAM_BYTES / 1024 / 1024;
  console.log(
    `\n### ${mib} MiB through the docker CLI, median of ${ROUNDS} transfers per leg and direction, taking turns`,
  );
  console.log(`| | ${legs.map((l) => l.name).join(" | ")} |`);
  console.log(`|---|${legs.map(() => "---").join("|")}|`);
  const rows = [
    ["docker cp FILE ctr:/ (PUT archive)", "put"],
    ["docker cp ctr:/FILE - (GET archive)", "get"],
  ] as const;
  for (const [label, k] of rows) {
    const cells = figures.map((f, n) =>
      n === 0 ? `${fmt(f[k].mbs, 0)} MB/s` : `${fmt(f[k].mbs, 0)} MB/s (x${fmt(f[k].mbs / base[k].mbs, 2)})`
    );
    console.log(`| ${label} | ${cells.join(" | ")} |`);
  }
  const mem = (d: Direction) =>
    d.peakMiB === undefined ? "-" : `${fmt(d.beforeMiB ?? 0, 0)} -> ${fmt(d.peakMiB, 0)} MiB`;
  for (const [, k] of rows) {
    console.log(
      `| proxy RSS, before -> peak, ${k.toUpperCase()} | ${figures.map((f) => mem(f[k])).join(" | ")} |`,
    );
  }
}

// ---------------------------------------------------------------- HAProxy

/** Leg D's program: TLS and HTTP/1.1 as the agent's listener runs them, relaying to dockerd, checking nothing. */
const BARE_PROXY = `
import { readFileSync } from "node:fs";
import { Agent, createServer, request } from "node:http";
import { createServer as createTls } from "node:tls";
const [port, cert, key, ca, socketPath] = process.argv.slice(2);
const agent = new Agent({ keepAlive: true, maxFreeSockets: 64 });
const http = createServer((req, res) => {
  const headers = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) headers.push(req.rawHeaders[i], req.rawHeaders[i + 1]);
  const out = request({ socketPath, method: req.method, path: req.url, agent, headers, setHost: false }, (answer) => {
    const back = [];
    for (let i = 0; i + 1 < answer.rawHeaders.length; i += 2) back.push(answer.rawHeaders[i], answer.rawHeaders[i + 1]);
    res.writeHead(answer.statusCode ?? 502, back);
    answer.pipe(res);
  });
  out.on("error", () => res.destroy());
  req.pipe(out);
});
createTls({
  cert: readFileSync(cert), key: readFileSync(key), ca: readFileSync(ca), requestCert: true, rejectUnauthorized: false,
}, (socket) => http.emit("connection", socket)).listen(Number(port), "127.0.0.1");
`;

function startBareProxy(
  dir: string,
  port: number,
  files: { readonly cert: string; readonly key: string; readonly ca: string },
  dockerSocket: string,
) {
  const script = join(dir, "bare-proxy.mjs");
  writeFileSync(script, BARE_PROXY);
  const logFile = join(dir, "bare-proxy.log");
  return {
    proc: spawnLogged(
      [process.execPath, script, String(port), files.cert, files.key, files.ca, dockerSocket],
      logFile,
    ),
    logFile,
  };
}

/**
 * Waits until the proxy `proc` answers `client`'s GET /_ping with 200 (its log in the error if it exits or
 * never does), then closes that connection and forgets it, so a leg's connection count starts at 0.
 */
async function untilPinged(what: string, client: KeptAliveClient, proc: Bun.Subprocess, logFile: string) {
  await waitFor(what, async () => {
    if (proc.exitCode !== null) throw new Error(`${what} exited ${proc.exitCode}`);
    try {
      return (await client.request("GET", "/_ping")).status === 200;
    } catch (err) {
      client.close();
      throw err;
    }
  }, 20_000).catch((err) => {
    throw new Error(`${(err as Error).message}\n${readFileSync(logFile, "utf8")}`);
  });
  client.close();
  client.connections = 0;
}

function haproxyConfig(port: number, pem: string, ca: string, dockerSocket: string): string {
  // docker-socket-proxy's shape (http mode, the unix socket as the only server) without its ACLs, with
  // keep-alive on both sides (docker-socket-proxy itself sets option http-server-close) and a TLS
  // frontend that verifies the client certificate, as dockerd's --tlsverify and the gateway do.
  // tune.bufsize 65536 (default 16384): Debian 12's HAProxy 2.6.12 stalls a chunked upload (the docker CLI's
  // PUT archive sends 32 KiB chunks) now and then with its input buffer full in MSG_CHUNK_CRLF, the H1
  // deadlock of haproxy/haproxy#2262 (fixed upstream after 2.6.12); with buffers bigger than the chunks it
  // does not.
  return `global
    maxconn 4000
    tune.bufsize 65536
defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 10s
    timeout client 10m
    timeout server 10m
    timeout http-keep-alive 10m
    timeout tunnel 1h
frontend docker
    bind 127.0.0.1:${port} ssl crt ${pem} ca-file ${ca} verify required
    default_backend dockerd
backend dockerd
    server dockerd ${dockerSocket}
`;
}

// ---------------------------------------------------------------- the run

async function gatewaySupported(): Promise<boolean> {
  const help = await agentCli(["serve", "--help"]);
  return help.stdout.includes("--gateway") || help.stderr.includes("--gateway");
}

async function cli(args: string[]): Promise<string> {
  const r = await agentCli(args);
  if (r.code !== 0) throw new Error(`agent ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

async function bench(dir: string, cleanups: (() => Promise<void>)[]): Promise<void> {
  const state = join(dir, "state");
  const certs = join(dir, "certs");
  const withGateway = await gatewaySupported();
  const withHaproxy = Bun.which(HAPROXY) !== null;

  await cli(["ca", "init", "--name", "bench-gateway", "--state-dir", state]);
  await cli(["ca", "create-server-certificate", "localhost", "--out", certs, "--state-dir", state]);
  const certPath = join(certs, USER);
  await cli([
    "ca",
    "create-api-certificate",
    USER,
    "--docker-layout",
    "--out",
    certPath,
    "--state-dir",
    state,
  ]);
  const apiKey = (await cli(["apikey", "create", USER, "--state-dir", state])).trim().split("\n").pop()!;
  const caFile = join(state, "ca", "cluster.crt");
  const serverCert = join(certs, "localhost.crt");
  const serverKey = join(certs, "localhost.key");
  writeFileSync(join(dir, "policy.yaml"), POLICY);

  const dockerSocket = join(dir, "dockerd", "docker.sock");
  const gatewayPort = freePort();
  const host: GuardedHost = await startGuardedHost({
    dir,
    plugin: `agent-bench-gateway-${process.pid}`,
    agent: {
      stateDir: state,
      policyFile: join(dir, "policy.yaml"),
      ...(CPU_PROF_DIR === undefined ? {} : {
        command: [
          process.execPath,
          "--cpu-prof",
          `--cpu-prof-dir=${CPU_PROF_DIR}`,
          join(import.meta.dir, "..", "src", "main.ts"),
        ],
      }),
      args: withGateway
        ? [
          "--listen",
          `127.0.0.1:${gatewayPort}`,
          "--gateway",
          "--docker-socket",
          dockerSocket,
          "--tls-cert",
          serverCert,
          "--tls-key",
          serverKey,
        ]
        : ["--docker-socket", dockerSocket],
    },
    tls: { ca: caFile, cert: serverCert, key: serverKey },
  });
  cleanups.push(() => host.stop());
  const dockerd = host.dockerd;

  await importTinyImage(dockerd, dir);
  const started = await dockerd.docker([
    "run",
    "-d",
    "--name",
    CONTAINER,
    "--network",
    "none",
    "--label",
    `io.agent.namespace=${USER}`,
    "tiny:latest",
    "sleep",
    "1000000",
  ]);
  if (started.code !== 0) throw new Error(`docker run failed: ${started.stderr}`);

  const tls: TlsOptions = {
    ca: readFileSync(caFile, "utf8"),
    cert: readFileSync(join(certPath, "cert.pem"), "utf8"),
    key: readFileSync(join(certPath, "key.pem"), "utf8"),
  };
  let haproxyPort: number | undefined;
  let haproxyPid: number | undefined;
  if (withHaproxy) {
    haproxyPort = freePort();
    const pem = join(dir, "haproxy.pem");
    writeFileSync(pem, readFileSync(serverCert, "utf8") + readFileSync(serverKey, "utf8"), { mode: 0o600 });
    const cfg = join(dir, "haproxy.cfg");
    writeFileSync(cfg, haproxyConfig(haproxyPort, pem, caFile, dockerSocket));
    const logFile = join(dir, "haproxy.log");
    const proc = spawnLogged([HAPROXY, "-db", "-f", cfg], logFile);
    haproxyPid = proc.pid;
    cleanups.push(async () => {
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 5_000);
      await proc.exited;
      clearTimeout(timer);
    });
    await untilPinged("haproxy", new KeptAliveClient(haproxyPort, tls), proc, logFile);
  }

  const callLegs: CallLeg[] = [{ name: "A dockerd TLS", client: new KeptAliveClient(dockerd.tcpPort!, tls) }];
  const streamLegs: StreamLeg[] = [{ name: "A dockerd TLS", port: dockerd.tcpPort! }];
  if (haproxyPort !== undefined) {
    callLegs.push({ name: "B HAProxy", client: new KeptAliveClient(haproxyPort, tls) });
    streamLegs.push({ name: "B HAProxy", port: haproxyPort, proxyPid: haproxyPid });
  }
  const barePort = freePort();
  const bare = startBareProxy(
    dir,
    barePort,
    { cert: serverCert, key: serverKey, ca: caFile },
    dockerSocket,
  );
  cleanups.push(async () => {
    bare.proc.kill("SIGKILL");
    await bare.proc.exited;
  });
  const bareClient = new KeptAliveClient(barePort, tls);
  await untilPinged("the bare proxy", bareClient, bare.proc, bare.logFile);
  if (withGateway) {
    const keyed = new KeptAliveClient(gatewayPort, { ca: tls.ca }, {
      authorization: `Basic ${btoa(`${USER}:${apiKey}`)}`,
    });
    await waitFor("the gateway", async () => (await keyed.request("GET", "/_ping")).status === 200, 20_000)
      .catch((err) => {
        throw new Error(`${(err as Error).message}\n${host.agent.log().slice(-3000)}`);
      });
    keyed.close();
    keyed.connections = 0;
    callLegs.push({ name: "C gateway (cert)", client: new KeptAliveClient(gatewayPort, tls) });
    callLegs.push({ name: "C' gateway (API key)", client: keyed });
    streamLegs.push({ name: "C gateway (cert)", port: gatewayPort, proxyPid: host.agent.pid });
  }
  callLegs.push({ name: "D bare proxy", client: bareClient });

  const list = await measureCalls(callLegs, "/v1.41/containers/json");
  const ping = await measureCalls(callLegs, "/_ping");
  const cpuPaths = ["/v1.41/containers/json", "/_ping"];
  const cpu = await measureCpu(callLegs, cpuPaths, {
    agent: host.agent.pid,
    ...(haproxyPid === undefined ? {} : { haproxy: haproxyPid }),
    "bare proxy": bare.proc.pid,
  });
  for (const leg of callLegs) leg.client.close();

  // The file: sparse, so the CLI reads zeros without touching the disk; dockerd writes it into the
  // container (vfs) on every PUT and reads it back on every GET.
  const bigFile = join(dir, "big");
  const fd = openSync(bigFile, "w");
  ftruncateSync(fd, STREAM_BYTES);
  closeSync(fd);
  const streams = await measureStreams(streamLegs, bigFile, certPath, join(dir, "docker-config"));
  rmSync(bigFile, { force: true });

  const stat = await fetch(`http://docker/containers/${CONTAINER}/archive?path=/big`, {
    method: "HEAD",
    unix: dockerd.socket,
  } as RequestInit);
  const copied = JSON.parse(atob(stat.headers.get("x-docker-container-path-stat") ?? "e30=")) as {
    size?: number;
  };
  if (copied.size !== STREAM_BYTES) throw new Error(`the container's /big has ${copied.size} bytes`);

  const version = (await dockerd.docker(["version", "--format", "{{.Server.Version}}"])).stdout.trim();
  const cliVersion = (await run(["docker", "--version"])).stdout.trim();
  const haproxyVersion = withHaproxy
    ? (await run([HAPROXY, "-v"])).stdout.split("\n")[0]!.replace(/ - https?:.*$/, "")
    : "";
  console.log(
    `\n## Gateway mode beside dockerd's own TLS port and HAProxy (${new Date().toISOString().slice(0, 10)})`,
  );
  console.log(
    `Same private dockerd ${version}, guarded by the agent's authorization plugin in every leg (every leg pays` +
      " the same AuthZReq and AuthZRes calls inside dockerd). Every leg serves the same ECDSA P-256 server" +
      " certificate from the agent's CA and verifies the client's certificate (but C', an API key over Basic" +
      " auth instead).",
  );
  console.log(
    "A: dockerd -H tcp://127.0.0.1:PORT --tlsverify. B: " +
      (withHaproxy
        ? `${haproxyVersion}, http mode, allow-all, keep-alive, http-reuse always, tune.bufsize 65536,` +
          " -> dockerd's unix socket (docker-socket-proxy's approach, without its ACLs)."
        : "HAProxy is not installed: left out.") +
      " C: agent serve --listen --gateway (run from source with Bun) -> dockerd's unix socket; the user is" +
      " no policy administrator, so the gateway applies namespaces (the container is labelled with the" +
      " user's namespace; lists are read whole and filtered)" +
      (withGateway ? "." : ": not measured, this agent has no --gateway.") +
      " D: a bare proxy on the gateway's runtime layers (node:tls handing connections to a node:http server," +
      " each request relayed with node:http's client to dockerd's unix socket), checking nothing; calls only.",
  );
  console.log(
    `Calls: ${REQUESTS} sequential requests per leg after ${WARMUP}, taking turns, one kept-alive TLS` +
      " connection per leg, the same minimal HTTP/1.1 client; ratios and differences against A." +
      ` Streams: ${cliVersion}, DOCKER_HOST=tcp://127.0.0.1:PORT, DOCKER_TLS_VERIFY=1, the user's` +
      " DOCKER_CERT_PATH; the proxy's RSS (VmHWM reset before each transfer, VmRSS sampled every 20 ms).",
  );
  printCalls(`GET /v1.41/containers/json (1 running container)`, callLegs, list);
  printCalls("GET /_ping", callLegs, ping);
  printCpu(callLegs, cpuPaths, cpu);
  printStreams(streamLegs, streams);
}

const why = e2eUnavailable();
if (why) {
  console.log(`\n(skipping the gateway figures: ${why})`);
} else {
  const dir = tempDir("bench-gateway");
  const cleanups: (() => Promise<void>)[] = [];
  let stopping: Promise<void> | undefined;
  const cleanup = () =>
    stopping ??= (async () => {
      for (const undo of cleanups.splice(0).reverse()) await undo().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    })();
  const onSignal = (signal: NodeJS.Signals) => {
    void cleanup().finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    await bench(dir, cleanups);
  } finally {
    await cleanup();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
