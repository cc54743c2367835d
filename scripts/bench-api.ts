/**
 * The HTTPS API's container list beside dockerd's own, in the same run, on the same private dockerd:
 *  1. `GET /api/app/v1/container/?limit=100` through `agent serve --listen` (TLS, an API key over Basic
 *     auth, one kept-alive connection): authentication, the policy decision, the agent's own decided
 *     `GET /containers/json?all=1` to dockerd, the namespace filter and Docker Cloud's JSON;
 *  2. the baseline: `GET /containers/json?all=1` on dockerd's unix socket.
 * dockerd is guarded by the agent (its authorization plugin) for both, so both pay the same two plugin
 * calls per dockerd call. The namespace holds 100 containers (10 services of 10, created through the API;
 * they ran `true` and exited) and dockerd has no others, so both answers list the same 100 containers.
 * Sequential requests taking turns, after a warm-up; prints p50, p95, mean and throughput and the ratios
 * (API / dockerd).
 * BENCH_REQUESTS sets the measured requests per side (default 300). Needs root, dockerd, docker, busybox.
 */
import { onApiHost } from "./bench-host.ts";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { e2eUnavailable, type GuardedHost, waitFor } from "../tests/e2e/harness.ts";

const REQUESTS = Number(process.env["BENCH_REQUESTS"] ?? 300);
if (!Number.isInteger(REQUESTS) || REQUESTS < 1) {
  throw new Error("BENCH_REQUESTS must be a whole number >= 1");
}
const WARMUP = 50;
const SERVICES = 10;
const PER_SERVICE = 10;
const CONTAINERS = SERVICES * PER_SERVICE;
const USER = "bench";

const POLICY = `version: 1
rules:
  - id: local            # the baseline's calls and the image import, on dockerd's unix socket
    who: anonymous
    allow: [container:list, "image:*"]
  - id: bench-containers
    who: [${USER}]
    allow: ["container:*"]
`;

interface Series {
  readonly p50: number;
  readonly p95: number;
  readonly mean: number;
  readonly rps: number;
  readonly bytes: number;
}

function seriesOf(latencies: number[], bytes: number): Series {
  const sorted = [...latencies].sort((a, b) => a - b);
  const total = latencies.reduce((a, b) => a + b, 0);
  return {
    p50: sorted[Math.floor(sorted.length * 0.5)]!,
    p95: sorted[Math.floor(sorted.length * 0.95)]!,
    mean: total / latencies.length,
    rps: latencies.length / (total / 1000),
    bytes,
  };
}

/**
 * WARMUP calls of each, then REQUESTS of each, one after another and taking turns (a, b, a, b, ...), so both
 * sides see the same machine at the same moments. Each call returns its answer's size. Throughput is the
 * requests of one side over the time spent in them (one client, no concurrency).
 */
async function measurePair(
  a: () => Promise<number>,
  b: () => Promise<number>,
): Promise<[Series, Series]> {
  for (let i = 0; i < WARMUP; i++) {
    await a();
    await b();
  }
  const times: [number[], number[]] = [[], []];
  const bytes = [0, 0];
  for (let i = 0; i < REQUESTS; i++) {
    for (const [side, once] of [a, b].entries()) {
      const t0 = performance.now();
      bytes[side] = await once();
      times[side]!.push(performance.now() - t0);
    }
  }
  return [seriesOf(times[0], bytes[0]!), seriesOf(times[1], bytes[1]!)];
}

const fmt = (n: number, digits = 3) => n.toFixed(digits);
const signed = (n: number) => (n < 0 ? "-" : "+") + fmt(Math.abs(n));

async function bench(host: GuardedHost, base: string, key: string): Promise<void> {
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
  await waitFor("the HTTPS listener", async () => (await api("GET", "/api/app/v1/container/"), true), 20_000);

  for (let s = 1; s <= SERVICES; s++) {
    const service = JSON.parse(
      await api("POST", "/api/app/v1/service/", {
        image: "tiny:latest",
        name: `bench${s}`,
        target_num_containers: PER_SERVICE,
        run_command: "true",
      }),
    ) as { uuid: string };
    await api("POST", `/api/app/v1/service/${service.uuid}/start/`);
  }

  const apiPath = `/api/app/v1/container/?limit=${CONTAINERS}`;
  const listed = JSON.parse(await api("GET", apiPath)) as {
    meta: { total_count: number };
    objects: unknown[];
  };
  const socketList = async () => {
    const res = await fetch(
      "http://docker/containers/json?all=1",
      { unix: host.dockerd.socket } as RequestInit,
    );
    const text = await res.text();
    if (!res.ok) throw new Error(`GET /containers/json answered ${res.status}: ${text.slice(0, 500)}`);
    return text;
  };
  const dockers = JSON.parse(await socketList()) as unknown[];
  if (listed.meta.total_count !== CONTAINERS || listed.objects.length !== CONTAINERS) {
    throw new Error(`the API lists ${listed.meta.total_count} containers, not ${CONTAINERS}`);
  }
  if (dockers.length !== CONTAINERS) throw new Error(`dockerd lists ${dockers.length}, not ${CONTAINERS}`);

  const [viaSocket, viaApi] = await measurePair(
    async () => (await socketList()).length,
    async () => (await api("GET", apiPath)).length,
  );

  console.log(
    `\n## GET /api/app/v1/container/ (HTTPS, API key) beside GET /containers/json on dockerd's unix socket` +
      ` (${CONTAINERS} containers, ${REQUESTS} sequential requests each after ${WARMUP},` +
      " taking turns, one client)",
  );
  console.log("| | dockerd socket | HTTPS API | ratio (API / dockerd) |\n|---|---|---|---|");
  for (const k of ["p50", "p95", "mean"] as const) {
    console.log(
      `| ${k} | ${fmt(viaSocket[k])} ms | ${fmt(viaApi[k])} ms | ${fmt(viaApi[k] / viaSocket[k], 2)} (${
        signed(viaApi[k] - viaSocket[k])
      } ms) |`,
    );
  }
  console.log(
    `| throughput | ${Math.round(viaSocket.rps)} req/s | ${Math.round(viaApi.rps)} req/s | ${
      fmt(viaApi.rps / viaSocket.rps, 2)
    } |`,
  );
  console.log(
    `| answer | ${viaSocket.bytes} bytes | ${viaApi.bytes} bytes | ${
      fmt(viaApi.bytes / viaSocket.bytes, 2)
    } |`,
  );
}

const why = e2eUnavailable();
if (why) {
  console.log(`\n(skipping the HTTPS API figures: ${why})`);
} else {
  await onApiHost("bench-api", POLICY, USER, (api) => bench(api.host, api.base, api.keys[USER]!));
}
