/** The README's examples of the embedded demo policy show the hash it really has (they went stale once). */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DEMO_POLICY, loadPolicy } from "../../src/policy/index.ts";

const README = readFileSync(join(import.meta.dir, "..", "..", "README.md"), "utf8").split("\n");
const DEMO_HASH = loadPolicy(DEMO_POLICY, "demo").hash;

describe("README examples", () => {
  test("every `policy test --demo ... --json` example answers with the demo policy's hash", () => {
    let checked = 0;
    README.forEach((line, i) => {
      if (!/agent policy test --demo .*--json/.test(line)) return;
      const answer = README.slice(i + 1, i + 3).find((l) => l.includes('"policyHash"'));
      expect(answer).toBeDefined();
      expect(answer!).toContain(`"policyHash":"${DEMO_HASH}"`);
      checked++;
    });
    expect(checked).toBeGreaterThan(0);
  });

  test("log lines of the demo policy as /etc/agent/policy.yaml show its short hash", () => {
    const lines = README.filter((l) =>
      / agent: .*\/etc\/agent\/policy\.yaml \(13 rules, sha256 [0-9a-f]{12}\)/.test(l)
    );
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line).toContain(`(13 rules, sha256 ${DEMO_HASH.slice(0, 12)})`);
  });
});
