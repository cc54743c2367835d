/**
 * kill -9 in the middle of state writes: each state-writing command runs as a real process and is
 * SIGKILLed at seeded random points (see kill-loop.ts; scripts/soak-faults.ts runs more iterations).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KILL_COMMANDS, killLoop, type KillStats, killTable } from "./kill-loop.ts";

const ITERATIONS = 30;
const work = await mkdtemp(join(tmpdir(), "agent-kill-"));
const figures: KillStats[] = [];
afterAll(async () => {
  console.log(killTable(figures));
  await rm(work, { recursive: true, force: true });
});

describe("a state-writing command killed with SIGKILL at a random point", () => {
  KILL_COMMANDS.forEach((command, n) => {
    test(
      `${command}: every state file stays the old or the new version and the next command succeeds`,
      async () => {
        const stats = await killLoop(command, {
          iterations: ITERATIONS,
          seed: 1000 + n,
          deadlineMs: 40_000,
          workDir: work,
        });
        figures.push(stats);
        expect(stats.failures).toEqual([]);
        expect(stats.iterations).toBeGreaterThanOrEqual(10);
      },
      90_000,
    );
  });
});
