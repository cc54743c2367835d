/**
 * Which JavaScript runtime executes the agent, and its Platform. Each runtime's module is imported only
 * when chosen, so Deno never evaluates Bun code paths and the Bun binary never runs Deno's.
 */
import { AgentError } from "../errors.ts";
import type { Env, Platform } from "../ports.ts";

export type RuntimeName = "bun" | "deno";

export function currentRuntime(): RuntimeName {
  if (typeof Bun !== "undefined") return "bun";
  if (typeof Deno !== "undefined") return "deno";
  throw new AgentError("ERR_INTERNAL", "the agent runs only under Bun or Deno");
}

export async function loadPlatform(runtime: RuntimeName): Promise<Platform> {
  if (runtime === "bun") return (await import("./bun-platform.ts")).bunPlatform;
  return (await import("./deno-platform.ts")).denoPlatform;
}

/**
 * A view of the environment where a variable the process may not read counts as unset. Under Deno with
 * `--allow-env=AGENT_...` (scripts/run-deno) reading any other name throws NotCapable; the agent's
 * defaults then apply instead of a crash.
 */
export function permissionTolerantEnv(source: Env): Env {
  const read = <T>(op: () => T, fallback: T): T => {
    try {
      return op();
    } catch {
      return fallback;
    }
  };
  // The proxy's own target is an empty object so its invariants never consult the guarded source.
  return new Proxy<Env>({}, {
    get: (_target, key) => typeof key === "string" ? read(() => source[key], undefined) : undefined,
    has: (_target, key) => typeof key === "string" && read(() => key in source, false),
    ownKeys: () => read(() => Object.keys(source), []),
    getOwnPropertyDescriptor: (_target, key) => {
      if (typeof key !== "string") return undefined;
      const value = read(() => source[key], undefined);
      return value === undefined
        ? undefined
        : { value, enumerable: true, configurable: true, writable: false };
    },
  });
}
