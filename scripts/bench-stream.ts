/**
 * The Stream API beside dockerd's own streams, in the same run, on the same private dockerd guarded by the
 * agent (`agent serve --listen`, TLS, an API key over Basic auth):
 *  1. event delivery: N subscribers on `/api/audit/v1/events/?type=container` (websockets spread over the
 *     loopback addresses 127.0.0.2, 127.0.0.3, ..., at most 16 per address, the listener's limit), and one
 *     reference client on dockerd's own `GET /events` on its unix socket. A service container is stopped and
 *     started through the REST API (`POST container/ID/stop/`, `start/`); for each of its events, the time
 *     from the reference client receiving dockerd's event to each subscriber receiving the agent's: the
 *     agent's added delivery latency (its /events read, translation, event log, fan-out, TLS, websocket);
 *  2. memory: the agent's VmRSS before and after opening N idle subscribers, per subscriber;
 *  3. logs: a container that wrote LOG_LINES lines, read whole (no follow) as `GET /containers/ID/logs` on
 *     dockerd's unix socket (the query the agent asks: stdout, stderr, timestamps, tail=all; demultiplexed,
 *     lines counted) against the websocket `container/ID/logs/?tail=all`, taking turns.
 * Subscribers and the reference client live in this one process and are timed on the same clock
 * (performance.now() as each message is read, parsing later); at large N the last subscriber's time includes
 * this process reading the others' messages before it.
 * BENCH_CYCLES sets the stop+start cycles per N (default 20; each gives 3 container events), BENCH_LOG_LINES
 * the log's lines (default 200000). Needs root, dockerd, docker, busybox.
 */
import "reflect-metadata"; // the stream code reaches @peculiar/x509, which needs it first
import { onApiHost } from "./bench-host.ts";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { WebSocketPeer } from "../src/ports.ts";
import { bunPlatform } from "../src/runtime/bun-platform.ts";
import { API_LIMITS } from "../src/api/limits.ts";
import { e2eUnavailable, type GuardedHost, waitFor } from "../tests/e2e/harness.ts";
import { containerStateAfter } from "../src/stream/index.ts";

