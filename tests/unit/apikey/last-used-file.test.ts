/** Last-used times live in their own file, merged in batches: later times win, a broken file is replaced. */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadLastUsed, saveLastUsed } from "../../../src/apikey/index.ts";
import { nodeFileSystem } from "../../../src/runtime/node-file-system.ts";
import { stateLayout } from "../../../src/store/layout.ts";
import { removeTempDirs, tempDir } from "../../helpers/fixtures.ts";

afterAll(removeTempDirs);

const A = "4622b797f17f";
const B = "31793d72e918";

describe("the API key last-used file", () => {
  test("is empty when missing, and merges batches keeping the later time of each key", async () => {
    const layout = stateLayout(await tempDir("agent-lastused-"));
    expect((await loadLastUsed(nodeFileSystem, layout)).size).toBe(0);
    expect(await saveLastUsed(nodeFileSystem, layout, new Map([[A, "2026-12-01T10:00:00.000Z"]]))).toBe(1);
    const changed = await saveLastUsed(
      nodeFileSystem,
      layout,
      new Map([[A, "2026-12-01T09:00:00.000Z"], [B, "2026-12-01T11:00:00.000Z"]]),
    );
    expect(changed).toBe(1);
    expect(Object.fromEntries(await loadLastUsed(nodeFileSystem, layout))).toEqual({
      [A]: "2026-12-01T10:00:00.000Z",
      [B]: "2026-12-01T11:00:00.000Z",
    });
    expect(statSync(layout.apiKeysUsed).mode & 0o777).toBe(0o600);
    expect(existsSync(layout.apiKeys)).toBe(false); // apikeys.json is never written
  });

  test("a broken file counts as empty and the next batch replaces it; bad entries are dropped", async () => {
    const layout = stateLayout(await tempDir("agent-lastused-"));
    writeFileSync(layout.apiKeysUsed, "{ not json");
    expect((await loadLastUsed(nodeFileSystem, layout)).size).toBe(0);
    await saveLastUsed(nodeFileSystem, layout, new Map([[A, "2026-12-01T10:00:00.000Z"]]));
    writeFileSync(
      layout.apiKeysUsed,
      JSON.stringify({
        version: 1,
        lastUsed: { [A]: "2026-12-01T10:00:00.000Z", "../x": "now", [B]: "yesterday" },
      }),
    );
    expect([...(await loadLastUsed(nodeFileSystem, layout)).keys()]).toEqual([A]);
    expect(join(layout.root, "apikeys-used.json")).toBe(layout.apiKeysUsed);
  });
});
