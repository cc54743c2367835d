/**
 * The core is pure: every file under src/ except src/runtime/ and src/main.ts imports only relative modules
 * and the chosen libraries, and never reaches for a runtime, the clock or the RNG itself (those come in
 * through src/ports.ts). This is what lets the same source run under Bun and Deno and keeps tests
 * deterministic.
 */
import { describe, expect, test } from "bun:test";
import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";

const SRC = join(import.meta.dir, "../../src");
const ALLOWED_PACKAGE =
  /^(?:hono(?:\/.*)?|cac|yaml|@peculiar\/x509|@noble\/(?:hashes|ciphers)\/[a-z0-9_.-]+\.js)$/;
const FORBIDDEN_CODE =
  /\b(?:Bun|Deno)\.|\bprocess\.(?:env|argv|exit)|\bDate\.now\(|new Date\(\)|Math\.random|getRandomValues/;

async function coreFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const rel = relative(SRC, path);
    if (rel === "runtime" || rel === "main.ts") continue;
    if (entry.isDirectory()) out.push(...await coreFiles(path));
    else if (entry.name.endsWith(".ts")) out.push(path);
  }
  return out.sort();
}

/** Code without comments (comments may mention what callers import). */
async function code(path: string): Promise<string> {
  return (await readFile(path, "utf8")).replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
}

describe("core purity", async () => {
  const files = await coreFiles(SRC);

  test("finds the core files (every module folder)", () => {
    expect(files.length).toBeGreaterThan(100);
  });

  for (const file of files) {
    test(`${relative(SRC, file)} imports only relative modules and the chosen libraries`, async () => {
      const text = await code(file);
      // Module specifiers of import/export statements only (help texts quote shell words).
      const specifiers = [...text.matchAll(/^(?:import|export)\b[^;]*?(?:from\s+|import\s+)"([^"]+)";/gm)]
        .map((m) => m[1] ?? "");
      for (const specifier of specifiers) {
        const ok = specifier.startsWith("./") || specifier.startsWith("../") ||
          ALLOWED_PACKAGE.test(specifier);
        expect(ok ? specifier : `forbidden import ${specifier}`).toBe(specifier);
      }
      expect(text).not.toMatch(FORBIDDEN_CODE);
    });
  }

  test("the checks catch a runtime import and a clock read", () => {
    expect('import { x } from "node:fs";').toMatch(/"node:fs"/);
    expect(ALLOWED_PACKAGE.test("node:fs")).toBe(false);
    expect(ALLOWED_PACKAGE.test("bun")).toBe(false);
    expect(ALLOWED_PACKAGE.test("@noble/hashes/hmac.js")).toBe(true);
    expect("const t = Date.now();").toMatch(FORBIDDEN_CODE);
    expect("const t = new Date();").toMatch(FORBIDDEN_CODE);
    expect("const t = new Date(ms);").not.toMatch(FORBIDDEN_CODE);
  });
});