const CYCLES = Number(process.env["BENCH_CYCLES"] ?? 20);
const LOG_LINES = Number(process.env["BENCH_LOG_LINES"] ?? 200_000);
for (const [name, value] of [["BENCH_CYCLES", CYCLES], ["BENCH_LOG_LINES", LOG_LINES]] as const) {
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a whole number >= 1`);
}
const WARMUP_CYCLES = 2;
const LOG_RUNS = 3;
const USER = "bench";
const PER_ADDRESS = API_LIMITS.maxWebSocketsPerAddress;
/** 1, 100 and the larger of 1000 and 700 that the listener's websockets in all (768) leave room for. */
const COUNTS = [
  1,
  100,
  [1000, 700].find((n) => n < API_LIMITS.maxWebSockets) ?? API_LIMITS.maxWebSockets - 1,
];
const CONNECT_BATCH = 32;
const DELIVERY_TIMEOUT_MS = 20_000;

const POLICY = `version: 1
rules:
  - id: local            # the reference and baseline calls and the image import, on dockerd's unix socket
    who: anonymous
    allow: [system:events, container:logs, container:inspect, container:list, "image:*"]
  - id: bench
    who: [${USER}]
    allow: ["container:*", system:events]
`;

// ---------------------------------------------------------------- figures

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const fmt = (n: number, digits = 3) => n.toFixed(digits);
const thousands = (n: number) => Math.round(n).toLocaleString("en-US");

function rssKiB(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!match?.[1]) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]);
}

// ---------------------------------------------------------------- dockerd's own events (the reference)

async function* chunks(body: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = body.getReader();
  try {
    for (let next = await reader.read(); !next.done; next = await reader.read()) yield next.value;
  } finally {
    reader.releaseLock();
  }
}

interface Change {
  readonly id: string;
  readonly state: string;
  /** When the reference client read dockerd's event (performance.now()). */
  readonly at: number;
}

/**
 * A client of dockerd's `GET /events` (containers) on its unix socket. It keeps each container's changes of
 * state as the agent tells them (one event per change: dockerd tells a stop as kill, die and stop).
 */
class Reference {
  readonly changes: Change[] = [];
  readonly #last = new Map<string, string>();
  readonly #abort = new AbortController();
  #reading: Promise<void> | undefined;

  async start(socket: string): Promise<void> {
    const filters = encodeURIComponent(JSON.stringify({ type: ["container"] }));
    const res = await fetch(`http://docker/events?filters=${filters}`, {
      unix: socket,
      signal: this.#abort.signal,
    } as RequestInit);
    if (res.status !== 200 || res.body === null) {
      throw new Error(`dockerd's GET /events answered ${res.status}: ${await res.text()}`);
    }
    const body = res.body;
    this.#reading = (async () => {
      const decoder = new TextDecoder();
      let pending = "";
      try {
        for await (const chunk of chunks(body)) {
          const at = performance.now();
          pending += decoder.decode(chunk, { stream: true });
          let nl: number;
          while ((nl = pending.indexOf("\n")) >= 0) {
            const line = pending.slice(0, nl);
            pending = pending.slice(nl + 1);
            if (line.trim() !== "") this.#line(line, at);
          }
        }
      } catch (err) {
        if (!this.#abort.signal.aborted) throw err;
      }
    })();
  }

  #line(line: string, at: number): void {
    const e = JSON.parse(line) as {
      Type?: string;
      Action?: string;
      Actor?: { ID?: string; Attributes?: Record<string, string> };
    };
    const id = e.Actor?.ID;
    if (e.Type !== "container" || id === undefined || e.Action === undefined) return;
    const state = containerStateAfter({
      action: e.Action,
      attributes: e.Actor?.Attributes?.["signal"] === undefined
        ? {}
        : { signal: e.Actor.Attributes["signal"] },
    });
    if (state === undefined || this.#last.get(id) === state) return;
    this.#last.set(id, state);
    this.changes.push({ id, state, at });
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#reading?.catch(() => undefined);
  }
}

// ---------------------------------------------------------------- subscribers

interface Received {
  readonly at: number;
  readonly text: string;
}

/** One events websocket: the auth message, then each event with the time it was read. */
interface Subscriber {
  readonly peer: WebSocketPeer;
  readonly events: Received[];
  readonly closed: Promise<void>;
}

/** Resolves once every subscriber of a round holds `target` events. */
class Round {
  target = 0;
  #reached = 0;
  #subscribers: Subscriber[] = [];
  #resolve: (() => void) | undefined;

  track(subscribers: Subscriber[]): void {
    this.#subscribers = subscribers;
    this.target = 0;
  }

  /** Called as a subscriber's event count grows to `count`. */
  grew(count: number): void {
    if (count === this.target && ++this.#reached === this.#subscribers.length) this.#resolve?.();
  }

  async until(target: number, what: string): Promise<void> {
    this.target = target;
    this.#reached = this.#subscribers.filter((s) => s.events.length >= target).length;
    if (this.#reached === this.#subscribers.length) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        this.#resolve = resolve;
        timer = setTimeout(() => {
          const behind = this.#subscribers.filter((s) => s.events.length < target).length;
          reject(new Error(`${behind} of ${this.#subscribers.length} subscribers missed ${what}`));
        }, DELIVERY_TIMEOUT_MS);
      });
    } finally {
      clearTimeout(timer);
      this.#resolve = undefined;
    }
  }
}

function loopbackAddress(i: number): string {
  const n = 2 + Math.floor(i / PER_ADDRESS);
  if (n > 254) throw new Error("more subscribers than 127.0.0.2-127.0.0.254 can carry");
  return `127.0.0.${n}`;
}

