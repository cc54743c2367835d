/**
 * Plugin figures, each against a baseline measured in the same run:
 *  1. AuthZReq over the unix socket: the agent with a 200-rule policy vs a no-op Bun server that
 *     answers {"Allow":true} - throughput (c=8) and latency (c=1), as ratios.
 *  2. GET /containers/json through a real dockerd with no plugin, with a trivial allow-all plugin and
 *     with the agent (only as root with dockerd installed): the added latency per Docker API call.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathOf } from "../src/server/path-of.ts";
import { e2eUnavailable, registerPlugin, startAgent, startDockerd, tempDir } from "../tests/e2e/harness.ts";

const DURATION_MS = Number(process.env["BENCH_MS"] ?? 4000);

function policyWith200Rules(): string {
  const lines = [
    "version: 1",
    "administrators: [admin]",
    "groups:",
    "  ops: [alice, carol]",
    "  devs: [" + Array.from({ length: 50 }, (_, i) => `dev${i}`).join(", ") + "]",
    "rules:",
  ];
  for (let i = 0; i < 196; i++) {
    lines.push(
      `  - id: user${i}-reads`,
      `    who: [user${i}]`,
      `    allow: ["container:list", "container:inspect", "image:*", "system:info"]`,
    );
  }
  lines.push(`  - id: ops-all`, `    who: ["group:ops"]`, `    allow: ["*"]`);
  lines.push(
    `  - id: devs-containers`,
    `    who: ["group:devs"]`,
    `    allow: ["container:*", "exec:*", "image:list"]`,
  );
  lines.push(
    `  - id: nobody-privileged`,
    `    who: ["*"]`,
    `    deny: ["container:create"]`,
    `    when: { privileged: true }`,
  );
  lines.push(
    `  - id: bob-reads`,
    `    who: [bob]`,
    `    allow: ["container:list", "container:inspect", "image:*", "system:*"]`,
  );
  return lines.join("\n") + "\n";
}

const REQUEST = JSON.stringify({
  User: "bob",
  UserAuthNMethod: "TLS",
  RequestMethod: "GET",
  RequestUri: "/v1.41/containers/json?all=1",
  RequestHeaders: { "User-Agent": ["Docker-Client/28.2.2 (linux)"], Accept: ["application/json"] },
});

interface LoadResult {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly mean: number;
}

async function load(
  socket: string,
  concurrency: number,
  path: string,
  body: string | undefined,
  method = "POST",
): Promise<LoadResult> {
  const latencies: number[] = [];
  const end = performance.now() + DURATION_MS;
  let count = 0;
  const worker = async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      const res = await fetch(`http://x${path}`, { method, body, unix: socket } as RequestInit);
      await res.arrayBuffer();
      if (!res.ok) throw new Error(`${path} answered ${res.status}`);
      latencies.push(performance.now() - t0);
      count++;
    }
  };
  // Warm up, then measure.
  for (let i = 0; i < 200; i++) {
    await (await fetch(`http://x${path}`, { method, body, unix: socket } as RequestInit)).arrayBuffer();
  }
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    rps: count / seconds,
    p50: latencies[Math.floor(latencies.length * 0.5)]!,
    p99: latencies[Math.floor(latencies.length * 0.99)]!,
    mean: latencies.reduce((a, b) => a + b, 0) / latencies.length,
  };
}

const fmt = (n: number, digits = 3) => n.toFixed(digits);

/** The baseline: a trivial allow-all plugin on the same runtime (reads the call, answers Allow). */
function noopPlugin(socket: string) {
  return Bun.serve({
    unix: socket,
    fetch: async (req) => {
      await req.text();
      const body = pathOf(req.url) === "/Plugin.Activate" ? '{"Implements":["authz"]}' : '{"Allow":true}';
      return new Response(body, { headers: { "content-type": "application/json" } });
    },
  });
}

