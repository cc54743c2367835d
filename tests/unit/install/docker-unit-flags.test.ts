import { afterAll, describe, expect, test } from "bun:test";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { dockerUnitFlags } from "../../../src/install/index.ts";
import { flagPlugins } from "../../../src/install/docker-unit-flags.ts";
import { nodeFileSystem } from "../../../src/runtime/node-file-system.ts";
import { removeTempRoots, tempRoot } from "./helpers.ts";

afterAll(removeTempRoots);

describe("--authorization-plugin flags in docker.service", () => {
  test("reads = and space forms, quoted or not, several per line", () => {
    const text = [
      "[Service]",
      "ExecStart=",
      `ExecStart=/usr/bin/dockerd -H fd:// --authorization-plugin=agent --authorization-plugin "opa"`,
    ].join("\n");
    expect(flagPlugins(text)).toEqual(["agent", "opa"]);
  });

  test("follows lines continued with a backslash", () => {
    expect(flagPlugins("ExecStart=/usr/bin/dockerd \\\n  --authorization-plugin=agent\n")).toEqual(["agent"]);
  });

  test("ignores comments and other directives", () => {
    const text =
      "# ExecStart=/usr/bin/dockerd --authorization-plugin=agent\nEnvironment=X=--authorization-plugin=y\n";
    expect(flagPlugins(text)).toEqual([]);
  });

  test("finds the flag in an override unit and in drop-ins, not in other files", async () => {
    const root = await tempRoot();
    const systemd = join(root, "etc/systemd/system");
    await mkdir(join(systemd, "docker.service.d"), { recursive: true });
    await writeFile(
      join(systemd, "docker.service.d/authz.conf"),
      "[Service]\nExecStart=\nExecStart=/usr/bin/dockerd --authorization-plugin=agent\n",
    );
    await writeFile(
      join(systemd, "docker.service.d/notes.txt"),
      "ExecStart=/usr/bin/dockerd --authorization-plugin=x\n",
    );
    await writeFile(join(systemd, "docker.service.d/other.conf"), "[Service]\nLimitNOFILE=1024\n");
    expect(await dockerUnitFlags(nodeFileSystem, systemd)).toEqual([
      { file: join(systemd, "docker.service.d/authz.conf"), plugins: ["agent"] },
    ]);
    expect(await dockerUnitFlags(nodeFileSystem, join(root, "nowhere"))).toEqual([]);
  });
});