async function connect(
  url: string,
  init: { headers: Record<string, string>; caPem: string; localAddress: string },
  session: (
    peer: WebSocketPeer,
  ) => { onText(text: string): void; onClose(code: number, reason: string): void },
): Promise<WebSocketPeer> {
  // An address's previous websockets may take a moment to leave the listener's count (429, 503).
  for (let attempt = 0;; attempt++) {
    try {
      return await bunPlatform.websocketConnect(url, init, session);
    } catch (err) {
      const message = (err as Error).message;
      if (attempt >= 50 || !/answered (429|503)/.test(message)) throw err;
      await Bun.sleep(100);
    }
  }
}

async function subscribe(
  url: string,
  authorization: string,
  ca: string,
  index: number,
  round: Round,
): Promise<Subscriber> {
  const events: Received[] = [];
  let authed!: () => void;
  let failed!: (err: Error) => void;
  const auth = new Promise<void>((resolve, reject) => {
    authed = resolve;
    failed = reject;
  });
  let closedNow!: () => void;
  const closed = new Promise<void>((resolve) => (closedNow = resolve));
  let first = true;
  const peer = await connect(url, {
    headers: { authorization },
    caPem: ca,
    localAddress: loopbackAddress(index),
  }, () => ({
    onText(text) {
      const at = performance.now();
      if (first) {
        first = false;
        if (text.includes('"type":"auth"')) authed();
        else failed(new Error(`subscriber ${index}: the first message is no auth: ${text.slice(0, 300)}`));
        return;
      }
      events.push({ at, text });
      round.grew(events.length);
    },
    onClose(code, reason) {
      failed(new Error(`subscriber ${index} closed (${code} ${reason}) before its auth message`));
      closedNow();
    },
  }));
  await auth;
  return { peer, events, closed };
}

async function subscribeAll(
  n: number,
  url: string,
  authorization: string,
  ca: string,
  round: Round,
): Promise<Subscriber[]> {
  const out: Subscriber[] = [];
  for (let i = 0; i < n; i += CONNECT_BATCH) {
    const batch = Array.from(
      { length: Math.min(CONNECT_BATCH, n - i) },
      (_, k) => subscribe(url, authorization, ca, i + k, round),
    );
    out.push(...await Promise.all(batch));
  }
  return out;
}

async function closeAll(subscribers: readonly Subscriber[]): Promise<void> {
  for (const s of subscribers) s.peer.close(1000, "done");
  await Promise.all(subscribers.map((s) => s.closed));
}

// ---------------------------------------------------------------- logs

/** dockerd's multiplexed logs stream: payload bytes and lines (newlines in the payloads). */
async function readMultiplexed(body: ReadableStream<Uint8Array>): Promise<{ bytes: number; lines: number }> {
  let bytes = 0;
  let lines = 0;
  let header = new Uint8Array(8);
  let have = 0; // header bytes held
  let left = 0; // payload bytes still to come of the current frame
  for await (const chunk of chunks(body)) {
    let i = 0;
    while (i < chunk.length) {
      if (left === 0) {
        const take = Math.min(8 - have, chunk.length - i);
        header.set(chunk.subarray(i, i + take), have);
        have += take;
        i += take;
        if (have === 8) {
          left = ((header[4]! << 24) | (header[5]! << 16) | (header[6]! << 8) | header[7]!) >>> 0;
          have = 0;
          header = new Uint8Array(8);
        }
        continue;
      }
      const end = Math.min(chunk.length, i + left);
      for (let k = i; k < end; k++) if (chunk[k] === 10) lines++;
      bytes += end - i;
      left -= end - i;
      i = end;
    }
  }
  return { bytes, lines };
}

interface LogsRun {
  readonly ms: number;
  readonly lines: number;
  readonly bytes: number;
}

// ---------------------------------------------------------------- the bench

