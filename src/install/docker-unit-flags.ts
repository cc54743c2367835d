/**
 * Authorization plugins given to dockerd on its command line in systemd unit files (an override
 * /etc/systemd/system/docker.service or a drop-in docker.service.d/*.conf). dockerd refuses to start when
 * daemon.json and a flag both set the list, so install and uninstall look here before touching daemon.json.
 */
import type { FileSystem } from "../ports.ts";
import { joinPath } from "../store/path.ts";

export interface FlagSource {
  readonly file: string;
  readonly plugins: readonly string[];
}

const FLAG = /--authorization-plugin(?:=|\s+)(["']?)([^\s"']+)\1/g;

/** Plugin names given with --authorization-plugin on ExecStart lines of a unit file's text. */
export function flagPlugins(unitText: string): string[] {
  const names: string[] = [];
  // systemd joins lines ending in a backslash.
  for (const line of unitText.replace(/\\\r?\n/g, " ").split("\n")) {
    if (!/^\s*ExecStart\s*=/.test(line)) continue;
    for (const match of line.matchAll(FLAG)) if (match[2] !== undefined) names.push(match[2]);
  }
  return names;
}

/** Unit files under `systemdDir` (/etc/systemd/system) that pass --authorization-plugin to dockerd. */
export async function dockerUnitFlags(fs: FileSystem, systemdDir: string): Promise<FlagSource[]> {
  const dropIns = joinPath(systemdDir, "docker.service.d");
  const files = [
    joinPath(systemdDir, "docker.service"),
    ...(await fs.list(dropIns)).filter((name) => name.endsWith(".conf")).map((name) =>
      joinPath(dropIns, name)
    ),
  ];
  const sources: FlagSource[] = [];
  for (const file of files) {
    const info = await fs.stat(file);
    if (!info || info.isDirectory) continue;
    const plugins = flagPlugins(await fs.readText(file));
    if (plugins.length > 0) sources.push({ file, plugins });
  }
  return sources;
}
