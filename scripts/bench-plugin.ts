/**
 * Plugin figures, each against a baseline measured in the same run:
 *  1. AuthZReq over the unix socket: the agent with a 200-rule policy vs a no-op Bun server that
 *     answers {"Allow":true} - throughput (c=8) and latency (c=1), as ratios.
 *  2. GET /containers/json through a real dockerd with and without the agent as authorization plugin
 *     (only as root with dockerd installed): the added latency per Docker API call.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
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

async function pluginVersusNoop(dir: string) {
  const noopSocket = join(dir, "noop.sock");
  const noop = Bun.serve({
    unix: noopSocket,
    fetch: () => new Response('{"Allow":true}', { headers: { "content-type": "application/json" } }),
  });
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

async function throughDockerd(dir: string) {
  const why = e2eUnavailable();
  if (why) {
    console.log(`\n(skipping the dockerd figures: ${why})`);
    return;
  }
  const policy = join(dir, "policy.yaml");
  writeFileSync(policy, 'version: 1\nrules:\n  - id: local\n    who: [anonymous]\n    allow: ["*"]\n');
  const samples = async (socket: string) => await load(socket, 1, "/v1.41/containers/json", undefined, "GET");
  console.log(`\n## GET /containers/json through a real dockerd (1 client, ${DURATION_MS} ms)`);
  const plain = await startDockerd({ dir: join(dir, "d1"), authorizationPlugins: [] });
  let without: LoadResult;
  try {
    without = await samples(plain.socket);
  } finally {
    await plain.stop();
  }
  const name = `agent-bench-${process.pid}`;
  const agent = await startAgent({
    stateDir: join(dir, "state2"),
    socket: join(dir, "agent2.sock"),
    policyFile: policy,
  });
  const unregister = registerPlugin(name, agent.socket);
  const withPlugin = await startDockerd({ dir: join(dir, "d2"), authorizationPlugins: [name] });
  let withAgent: LoadResult;
  try {
    withAgent = await samples(withPlugin.socket);
  } finally {
    await withPlugin.stop();
    await agent.stop();
    unregister();
  }
  console.log("| | without plugin | with the agent | added per call | ratio |\n|---|---|---|---|---|");
  console.log(
    `| mean | ${fmt(without.mean)} ms | ${fmt(withAgent.mean)} ms | ${
      fmt(withAgent.mean - without.mean)
    } ms | ${fmt(withAgent.mean / without.mean, 2)} |`,
  );
  console.log(
    `| p50 | ${fmt(without.p50)} ms | ${fmt(withAgent.p50)} ms | ${fmt(withAgent.p50 - without.p50)} ms | ${
      fmt(withAgent.p50 / without.p50, 2)
    } |`,
  );
  console.log(
    `| p99 | ${fmt(without.p99)} ms | ${fmt(withAgent.p99)} ms | ${fmt(withAgent.p99 - without.p99)} ms | ${
      fmt(withAgent.p99 / without.p99, 2)
    } |`,
  );
  console.log(
    `| throughput | ${Math.round(without.rps)} req/s | ${Math.round(withAgent.rps)} req/s | | ${
      fmt(withAgent.rps / without.rps, 2)
    } |`,
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
