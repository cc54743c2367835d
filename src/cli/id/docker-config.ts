/**
 * The macaroon in the docker client's config.json (src/cli/docker-config.ts has the file itself): the
 * docker CLI sends HttpHeaders.X-Macaroon on every call, which is how the macaroon reaches the plugin.
 */
import type { FileSystem } from "../../ports.ts";
import { joinPath } from "../../store/path.ts";
import {
  type ClientConfig,
  headerOf,
  readClientConfig,
  withHeader,
  writeClientConfig,
} from "../docker-config.ts";

export const MACAROON_HEADER = "X-Macaroon";

/** The X-Macaroon the docker client sends by default, if any. */
export function macaroonHeaderOf(config: ClientConfig): string | undefined {
  return headerOf(config, MACAROON_HEADER);
}

/** A copy with X-Macaroon set to `token`, or removed when `token` is undefined (HttpHeaders dropped if empty). */
export function withMacaroonHeader(config: ClientConfig, token: string | undefined): ClientConfig {
  return withHeader(config, MACAROON_HEADER, token);
}

const MAX_COPY_DEPTH = 8;

/**
 * A throw-away config directory for one command: config.json with the header, the docker contexts copied
 * (a non-default context lives there), and the user's CLI plugins still found through cliPluginsExtraDirs.
 */
export async function writeTemporaryConfig(
  fs: FileSystem,
  sourceDir: string,
  targetDir: string,
  token: string,
): Promise<void> {
  await fs.mkdir(targetDir, 0o700);
  let config = withMacaroonHeader(await readClientConfig(fs, sourceDir), token);
  const plugins = joinPath(sourceDir, "cli-plugins");
  if ((await fs.stat(plugins))?.isDirectory) {
    const extra = Array.isArray(config["cliPluginsExtraDirs"]) ? config["cliPluginsExtraDirs"] : [];
    config = { ...config, cliPluginsExtraDirs: [...extra, plugins] };
  }
  await writeClientConfig(fs, targetDir, config);
  await copyTree(fs, joinPath(sourceDir, "contexts"), joinPath(targetDir, "contexts"), 0);
}

async function copyTree(fs: FileSystem, from: string, to: string, depth: number): Promise<void> {
  const info = await fs.stat(from);
  if (info === undefined || depth > MAX_COPY_DEPTH) return;
  if (!info.isDirectory) {
    await fs.writeAtomic(to, await fs.readBytes(from), info.mode & 0o700);
    return;
  }
  await fs.mkdir(to, 0o700);
  for (const name of await fs.list(from)) {
    await copyTree(fs, joinPath(from, name), joinPath(to, name), depth + 1);
  }
}
