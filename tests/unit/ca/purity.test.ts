/** The CA is core code: no runtime-specific imports or globals (time, randomness and files come in as ports). */
import { describe, expect, test } from "bun:test";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

const SRC = join(import.meta.dir, "../../../src/ca");
const ALLOWED_PACKAGES = ["@peculiar/x509", "@noble/hashes/sha2.js"];

describe("src/ca purity", async () => {
  const files = (await readdir(SRC)).filter((f) => f.endsWith(".ts"));
  test("has files to check", () => {
    expect(files.length).toBeGreaterThan(10);
  });
  for (const file of files) {
    test(`${file} imports only relative modules and ${ALLOWED_PACKAGES.join(", ")}`, async () => {
      // Comments may mention what callers import; only code counts.
      const text = (await readFile(join(SRC, file), "utf8")).replace(/\/\*[\s\S]*?\*\//g, "").replace(
        /^\s*\/\/.*$/gm,
        "",
      );
      const specifiers = [...text.matchAll(/(?:from|import)\s+"([^"]+)"/g)].map((m) => m[1] ?? "");
      for (const specifier of specifiers) {
        const ok = specifier.startsWith("./") || specifier.startsWith("../") ||
          ALLOWED_PACKAGES.includes(specifier);
        expect(ok ? specifier : `forbidden import ${specifier}`).toBe(specifier);
      }
      expect(text).not.toMatch(
        /\b(?:Bun|Deno)\.|\bprocess\.(?:env|argv|exit)|\bDate\.now\(|new Date\(\)|Math\.random|getRandomValues/,
      );
    });
  }
});
