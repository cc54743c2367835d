/** The action records across restarts: round trip, an interrupted action read as Failed, a broken file. */
import { afterAll, describe, expect, test } from "bun:test";
import { statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ActionLog, loadActions, saveActions } from "../../../src/api/index.ts";
import type { ActionRecord } from "../../../src/api/action.ts";
import { INTERRUPTED } from "../../../src/api/action-file.ts";
import { nodeFileSystem } from "../../../src/runtime/node-file-system.ts";
import { removeTempDirs, tempDir } from "../../helpers/fixtures.ts";

afterAll(removeTempDirs);

const fs = nodeFileSystem;
const now = () => new Date("2026-06-01T12:00:00Z");

function record(n: number, state: ActionRecord["state"]): ActionRecord {
  return {
    uuid: `0000000${n}-0000-4000-8000-000000000000`,
    resource_uri: `/api/audit/v1/action/0000000${n}-0000-4000-8000-000000000000/`,
    namespace: "alice",
    object: "/api/app/v1/alice/service/x/",
    action: "Service Scale",
    method: "POST",
    path: "/api/app/v1/service/x/scale/",
    user: "alice",
    user_agent: "curl",
    ip: "192.0.2.1",
    start_date: "2026-06-01T10:00:00.000Z",
    end_date: state === "In progress" ? null : "2026-06-01T10:00:01.000Z",
    state,
    logs: "",
    decision: { id: "abc", allowed: true, rule: "r", decided_by: "all-gates" },
    is_user_action: true,
    can_be_canceled: false,
    can_be_retried: false,
  };
}

describe("actions.json", () => {
  test("round trip, 0600; an action still in progress is read as Failed, saying why", async () => {
    const path = join(await tempDir("agent-actions"), "actions.json");
    const log = new ActionLog(undefined, [record(1, "Success"), record(2, "In progress")]);
    expect(log.version).toBe(0);
    await saveActions(fs, path, log.all());
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const loaded = await loadActions(fs, path, now);
    expect(loaded.problem).toBeUndefined();
    expect(loaded.records[0]).toEqual(record(1, "Success"));
    expect(loaded.records[1]).toMatchObject({
      state: "Failed",
      logs: INTERRUPTED,
      end_date: "2026-06-01T12:00:00.000Z",
    });
    const again = new ActionLog(undefined, loaded.records);
    expect(again.list("alice").map((a) => a.uuid)).toEqual([
      record(2, "Failed").uuid,
      record(1, "Success").uuid,
    ]);
  });

  test("no file is an empty ring; a broken or foreign one is an empty ring with the reason", async () => {
    const dir = await tempDir("agent-actions");
    expect(await loadActions(fs, join(dir, "none.json"), now)).toEqual({ records: [] });
    for (const text of ["{", '{"version": 2, "actions": []}', '"x"']) {
      writeFileSync(join(dir, "a.json"), text);
      const loaded = await loadActions(fs, join(dir, "a.json"), now);
      expect(loaded.records).toEqual([]);
      expect(loaded.problem).toContain(join(dir, "a.json"));
    }
    // Entries that are not records are skipped, the rest kept.
    writeFileSync(
      join(dir, "b.json"),
      JSON.stringify({ version: 1, actions: [{ uuid: 1 }, record(3, "Failed")] }),
    );
    expect((await loadActions(fs, join(dir, "b.json"), now)).records.map((r) => r.uuid)).toEqual([
      record(3, "Failed").uuid,
    ]);
  });
});
