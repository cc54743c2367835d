import { describe, expect, test } from "bun:test";
import { bunPlatform } from "../../../src/runtime/bun-platform.ts";
import { currentRuntime, loadPlatform, permissionTolerantEnv } from "../../../src/runtime/select-runtime.ts";

/** A stand-in for Deno's process.env under `--allow-env=AGENT_POLICY`: other names throw NotCapable. */
function guardedEnv(values: Record<string, string>, readable: readonly string[]) {
  return new Proxy(values, {
    get(target, key) {
      if (typeof key === "string" && !readable.includes(key)) throw new Error(`NotCapable: ${key}`);
      return Reflect.get(target, key);
    },
    has(_target, key) {
      throw new Error(`NotCapable: ${String(key)}`);
    },
    ownKeys() {
      throw new Error("NotCapable: all");
    },
  });
}

describe("runtime selection", () => {
  test("picks Bun under bun test, and loads the Bun platform for it", async () => {
    expect(currentRuntime()).toBe("bun");
    expect(await loadPlatform("bun")).toBe(bunPlatform);
  });
});

describe("permissionTolerantEnv", () => {
  const env = permissionTolerantEnv(
    guardedEnv({ AGENT_POLICY: "/srv/policy.yaml", HOME: "/root" }, ["AGENT_POLICY"]),
  );

  test("reads a variable the process may read", () => {
    expect(env["AGENT_POLICY"]).toBe("/srv/policy.yaml");
  });

  test("treats a variable the process may not read as unset instead of throwing", () => {
    expect(env["HOME"]).toBeUndefined();
    expect("HOME" in env).toBe(false);
  });

  test("enumerates nothing when listing the environment is not permitted", () => {
    expect(Object.keys(env)).toEqual([]);
    expect({ ...env }).toEqual({});
  });

  test("passes an unguarded environment through unchanged", () => {
    const open = permissionTolerantEnv({ A: "1", B: "2" });
    expect(open["A"]).toBe("1");
    expect(open["MISSING"]).toBeUndefined();
    expect({ ...open }).toEqual({ A: "1", B: "2" });
  });
});
