/**
 * The fuzzers for N minutes (default 2): plugin payload mutations in-process, token mutations at the macaroon
 * gate, and, for the last third of the time, payload mutations against a real `agent serve` over its unix
 * socket, checking that the process stays alive and its RSS stays bounded. Prints a markdown table; any
 * failure is printed with the seed that reproduces it (FUZZ_SEED=<seed> bun test tests/unit/fuzz).
 *
 *   node_modules/.bin/bun scripts/soak-fuzz.ts [--minutes N] [--seed S]
 *
 * Exit code: 0 when nothing failed, 1 otherwise.
 */
import "reflect-metadata"; // decide.ts reaches @peculiar/x509, which needs it first
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startAgent } from "../tests/e2e/harness.ts";
import { runWireFuzz } from "../tests/unit/fuzz/fuzz-driver.ts";
import { runTokenFuzz } from "../tests/unit/fuzz/token-mutations.ts";
import { ALLOW_CAPTURED_USERS, loadCapturedCases, mutate, prng } from "../tests/unit/fuzz/wire-mutations.ts";

const ROOT = join(import.meta.dir, "..");
const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
};
const minutes = Number(arg("--minutes") ?? "2");
const firstSeed = Number(arg("--seed") ?? String(Date.now() % 1_000_000_000));
if (!(minutes > 0)) {
  console.error("usage: bun scripts/soak-fuzz.ts [--minutes N] [--seed S]");
  process.exit(2);
}
const totalMs = minutes * 60_000;
const { cases } = loadCapturedCases(ROOT);
const rows: string[][] = [];
const failures: string[] = [];

// 1. In-process plugin fuzz: a third of the time, in rounds of 20k with fresh seeds.
{
  const deadline = performance.now() + totalMs / 3;
  let count = 0, allowed = 0, seconds = 0, slowest = 0, seed = firstSeed;
  while (performance.now() < deadline) {
    const r = await runWireFuzz(cases, seed, 20_000, deadline);
    count += r.count;
    allowed += r.allowed;
    seconds += r.seconds;
    slowest = Math.max(slowest, r.slowestMs);
    failures.push(...r.failures);
    seed++;
  }
  rows.push([
    "plugin payloads (in-process)",
    String(count),
    seconds.toFixed(0),
    String(Math.round(count / seconds)),
    `${allowed} allowed; slowest ${slowest.toFixed(1)} ms; seeds ${firstSeed}..${seed - 1}`,
  ]);
}

// 2. Token fuzz at the gate: a third of the time.
{
  const r = await runTokenFuzz(firstSeed, performance.now() + totalMs / 3);
  failures.push(...r.failures);
  rows.push([
    "tokens at the macaroon gate",
    String(r.count),
    r.seconds.toFixed(0),
    String(Math.round(r.count / r.seconds)),
    `seed ${firstSeed}`,
  ]);
}

// 3. A real `agent serve` over its unix socket: the last third.
{
  const dir = mkdtempSync(join(tmpdir(), "soak-fuzz-"));
  const policyFile = join(dir, "policy.yaml");
  writeFileSync(policyFile, ALLOW_CAPTURED_USERS);
  const agent = await startAgent({
    stateDir: join(dir, "state"),
    socket: join(dir, "agent.sock"),
    policyFile,
  });
  const rssKb = () => {
    const status = readFileSync(`/proc/${agent.pid}/status`, "utf8");
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? "0");
  };
  const rssStart = rssKb();
  let rssMax = rssStart;
  const rng = prng(firstSeed);
  const deadline = performance.now() + totalMs / 3;
  const started = performance.now();
  let count = 0, allowed = 0, errors = 0;
  try {
    while (performance.now() < deadline && count < 10_000_000) {
      const c = cases[Math.floor(rng() * cases.length)]!;
      const m = mutate(rng, c);
      try {
        const res = await fetch(`http://plugin/${m.endpoint}`, {
          method: "POST",
          body: m.payload,
          unix: agent.socket,
          signal: AbortSignal.timeout(10_000),
        } as RequestInit);
        const body = (await res.json()) as Record<string, unknown>;
        if (typeof body["Allow"] !== "boolean") throw new Error("no boolean Allow");
        if (body["Allow"] === true) {
          allowed++;
          if (m.mustDeny) failures.push(`server seed ${firstSeed} #${count} ${c.id} / ${m.kind}: allowed`);
        }
      } catch (err) {
        errors++;
        if (failures.length < 50) {
          failures.push(
            `server seed ${firstSeed} #${count} ${c.id} / ${m.kind}: ${String(err).slice(0, 160)}`,
          );
        }
      }
      count++;
      if (count % 1000 === 0) {
        rssMax = Math.max(rssMax, rssKb());
        if (rssMax > 512 * 1024) {
          failures.push(`server RSS ${Math.round(rssMax / 1024)} MiB exceeds 512 MiB`);
          break;
        }
      }
    }
    rssMax = Math.max(rssMax, rssKb());
    const alive = readFileSync(`/proc/${agent.pid}/status`, "utf8").includes("State:");
    if (!alive) failures.push("the agent process died");
  } catch (err) {
    failures.push(`the agent process died or vanished: ${String(err).slice(0, 200)}`);
  } finally {
    await agent.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const seconds = (performance.now() - started) / 1000;
  rows.push([
    "plugin payloads (agent serve, unix socket)",
    String(count),
    seconds.toFixed(0),
    String(Math.round(count / seconds)),
    `${allowed} allowed, ${errors} transport errors; RSS ${Math.round(rssStart / 1024)} -> max ${
      Math.round(rssMax / 1024)
    } MiB`,
  ]);
}

console.log(`\n### Fuzz soak (${minutes} min, seed ${firstSeed})\n`);
console.log("| fuzzer | cases | seconds | per second | notes |");
console.log("|---|---:|---:|---:|---|");
for (const r of rows) console.log(`| ${r.join(" | ")} |`);
if (failures.length > 0) {
  console.log(`\n${failures.length} failure(s):`);
  for (const f of failures.slice(0, 50)) console.log(`- ${f}`);
  process.exit(1);
}
console.log("\nno failures");
