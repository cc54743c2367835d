/** Fixtures for the API key tests: reproducible keys, a settable clock, temp state directories. */
import { join } from "node:path";
import type { Clock, RandomBytes } from "../../../src/ports.ts";
import { type StateLayout, stateLayout } from "../../../src/store/layout.ts";
import { removeTempDirs, seededRandom, tempDir } from "../../helpers/fixtures.ts";

export { removeTempDirs, seededRandom };

export const NOW = new Date("2026-01-02T03:04:05.000Z");

/** A clock tests move by hand. */
export interface ManualClock extends Clock {
  advance(ms: number): void;
  set(date: Date): void;
}

export function manualClock(start: Date = NOW): ManualClock {
  let now = start.getTime();
  const clock = (() => new Date(now)) as ManualClock;
  clock.advance = (ms) => void (now += ms);
  clock.set = (date) => void (now = date.getTime());
  return clock;
}

export const fixedClock: Clock = () => new Date(NOW.getTime());

let seeds = 0;
export function freshRandom(): RandomBytes {
  return seededRandom(`apikey test ${++seeds}`);
}

export async function tempLayout(): Promise<StateLayout> {
  return stateLayout(join(await tempDir("agent-apikey-test-"), "state"));
}
