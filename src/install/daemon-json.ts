/**
 * Reading and changing dockerd's daemon.json `authorization-plugins` list without touching anything else:
 * every other key is kept (in its order), the plugin is never listed twice, and a file that is not a JSON
 * object, or whose list is not a list of names, is refused untouched (ERR_DOCKER_CONFIG).
 */
import { AgentError } from "../errors.ts";

export const AUTHORIZATION_PLUGINS_KEY = "authorization-plugins";

export interface DockerConfigChange {
  /** The new file text (2-space JSON with a final newline); the old text when nothing changed. */
  readonly text: string;
  readonly changed: boolean;
}

type DockerConfig = Record<string, unknown>;

function invalid(file: string, what: string): AgentError {
  // No parser detail: its message can quote the file, and daemon.json may hold credentials.
  return new AgentError("ERR_DOCKER_CONFIG", `${file} ${what}: fix it by hand (nothing was changed)`);
}

function parse(text: string, file: string): DockerConfig {
  // dockerd skips a UTF-8 byte order mark and reads an empty file as no settings.
  const body = text.replace(/^\uFEFF/, "");
  if (body.trim() === "") return {};
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw invalid(file, "is not valid JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalid(file, "is not a JSON object");
  }
  return value as DockerConfig;
}

function pluginList(config: DockerConfig, file: string): string[] {
  const list = config[AUTHORIZATION_PLUGINS_KEY];
  if (list === undefined) return [];
  if (!Array.isArray(list) || !list.every((name) => typeof name === "string")) {
    throw invalid(file, `has an "${AUTHORIZATION_PLUGINS_KEY}" that is not a list of plugin names`);
  }
  return list as string[];
}

function render(config: DockerConfig): string {
  return JSON.stringify(config, null, 2) + "\n";
}

/** The authorization plugins daemon.json configures ([] when the file or the key is absent). */
export function authorizationPlugins(text: string | undefined, file: string): readonly string[] {
  return text === undefined ? [] : pluginList(parse(text, file), file);
}

/** daemon.json with `name` appended to `authorization-plugins` (created with the file or key when absent). */
export function withAuthorizationPlugin(
  text: string | undefined,
  name: string,
  file: string,
): DockerConfigChange {
  const config = text === undefined ? {} : parse(text, file);
  const list = pluginList(config, file);
  if (list.includes(name)) return { text: text ?? "", changed: false };
  config[AUTHORIZATION_PLUGINS_KEY] = [...list, name];
  return { text: render(config), changed: true };
}

/** daemon.json without `name` in `authorization-plugins`; the key goes when the list becomes empty. */
export function withoutAuthorizationPlugin(text: string, name: string, file: string): DockerConfigChange {
  const config = parse(text, file);
  const list = pluginList(config, file);
  if (!list.includes(name)) return { text, changed: false };
  const rest = list.filter((entry) => entry !== name);
  if (rest.length === 0) delete config[AUTHORIZATION_PLUGINS_KEY];
  else config[AUTHORIZATION_PLUGINS_KEY] = rest;
  return { text: render(config), changed: true };
}
