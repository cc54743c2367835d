/**
 * The long kill -9 loops: each state-writing command (id init, ca create-api-certificate, ca revoke,
 * id rotate, id revoke) runs as a process and is SIGKILLed at seeded random points; after each kill every
 * state file must parse as the old or the new version, a revocation in index.json must be enforced, and
 * the next command must succeed. Prints the figures as a markdown table; exits 1 on any failure.
 *   node_modules/.bin/bun scripts/soak-faults.ts [--iterations N] [--minutes N] [--seed N]
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KILL_COMMANDS, killLoop, type KillStats, killTable } from "../tests/unit/faults/kill-loop.ts";

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  const value = at < 0 ? undefined : Number(process.argv[at + 1]);
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) {
    console.error(`soak-faults: --${name} needs a positive number`);
    process.exit(2);
  }
  return value;
}

const iterations = Math.floor(option("iterations", 300));
const minutes = option("minutes", 10);
const seed = Math.floor(option("seed", 42));
const perCommandMs = (minutes * 60_000) / KILL_COMMANDS.length;

const work = await mkdtemp(join(tmpdir(), "agent-soak-faults-"));
const all: KillStats[] = [];
const started = performance.now();
try {
  for (const [n, command] of KILL_COMMANDS.entries()) {
    all.push(
      await killLoop(command, { iterations, seed: seed + n, deadlineMs: perCommandMs, workDir: work }),
    );
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
const seconds = (performance.now() - started) / 1000;
console.log(
  `### kill -9 during state writes (seed ${seed}, up to ${iterations} kills per command, ${
    seconds.toFixed(0)
  } s)\n`,
);
console.log(killTable(all));
const failures = all.flatMap((s) => s.failures.map((f) => `${s.command} ${f}`));
for (const f of failures.slice(0, 50)) console.log(`FAIL ${f}`);
process.exit(failures.length === 0 ? 0 : 1);
