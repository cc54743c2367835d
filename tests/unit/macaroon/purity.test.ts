/** The macaroon library is pure core: no runtime-specific imports or globals. */
import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "../../../src/macaroon");

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : []
  );
}

test("src/macaroon imports no bun, node or deno module and touches no runtime global", () => {
  const offences: string[] = [];
  for (const file of files(ROOT)) {
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(/from\s+"([^"]+)"/g)) {
      const spec = m[1]!;
      if (!spec.startsWith(".") && !spec.startsWith("@noble/")) offences.push(`${file}: imports ${spec}`);
    }
    if (/\b(Bun|Deno)\.|\bprocess\.(env|argv|exit)|\brequire\(/.test(text)) {
      offences.push(`${file}: runtime global`);
    }
  }
  expect(offences).toEqual([]);
});
