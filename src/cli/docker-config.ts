/**
 * The docker client's config.json (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`): the docker CLI
 * sends every `HttpHeaders` entry on every call, which is how a macaroon (`agent id set`, X-Macaroon) or an
 * API key (`agent apikey set`, Authorization) reaches the agent. Edits keep every other key, are written
 * atomically with mode 0600, and header names are matched the way Go's http.Header canonicalises them
 * (case-insensitively).
 */
import { AgentError } from "../errors.ts";
import type { Env, FileSystem } from "../ports.ts";
import { joinPath } from "../store/path.ts";

export const CONFIG_FILE = "config.json";

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

/** Where the docker CLI looks for ca.pem, cert.pem and key.pem: $DOCKER_CERT_PATH, else the config directory. */
export function dockerCertDir(env: Env): string {
  const dir = env["DOCKER_CERT_PATH"];
  return dir !== undefined && dir.length > 0 ? dir : dockerConfigDir(env);
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

/** The value of HttpHeaders entry `name` (any case) the docker client sends by default, if any. */
export function headerOf(config: ClientConfig, name: string): string | undefined {
  const headers = config["HttpHeaders"];
  if (!isRecord(headers)) return undefined;
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === wanted && typeof value === "string" && value.trim() !== "") return value;
  }
  return undefined;
}

/**
 * A copy with HttpHeaders entry `name` set to `value` (every other spelling of the name removed), or removed
 * when `value` is undefined; HttpHeaders is dropped when that leaves it empty.
 */
export function withHeader(config: ClientConfig, name: string, value: string | undefined): ClientConfig {
  const existing = config["HttpHeaders"];
  if (existing !== undefined && !isRecord(existing)) {
    throw new AgentError("ERR_DOCKER_CONFIG", "the docker client config's HttpHeaders is not an object");
  }
  const wanted = name.toLowerCase();
  const headers: Record<string, unknown> = {};
  for (const [key, old] of Object.entries(existing ?? {})) {
    if (key.toLowerCase() !== wanted) headers[key] = old;
  }
  if (value !== undefined) headers[name] = value;
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
