/** The id commands and the macaroon gate are core code: no runtime imports, no clock or RNG of their own. */
import { describe, expect, test } from "bun:test";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

const SRC = join(import.meta.dir, "../../../src");
const ALLOWED_PACKAGES = ["cac", "@noble/hashes/hmac.js", "@noble/hashes/sha2.js"];

const files = [
  "cli/id.ts",
  ...(await readdir(join(SRC, "cli/id"))).filter((f) => f.endsWith(".ts")).map((f) => `cli/id/${f}`),
  "decide/macaroon-gate.ts",
  "decide/docker-caveats.ts",
  "decide/internal-token.ts",
  "decide/verification-cache.ts",
  "server/macaroon-docker.ts",
];

describe("agent id and macaroon gate purity", () => {
  for (const file of files) {
    test(`${file} imports only relative modules and ${ALLOWED_PACKAGES.join(", ")}`, async () => {
      const text = (await readFile(join(SRC, file), "utf8")).replace(/\/\*[\s\S]*?\*\//g, "").replace(
        /^\s*\/\/.*$/gm,
        "",
      );
      // Module specifiers of import/export statements only (help texts quote shell words like "$T").
      const specifiers = [...text.matchAll(/^(?:import|export)\b[^;]*?(?:from\s+|import\s+)"([^"]+)";/gm)]
        .map((m) => m[1] ?? "");
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
