/**
 * The docker client's config.json (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`): the docker CLI
 * sends every `HttpHeaders` entry on every call, which is how the macaroon reaches the plugin. Edits keep
 * every other key, are written atomically with mode 0600, and header names are matched the way Go's
 * http.Header canonicalises them (case-insensitively).
 */
import { AgentError } from "../../errors.ts";
import type { Env, FileSystem } from "../../ports.ts";
import { joinPath } from "../../store/path.ts";

export const CONFIG_FILE = "config.json";
const HEADER = "X-Macaroon";

export type ClientConfig = Record<string, unknown>;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function dockerConfigDir(env: Env): string {
  const dir = env["DOCKER_CONFIG"];
  if (dir !== undefined && dir.length > 0) return dir;
  const home = env["HOME"];
  if (home === undefined || home.length === 0) {
    throw new AgentError("ERR_USAGE", "cannot find the docker client config: set DOCKER_CONFIG or HOME");
  }
  return joinPath(home, ".docker");
}

/** The parsed config, or {} when the file does not exist. Never quotes the file (it may hold credentials). */
export async function readClientConfig(fs: FileSystem, dir: string): Promise<ClientConfig> {
  const path = joinPath(dir, CONFIG_FILE);
  if ((await fs.stat(path)) === undefined) return {};
  const text = await fs.readText(path);
  if (text.trim() === "") return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new AgentError("ERR_DOCKER_CONFIG", `the docker client config is not valid JSON: ${path}`);
  }
  if (!isRecord(parsed)) {
    throw new AgentError("ERR_DOCKER_CONFIG", `the docker client config is not a JSON object: ${path}`);
  }
  return parsed;
}

/** The X-Macaroon the docker client sends by default, if any. */
export function macaroonHeaderOf(config: ClientConfig): string | undefined {
  const headers = config["HttpHeaders"];
  if (!isRecord(headers)) return undefined;
  for (const [name, value] of Object.entries(headers)) {
    if (name.toLowerCase() === "x-macaroon" && typeof value === "string" && value.trim() !== "") return value;
  }
  return undefined;
}

/** A copy with X-Macaroon set to `token`, or removed when `token` is undefined (HttpHeaders dropped if empty). */
export function withMacaroonHeader(config: ClientConfig, token: string | undefined): ClientConfig {
  const existing = config["HttpHeaders"];
  if (existing !== undefined && !isRecord(existing)) {
    throw new AgentError("ERR_DOCKER_CONFIG", "the docker client config's HttpHeaders is not an object");
  }
  const headers: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(existing ?? {})) {
    if (name.toLowerCase() !== "x-macaroon") headers[name] = value;
  }
  if (token !== undefined) headers[HEADER] = token;
  const out: ClientConfig = { ...config };
  if (Object.keys(headers).length === 0) delete out["HttpHeaders"];
  else out["HttpHeaders"] = headers;
  return out;
}

/** Writes config.json the way the docker CLI does (tab-indented JSON), atomically, mode 0600. */
export async function writeClientConfig(fs: FileSystem, dir: string, config: ClientConfig): Promise<string> {
  await fs.mkdir(dir, 0o700);
  const path = joinPath(dir, CONFIG_FILE);
  await fs.writeAtomic(path, JSON.stringify(config, null, "\t") + "\n", 0o600);
  return path;
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