async function pluginVersusNoop(dir: string) {
  const noopSocket = join(dir, "noop.sock");
  const noop = noopPlugin(noopSocket);
  const policy = join(dir, "policy.yaml");
  writeFileSync(policy, policyWith200Rules());
  const agent = await startAgent({
    stateDir: join(dir, "state"),
    socket: join(dir, "agent.sock"),
    policyFile: policy,
  });
  try {
    console.log(
      `\n## AuthZReq over a unix socket (200-rule policy, ${DURATION_MS} ms per run, Bun ${Bun.version})`,
    );
    console.log("| run | agent | no-op server | ratio (agent / no-op) |\n|---|---|---|---|");
    for (const c of [1, 8]) {
      const a = await load(agent.socket, c, "/AuthZPlugin.AuthZReq", REQUEST);
      const n = await load(noopSocket, c, "/AuthZPlugin.AuthZReq", REQUEST);
      console.log(
        `| c=${c} throughput | ${Math.round(a.rps)} req/s | ${Math.round(n.rps)} req/s | ${
          fmt(a.rps / n.rps, 2)
        } |`,
      );
      console.log(`| c=${c} latency p50 | ${fmt(a.p50)} ms | ${fmt(n.p50)} ms | ${fmt(a.p50 / n.p50, 2)} |`);
      console.log(`| c=${c} latency p99 | ${fmt(a.p99)} ms | ${fmt(n.p99)} ms | ${fmt(a.p99 / n.p99, 2)} |`);
    }
  } finally {
    noop.stop(true);
    await agent.stop();
  }
}

/** GET /containers/json through a fresh private dockerd whose authorization chain is `plugins`. */
async function throughOneDockerd(dir: string, plugins: string[]): Promise<LoadResult> {
  const dockerd = await startDockerd({ dir, authorizationPlugins: plugins });
  try {
    return await load(dockerd.socket, 1, "/v1.41/containers/json", undefined, "GET");
  } finally {
    await dockerd.stop();
  }
}

async function throughDockerd(dir: string) {
  const why = e2eUnavailable();
  if (why) {
    console.log(`\n(skipping the dockerd figures: ${why})`);
    return;
  }
  const policy = join(dir, "policy.yaml");
  writeFileSync(
    policy,
    policyWith200Rules().replace(
      "rules:\n",
      'rules:\n  - id: local\n    who: [anonymous]\n    allow: ["*"]\n',
    ),
  );
  console.log(`\n## GET /containers/json through a real dockerd (1 client, ${DURATION_MS} ms per run)`);
  const without = await throughOneDockerd(join(dir, "d1"), []);

  const noopName = `noop-bench-${process.pid}`;
  const noop = noopPlugin(join(dir, "noop2.sock"));
  const unregisterNoop = registerPlugin(noopName, join(dir, "noop2.sock"));
  let trivial: LoadResult;
  try {
    trivial = await throughOneDockerd(join(dir, "d2"), [noopName]);
  } finally {
    unregisterNoop();
    noop.stop(true);
  }

  const name = `agent-bench-${process.pid}`;
  const agent = await startAgent({
    stateDir: join(dir, "state2"),
    socket: join(dir, "agent2.sock"),
    policyFile: policy,
  });
  const unregister = registerPlugin(name, agent.socket);
  let withAgent: LoadResult;
  try {
    withAgent = await throughOneDockerd(join(dir, "d3"), [name]);
  } finally {
    await agent.stop();
    unregister();
  }
  console.log(
    "| | no plugin | trivial allow-all plugin | the agent (200 rules) | agent vs trivial |\n|---|---|---|---|---|",
  );
  for (const key of ["mean", "p50", "p99"] as const) {
    console.log(
      `| ${key} | ${fmt(without[key])} ms | ${fmt(trivial[key])} ms | ${fmt(withAgent[key])} ms | ${
        fmt(withAgent[key] / trivial[key], 2)
      } (+${fmt(withAgent[key] - trivial[key])} ms) |`,
    );
  }
  console.log(
    `| throughput | ${Math.round(without.rps)} req/s | ${Math.round(trivial.rps)} req/s | ${
      Math.round(withAgent.rps)
    } req/s | ${fmt(withAgent.rps / trivial.rps, 2)} |`,
  );
}

const dir = tempDir("bench");
mkdirSync(dir, { recursive: true });
try {
  await pluginVersusNoop(dir);
  await throughDockerd(dir);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
