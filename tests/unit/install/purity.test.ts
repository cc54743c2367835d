/** src/install and src/doctor are core code: no runtime-specific imports or globals; files come through the port. */
import { describe, expect, test } from "bun:test";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

const ALLOWED_PACKAGES = ["@peculiar/x509"];

for (const area of ["install", "doctor"]) {
  const dir = join(import.meta.dir, "../../../src", area);
  describe(`src/${area} purity`, async () => {
    const files = (await readdir(dir)).filter((f) => f.endsWith(".ts"));
    test("has files to check", () => {
      expect(files.length).toBeGreaterThan(4);
    });
    for (const file of files) {
      test(`${file} imports only relative modules and ${ALLOWED_PACKAGES.join(", ")}`, async () => {
        const text = (await readFile(join(dir, file), "utf8"))
          .replace(/\/\*[\s\S]*?\*\//g, "")
          .replace(/^\s*\/\/.*$/gm, "");
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
}
