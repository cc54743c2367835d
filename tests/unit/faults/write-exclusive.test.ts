/**
 * writeExclusive (keys.json at `id init`, cluster.key, issued keys) publishes the whole file at once
 * (temp file, then link): a crash never leaves a partial key at the final path, and it still refuses
 * to write through anything already there.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nodeFileSystem } from "../../../src/runtime/node-file-system.ts";

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function dir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "agent-faults-"));
  dirs.push(d);
  return d;
}

describe("nodeFileSystem.writeExclusive", () => {
  test("creates the file with its mode and leaves no temp file behind", async () => {
    const d = await dir();
    await nodeFileSystem.writeExclusive(join(d, "k.json"), "secret\n", 0o600);
    expect(await readFile(join(d, "k.json"), "utf8")).toBe("secret\n");
    expect((await stat(join(d, "k.json"))).mode & 0o777).toBe(0o600);
    expect(await readdir(d)).toEqual(["k.json"]);
  });

  test("refuses an existing file, leaves it as it was, and removes its temp file", async () => {
    const d = await dir();
    await writeFile(join(d, "k.json"), "old");
    const write = nodeFileSystem.writeExclusive(join(d, "k.json"), "new", 0o600);
    await expect(write).rejects.toMatchObject({
      code: "ERR_STATE_EXISTS",
      message: `file exists: ${join(d, "k.json")}`,
    });
    expect(await readFile(join(d, "k.json"), "utf8")).toBe("old");
    expect(await readdir(d)).toEqual(["k.json"]);
  });

  test("refuses to write through a dangling symbolic link", async () => {
    const d = await dir();
    await symlink(join(d, "elsewhere"), join(d, "k.json"));
    const write = nodeFileSystem.writeExclusive(join(d, "k.json"), "new", 0o600);
    await expect(write).rejects.toMatchObject({ code: "ERR_STATE_EXISTS" });
    expect(await readdir(d)).toEqual(["k.json"]);
  });
});
