/**
 * Plugin figures, each against a baseline measured in the same run:
 *  1. AuthZReq over the unix socket: the agent with a 200-rule policy vs a no-op Bun server that
 *     answers {"Allow":true} (each in its own process) - throughput and latency at c=1 and c=8, as ratios.
 *  2. GET /containers/json through a real dockerd with no plugin, with a trivial allow-all plugin and
 *     with the agent (only as root with dockerd installed): the added latency per Docker API call.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { e2eUnavailable, registerPlugin, startAgent, startDockerd, tempDir } from "../tests/e2e/harness.ts";

const DURATION_MS = Number(process.env["BENCH_MS"] ?? 4000);
/** Load before each measurement, not counted (BENCH_WARM_MS). */
const WARM_UP_MS = Number(process.env["BENCH_WARM_MS"] ?? 1500);
/** Interleaved rounds per comparison (the figures are medians over them). */
const ROUNDS = Number(process.env["BENCH_ROUNDS"] ?? 3);

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
  // Warm up, then measure: WARM_UP_MS of the same load first, so the JIT's tiers (compiled on the other core,
  // which dockerd and the load generator share) are done before the figures start; a host runs for days.
  const warmEnd = performance.now() + WARM_UP_MS;
  while (performance.now() < warmEnd) {
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

/**
 * The baseline: a trivial allow-all plugin on the same runtime (reads the call, answers Allow), in a process
 * of its own like the agent, so both pay the same cross-process wake-ups (in the load generator's own process
 * it would not, which flatters its latency).
 */
async function noopPlugin(socket: string): Promise<{ stop(): Promise<void> }> {
  const script = join(socket + ".ts");
  writeFileSync(
    script,
    `const activate = '{"Implements":["authz"]}';
Bun.serve({
  unix: ${JSON.stringify(socket)},
  fetch: async (req) => {
    await req.text();
    // (dockerd's request URL names the socket as its host, which URL will not parse)
    const body = req.url.endsWith("/Plugin.Activate") ? activate : '{"Allow":true}';
    return new Response(body, { headers: { "content-type": "application/json" } });
  },
});
`,
  );
  const proc = Bun.spawn([process.execPath, script], { stdout: "ignore", stderr: "inherit" });
  const deadline = Date.now() + 10_000;
  while (!existsSync(socket)) {
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error("the no-op plugin did not start");
    await Bun.sleep(20);
  }
  return {
    async stop() {
      proc.kill("SIGTERM");
      await proc.exited;
      rmSync(script, { force: true });
      rmSync(socket, { force: true });
    },
  };
}

async function pluginVersusNoop(dir: string) {
  const noopSocket = join(dir, "noop.sock");
  const noop = await noopPlugin(noopSocket);
  const policy = join(dir, "policy.yaml");
  writeFileSync(policy, policyWith200Rules());
  const agent = await startAgent({
    stateDir: join(dir, "state"),
    socket: join(dir, "agent.sock"),
    policyFile: policy,
  });
  try {
    console.log(
      `\n## AuthZReq over a unix socket (200-rule policy, ${ROUNDS} interleaved rounds of ${DURATION_MS} ms, medians, Bun ${Bun.version})`,
    );
    console.log("| run | agent | no-op server | ratio (agent / no-op) |\n|---|---|---|---|");
    for (const c of [1, 8]) {
      const agentRuns: LoadResult[] = [];
      const noopRuns: LoadResult[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        agentRuns.push(await load(agent.socket, c, "/AuthZPlugin.AuthZReq", REQUEST));
        noopRuns.push(await load(noopSocket, c, "/AuthZPlugin.AuthZReq", REQUEST));
      }
      const a = medianOf(agentRuns);
      const n = medianOf(noopRuns);
      console.log(
        `| c=${c} throughput | ${Math.round(a.rps)} req/s | ${Math.round(n.rps)} req/s | ${
          fmt(a.rps / n.rps, 2)
        } |`,
      );
      console.log(`| c=${c} latency p50 | ${fmt(a.p50)} ms | ${fmt(n.p50)} ms | ${fmt(a.p50 / n.p50, 2)} |`);
      console.log(`| c=${c} latency p99 | ${fmt(a.p99)} ms | ${fmt(n.p99)} ms | ${fmt(a.p99 / n.p99, 2)} |`);
    }
  } finally {
    await noop.stop();
    await agent.stop();
  }
}

/** The median of each figure over rounds. */
function medianOf(results: readonly LoadResult[]): LoadResult {
  const mid = (values: number[]) => values.sort((x, y) => x - y)[Math.floor(values.length / 2)]!;
  return {
    rps: mid(results.map((r) => r.rps)),
    p50: mid(results.map((r) => r.p50)),
    p99: mid(results.map((r) => r.p99)),
    mean: mid(results.map((r) => r.mean)),
  };
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
  console.log(
    `\n## GET /containers/json through a real dockerd (1 client, ${ROUNDS} interleaved rounds of ${DURATION_MS} ms, medians)`,
  );
  // Three private dockerds side by side (no plugin, the trivial plugin, the agent), measured in turns so a
  // slow moment of the machine does not fall on one of them only.
  const noopName = `noop-bench-${process.pid}`;
  const noop = await noopPlugin(join(dir, "noop2.sock"));
  const unregisterNoop = registerPlugin(noopName, join(dir, "noop2.sock"));
  const name = `agent-bench-${process.pid}`;
  const agent = await startAgent({
    stateDir: join(dir, "state2"),
    socket: join(dir, "agent2.sock"),
    policyFile: policy,
  });
  const unregister = registerPlugin(name, agent.socket);
  const dockerds: Awaited<ReturnType<typeof startDockerd>>[] = [];
  const runs: LoadResult[][] = [[], [], []];
  try {
    for (const [i, plugins] of [[], [noopName], [name]].entries()) {
      dockerds.push(await startDockerd({ dir: join(dir, `d${i + 1}`), authorizationPlugins: plugins }));
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, dockerd] of dockerds.entries()) {
        runs[i]!.push(await load(dockerd.socket, 1, "/v1.41/containers/json", undefined, "GET"));
      }
    }
  } finally {
    for (const dockerd of dockerds) await dockerd.stop();
    unregisterNoop();
    await noop.stop();
    await agent.stop();
    unregister();
  }
  const [without, trivial, withAgent] = runs.map(medianOf) as [LoadResult, LoadResult, LoadResult];
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
