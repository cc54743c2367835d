/** Fixtures shared by the unit tests: reproducible randomness and temp directories removed afterwards. */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sha256 } from "@noble/hashes/sha2.js";
import type { RandomBytes } from "../../src/ports.ts";

/** Deterministic bytes: SHA-256(seed || counter) blocks, so a failing run reproduces. */
export function seededRandom(seed: string): RandomBytes {
  let counter = 0;
  const encoder = new TextEncoder();
  return (n) => {
    const out = new Uint8Array(n);
    for (let filled = 0; filled < n; filled += 32) {
      out.set(sha256(encoder.encode(`${seed}:${counter++}`)).subarray(0, Math.min(32, n - filled)), filled);
    }
    return out;
  };
}

const dirs: string[] = [];

/** A fresh directory under the system temp dir; `removeTempDirs()` deletes every one made so far. */
export async function tempDir(prefix = "agent-test-"): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

export async function removeTempDirs(): Promise<void> {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}
