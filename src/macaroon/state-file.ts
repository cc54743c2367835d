/** Reading and writing the macaroon state files (JSON, atomic, 0600) through the FileSystem port. */
import { AgentError } from "../errors.ts";
import type { FileSystem } from "../ports.ts";
import { SECRET_DIR_MODE, SECRET_FILE_MODE } from "../store/layout.ts";
import { dirName } from "../store/path.ts";

export function corrupt(what: string, path: string, detail: string): AgentError {
  return new AgentError("ERR_STATE_CORRUPT", `${what} is corrupt: ${path}`, detail);
}

/** Parsed JSON, or undefined when the file does not exist. Never includes file content in errors. */
export async function readStateJson(fs: FileSystem, path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    if ((await fs.stat(path)) === undefined) return undefined;
    text = await fs.readText(path);
  } catch (err) {
    if (err instanceof AgentError && err.code === "ERR_STATE_PERMISSIONS") throw err;
    throw new AgentError(
      "ERR_STATE_CORRUPT",
      `cannot read ${what}: ${path}`,
      err instanceof Error ? err.message : "",
    );
  }
  try {
    return JSON.parse(text);
  } catch {
    throw corrupt(what, path, "not JSON");
  }
}

/** "create" refuses to replace an existing file (ERR_STATE_EXISTS); "replace" writes atomically. */
export type WriteMode = "create" | "replace";

export async function writeStateJson(
  fs: FileSystem,
  path: string,
  value: unknown,
  mode: WriteMode,
): Promise<void> {
  await fs.mkdir(dirName(path), SECRET_DIR_MODE);
  const text = JSON.stringify(value, null, 2) + "\n";
  if (mode === "create") await fs.writeExclusive(path, text, SECRET_FILE_MODE);
  else await fs.writeAtomic(path, text, SECRET_FILE_MODE);
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;

export function isTimestamp(value: unknown): value is string {
  return typeof value === "string" && TIMESTAMP.test(value) && !Number.isNaN(Date.parse(value));
}