async function bench(host: GuardedHost, port: number, key: string): Promise<void> {
  const base = `https://127.0.0.1:${port}`;
  const wss = `wss://127.0.0.1:${port}`;
  const ca = readFileSync(join(host.agent.stateDir, "ca", "cluster.crt"), "utf8");
  const authorization = `Basic ${btoa(`${USER}:${key}`)}`;
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: body === undefined ? { authorization } : { authorization, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      tls: { ca },
    } as RequestInit);
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${text.slice(0, 500)}`);
    return text;
  };
  const socketGet = async (path: string) => {
    const res = await fetch(`http://docker${path}`, { unix: host.dockerd.socket } as RequestInit);
    const text = await res.text();
    if (!res.ok) throw new Error(`GET ${path} on dockerd answered ${res.status}: ${text.slice(0, 500)}`);
    return text;
  };
  await waitFor("the HTTPS listener", async () => (await api("GET", "/api/app/v1/container/"), true), 20_000);
  // The tiny image is on the host already (startApiHost).

  const reference = new Reference();
  await reference.start(host.dockerd.socket);
  cleanups.push(() => reference.stop());

  /** A started service of one container; resolves to the container's id once it is in `state`. */
  const oneContainer = async (name: string, runCommand: string, state: string) => {
    const service = JSON.parse(
      await api("POST", "/api/app/v1/service/", {
        image: "tiny:latest",
        name,
        target_num_containers: 1,
        run_command: runCommand,
      }),
    ) as { uuid: string };
    await api("POST", `/api/app/v1/service/${service.uuid}/start/`);
    let id = "";
    await waitFor(`the ${name} container`, async () => {
      const list = JSON.parse(await api("GET", "/api/app/v1/container/?limit=100")) as {
        objects: { uuid: string; state: string; service: string | null }[];
      };
      const found = list.objects.find((o) => o.service?.includes(service.uuid) && o.state === state);
      id = found?.uuid ?? "";
      return id !== "";
    }, 60_000);
    return id;
  };

  // ---- events
  const ticker = await oneContainer("ticker", `sh -c "trap 'exit 0' TERM; sleep 100000 & wait"`, "Running");
  const changesOf = (since: number) => reference.changes.filter((c) => c.id === ticker && c.at >= since);
  const round = new Round();
  const eventsUrl = `${wss}/api/audit/v1/events/?type=container`;
  /** One stop and one start; waits for dockerd's changes and then for every subscriber to hold as many. */
  const cycle = async (since: number) => {
    for (const [verb, state] of [["stop", "Stopped"], ["start", "Running"]] as const) {
      await api("POST", `/api/app/v1/container/${ticker}/${verb}/`);
      await waitFor(
        `dockerd's ${verb} events`,
        () => Promise.resolve(changesOf(since).at(-1)?.state === state),
        DELIVERY_TIMEOUT_MS,
      );
      await round.until(changesOf(since).length, `the ${verb} events`);
    }
  };

  interface Figures {
    readonly n: number;
    readonly events: number;
    readonly latencies: number[];
    /** The start events' alone: each is the only event of its moment (a stop tells two at once). */
    readonly starts: number[];
    /** Per event: the last subscriber's time minus the first's. */
    readonly spreads: number[];
    readonly rssBefore: number;
    readonly rssIdle: number;
  }
  const figures: Figures[] = [];
  {
    // Warm-up: the agent's event path, TLS and the JIT, with one subscriber.
    const warm = await subscribeAll(1, eventsUrl, authorization, ca, round);
    round.track(warm);
    const since = performance.now();
    for (let i = 0; i < WARMUP_CYCLES; i++) await cycle(since);
    await closeAll(warm);
  }
  for (const n of COUNTS) {
    await Bun.sleep(1_000);
    const rssBefore = rssKiB(host.agent.pid);
    const subscribers = await subscribeAll(n, eventsUrl, authorization, ca, round);
    round.track(subscribers);
    await Bun.sleep(1_000);
    const rssIdle = rssKiB(host.agent.pid);
    const since = performance.now();
    for (let i = 0; i < CYCLES; i++) await cycle(since);
    const changes = changesOf(since);
    const latencies: number[] = [];
    const starts: number[] = [];
    const spreads: number[] = [];
    for (const s of subscribers) {
      if (s.events.length !== changes.length) {
        throw new Error(`a subscriber received ${s.events.length} events, dockerd told ${changes.length}`);
      }
    }
    changes.forEach((change, k) => {
      let first = Infinity;
      let last = -Infinity;
      for (const s of subscribers) {
        const got = s.events[k]!;
        const event = JSON.parse(got.text) as { uuid?: string; state?: string; type?: string };
        if (event.type !== "container" || event.uuid !== ticker || event.state !== change.state) {
          throw new Error(
            `event ${k}: expected ${change.state} of ${ticker}, received ${got.text.slice(0, 300)}`,
          );
        }
        latencies.push(got.at - change.at);
        if (change.state === "Running") starts.push(got.at - change.at);
        first = Math.min(first, got.at);
        last = Math.max(last, got.at);
      }
      spreads.push(last - first);
    });
    figures.push({ n, events: changes.length, latencies, starts, spreads, rssBefore, rssIdle });
    await closeAll(subscribers);
  }

  // ---- logs
  const logger = await oneContainer(
    "logger",
    `sh -c "busybox yes line-of-text | busybox head -n ${LOG_LINES}"`,
    "Stopped",
  );
  const logsPath = `/containers/${logger}/logs?stdout=1&stderr=1&timestamps=1&tail=all`;
  const viaSocket = async (): Promise<LogsRun> => {
    const t0 = performance.now();
    const res = await fetch(`http://docker${logsPath}`, { unix: host.dockerd.socket } as RequestInit);
    if (res.status !== 200 || res.body === null) throw new Error(`GET ${logsPath} answered ${res.status}`);
    const { bytes, lines } = await readMultiplexed(res.body);
    return { ms: performance.now() - t0, lines, bytes };
  };
  const viaWebsocket = async (): Promise<LogsRun> => {
    const t0 = performance.now();
    let lines = 0;
    let bytes = 0;
    let problem: string | undefined;
    let ended!: (code: number) => void;
    const end = new Promise<number>((resolve) => (ended = resolve));
    await connect(
      `${wss}/api/app/v1/container/${logger}/logs/?tail=all`,
      { headers: { authorization }, caPem: ca, localAddress: loopbackAddress(0) },
      () => ({
        onText(text) {
          if (text.startsWith('{"type":"log"')) {
            lines++;
            bytes += text.length;
          } else problem ??= text.slice(0, 300);
        },
        onClose: (code, reason) => {
          if (code !== 1000) problem ??= `closed with ${code} ${reason}`;
          ended(code);
        },
      }),
    );
    await end;
    if (problem !== undefined) throw new Error(`the logs websocket, after ${lines} lines: ${problem}`);
    return { ms: performance.now() - t0, lines, bytes };
  };
  const runs: [LogsRun[], LogsRun[]] = [[], []];
  await viaSocket(); // warm-up
  await viaWebsocket();
  for (let i = 0; i < LOG_RUNS; i++) {
    runs[0].push(await viaSocket());
    runs[1].push(await viaWebsocket());
  }
  for (const [side, list] of [["dockerd", runs[0]], ["websocket", runs[1]]] as const) {
    for (const r of list) {
      if (r.lines !== LOG_LINES) throw new Error(`the ${side} logs had ${r.lines} lines, not ${LOG_LINES}`);
    }
  }
  const inspect = JSON.parse(await socketGet(`/containers/${logger}/json`)) as {
    State: { ExitCode: number };
  };
  if (inspect.State.ExitCode !== 0) throw new Error(`the logger exited ${inspect.State.ExitCode}`);

  // ---- report
  console.log(
    `\n## Event delivery: dockerd's GET /events on its unix socket (reference) to websocket subscribers of` +
      ` /api/audit/v1/events/?type=container (TLS, API key; ${CYCLES} stop+start cycles through the REST API` +
      ` per N, after ${WARMUP_CYCLES}; subscribers over 127.0.0.2-${loopbackAddress(COUNTS.at(-1)! - 1)},` +
      ` ${PER_ADDRESS} per address; one client process)`,
  );
  console.log(
    "| subscribers | events x subscribers | p50 | p90 | p99 | max | p50 vs 1 subscriber |" +
      " start events alone: p50 / p99 | fan-out p50 (first to last subscriber) |" +
      "\n|---|---|---|---|---|---|---|---|---|",
  );
  const p50of1 = percentile([...figures[0]!.latencies].sort((a, b) => a - b), 0.5);
  for (const f of figures) {
    const sorted = [...f.latencies].sort((a, b) => a - b);
    const p50 = percentile(sorted, 0.5);
    const starts = [...f.starts].sort((a, b) => a - b);
    console.log(
      `| ${f.n} | ${f.events} x ${f.n} | ${fmt(p50)} ms | ${fmt(percentile(sorted, 0.9))} ms | ${
        fmt(percentile(sorted, 0.99))
      } ms | ${fmt(sorted.at(-1)!)} ms | ${fmt(p50 / p50of1, 2)} | ${fmt(percentile(starts, 0.5))} / ${
        fmt(percentile(starts, 0.99))
      } ms | ${fmt(median(f.spreads))} ms |`,
    );
  }
  if (!COUNTS.includes(1000)) {
    console.log(
      `\n(1000 subscribers exceed the listener's ${API_LIMITS.maxWebSockets} websockets in all:` +
        ` ${COUNTS.at(-1)} is the largest measured)`,
    );
  }

  console.log(
    "\n## Memory per idle events subscriber (the agent's VmRSS before and 1 s after opening N)",
  );
  console.log(
    "| subscribers | RSS before | RSS with N open | added | per subscriber |\n|---|---|---|---|---|",
  );
  for (const f of figures) {
    const added = f.rssIdle - f.rssBefore;
    console.log(
      `| ${f.n} | ${thousands(f.rssBefore)} KiB | ${thousands(f.rssIdle)} KiB | ${thousands(added)} KiB | ${
        fmt(added / f.n, 1)
      } KiB |`,
    );
  }

  const sideOf = (list: LogsRun[]) => {
    const lps = median(list.map((r) => r.lines / (r.ms / 1000)));
    const bps = median(list.map((r) => r.bytes / (r.ms / 1000)));
    return { lps, bps, ms: median(list.map((r) => r.ms)), bytes: list[0]!.bytes };
  };
  const socket = sideOf(runs[0]);
  const ws = sideOf(runs[1]);
  console.log(
    `\n## Logs: ${thousands(LOG_LINES)} lines (\`yes line-of-text\`), GET /containers/ID/logs on dockerd's` +
      " unix socket (stdout, stderr, timestamps, tail=all; demultiplexed) beside the websocket" +
      ` /api/app/v1/container/ID/logs/?tail=all (TLS, API key; one message per line); median of ${LOG_RUNS}` +
      " each after one, taking turns",
  );
  console.log("| | dockerd socket | websocket | ratio (websocket / dockerd) |\n|---|---|---|---|");
  console.log(`| time | ${fmt(socket.ms, 1)} ms | ${fmt(ws.ms, 1)} ms | ${fmt(ws.ms / socket.ms, 2)} |`);
  console.log(
    `| lines/s | ${thousands(socket.lps)} | ${thousands(ws.lps)} | ${fmt(ws.lps / socket.lps, 2)} |`,
  );
  console.log(
    `| bytes read | ${thousands(socket.bytes)} (payload) | ${thousands(ws.bytes)} (messages) | ${
      fmt(ws.bytes / socket.bytes, 2)
    } |`,
  );
  console.log(
    `| MB/s | ${fmt(socket.bps / 1e6, 1)} | ${fmt(ws.bps / 1e6, 1)} | ${fmt(ws.bps / socket.bps, 2)} |`,
  );
}

/** Undone first by cleanup (open streams), before the host is stopped. */
const cleanups: (() => Promise<void>)[] = [];

const why = e2eUnavailable();
if (why) {
  console.log(`\n(skipping the Stream API figures: ${why})`);
} else {
  await onApiHost(
    "bench-stream",
    POLICY,
    USER,
    (api) => bench(api.host, api.port, api.keys[USER]!),
    cleanups,
  );
}
