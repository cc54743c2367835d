/**
 * A cheap summary of the files the plugin decides with (name, size, mtime of each file in the watched
 * directories, and of watched files). When it changes, the state is reloaded: this is what makes a
 * revocation or a policy edit take effect within a second without inotify quirks.
 */
import type { FileSystem } from "../ports.ts";
import { joinPath } from "../store/path.ts";

export async function stateFingerprint(fs: FileSystem, paths: readonly string[]): Promise<string> {
  const parts: string[] = [];
  for (const path of paths) {
    const info = await fs.stat(path).catch(() => undefined);
    if (!info) {
      parts.push(`${path}:-`);
      continue;
    }
    if (!info.isDirectory) {
      parts.push(`${path}:${info.size}:${info.mtimeMs}`);
      continue;
    }
    for (const name of await fs.list(path).catch(() => [])) {
      if (name.includes(".tmp-") || name.startsWith("audit.log")) continue;
      const child = await fs.stat(joinPath(path, name)).catch(() => undefined);
      if (child && !child.isDirectory) parts.push(`${path}/${name}:${child.size}:${child.mtimeMs}`);
    }
  }
  return parts.join("|");
}
