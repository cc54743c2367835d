/** The lazy command table says of each group what the group itself says (its name and summary). */
import { describe, expect, test } from "bun:test";
import { commandGroups } from "../../../src/cli/commands.ts";

describe("the command table", () => {
  for (const entry of commandGroups) {
    test(`${entry.name || "(top level)"}: the table's name and summary are the group's own`, async () => {
      const group = await entry.load();
      expect({ name: group.name, summary: group.summary }).toEqual({
        name: entry.name,
        summary: entry.summary,
      });
    });
  }

  test("every name is there once", () => {
    const names = commandGroups.map((g) => g.name);
    expect(new Set(names).size).toBe(names.length);
  });
});
