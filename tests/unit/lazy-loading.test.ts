/**
 * What a command loads before it runs: the static (value) imports reachable from each entry. Heavy pieces
 * load on first use through `await import()`, and these checks keep a new static import from pulling them
 * back in: `agent serve` on a plugin-only host loads no X.509 library, no HTTPS API, console, gateway or
 * fleet, and no node:http or node:tls; `agent policy`, `agent id`, `agent apikey` and `agent ca` (its help, its
 * option errors) load no X.509 library.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = join(import.meta.dir, "../..");

/** Specifiers of value imports and re-exports (`import type` and all-type braces are not loaded). */
function valueImports(text: string): string[] {
  const out: string[] = [];
  const statements = /^(import|export)\s+(?!type\b)([^;]*?)\s*from\s+"([^"]+)";|^import\s+"([^"]+)";/gms;
  for (const m of text.matchAll(statements)) {
    if (m[4] !== undefined) {
      out.push(m[4]);
      continue;
    }
    const clause = m[2] ?? "";
    const braces = /^\{([\s\S]*)\}$/.exec(clause.trim());
    if (braces !== null) {
      const names = braces[1]!.split(",").map((n) => n.trim()).filter((n) => n !== "");
      if (names.length > 0 && names.every((n) => n.startsWith("type "))) continue;
    }
    out.push(m[3]!);
  }
  return out;
}

/** Every module statically reachable from `entry`, with the chain that reaches it. */
function reachable(entry: string): Map<string, string[]> {
  const chains = new Map<string, string[]>();
  const walk = (file: string, chain: string[]) => {
    if (chains.has(file)) return;
    chains.set(file, chain);
    if (!file.startsWith("/") || !existsSync(file)) return;
    for (const spec of valueImports(readFileSync(file, "utf8"))) {
      const next = spec.startsWith(".") ? resolve(dirname(file), spec) : spec;
      walk(next, [...chain, relative(ROOT, file)]);
    }
  };
  walk(join(ROOT, entry), []);
  return chains;
}

function firstReached(graph: Map<string, string[]>, fragment: string): string | undefined {
  for (const [file, chain] of graph) {
    if (file.includes(fragment)) return `${relative(ROOT, file) || file} <- ${chain.reverse().join(" <- ")}`;
  }
  return undefined;
}

const HEAVY_FOR_SERVE = [
  "@peculiar/x509",
  "node:http",
  "node:tls",
  "src/api/app.ts",
  "src/console/console-app.ts",
  "src/gateway/gateway.ts",
  "src/fleet/follower.ts",
  "src/audit/syslog-sink.ts",
];

describe("lazy loading", () => {
  test("the parser sees value imports and skips type-only ones", () => {
    expect(valueImports('import { a, type B } from "./a.ts";\nimport type { C } from "./c.ts";')).toEqual([
      "./a.ts",
    ]);
    expect(valueImports('import { type B } from "./b.ts";\nimport "reflect-metadata";')).toEqual([
      "reflect-metadata",
    ]);
    expect(valueImports('export { x } from "./x.ts";\nexport * from "./y.ts";')).toEqual([
      "./x.ts",
      "./y.ts",
    ]);
  });

  test("the walk finds what it should: the CA's operations reach the X.509 library, the listener node:tls and the console", () => {
    expect(firstReached(reachable("src/ca/index.ts"), "@peculiar/x509")).toBeDefined();
    expect(firstReached(reachable("src/cli/apikey/client.ts"), "@peculiar/x509")).toBeDefined();
    expect(firstReached(reachable("src/runtime/https-listener.ts"), "node:tls")).toBeDefined();
    expect(firstReached(reachable("src/cli/serve-https.ts"), "src/console/console-app.ts")).toBeDefined();
  });

  test("agent serve (with install, uninstall and doctor declared) loads nothing heavy until asked", () => {
    const graph = reachable("src/cli/serve.ts");
    expect(graph.size).toBeGreaterThan(50);
    const found = HEAVY_FOR_SERVE.map((heavy) => firstReached(graph, heavy)).filter((f) => f !== undefined);
    expect(found).toEqual([]);
  });

  test("the Bun platform loads node:http and node:tls only when a listener or a hop first needs them", () => {
    const graph = reachable("src/runtime/bun-platform.ts");
    expect([firstReached(graph, "node:http"), firstReached(graph, "https-listener")]).toEqual([
      undefined,
      undefined,
    ]);
  });

  test("agent policy, id, apikey and ca (until an operation runs) load no X.509 library", () => {
    const entries = [
      "src/cli/policy.ts",
      "src/cli/id.ts",
      "src/cli/apikey.ts",
      "src/cli/ca.ts",
      "src/decide/decide.ts",
    ];
    for (const entry of entries) {
      expect([entry, firstReached(reachable(entry), "@peculiar/x509")]).toEqual([entry, undefined]);
    }
  });
});
