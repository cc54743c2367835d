/** cac's "Unused args" error never echoes what may be a key or a token (`agent apikey set alice KEY`). */
import { describe, expect, test } from "bun:test";
import { withoutSecrets } from "../../../src/cli/index.ts";

const KEY = "agt_4K5dlV8Pk4mIta6T7IlWq5WNH70I0FEMXdbhNlpyE842p3mAC";

describe("withoutSecrets", () => {
  test("short words are shown, as cac showed them", () => {
    expect(withoutSecrets("Unused args: `foo`, `bar`")).toBe("too many arguments: `foo`, `bar`");
  });

  test("an API key, or any long word, is counted and not shown", () => {
    const said = withoutSecrets(`Unused args: \`${KEY}\``);
    expect(said).not.toContain(KEY);
    expect(said).not.toContain(KEY.slice(4, 20));
    expect(said).toContain("1 more not shown");
    const token = "MDAxY2xvY2F0aW9uIGFnZW50CjAwMWNpZGVudGlmaWVy";
    const mixed = withoutSecrets(`Unused args: \`x\`, \`${token}\`, \`agt_short\``);
    expect(mixed).toBe(
      "too many arguments: `x`; 2 more not shown (it may be a key or a token: never put one on the command line)",
    );
  });

  test("other messages are unchanged", () => {
    expect(withoutSecrets("missing required args for command `set <token>`")).toBe(
      "missing required args for command `set <token>`",
    );
  });
});
