/**
 * A read view of the file system in which some files have other contents (or are absent): the fleet runs
 * the agent's own loaders over the files it is about to write, so a value that would not load is refused
 * before it touches the state directory. Writes are refused: loaders only read.
 */
import { AgentError } from "../errors.ts";
import type { FileInfo, FileSystem } from "../ports.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function overlayFileSystem(base: FileSystem, files: ReadonlyMap<string, string | null>): FileSystem {
  const readOnly = (): never => {
    throw new AgentError("ERR_INTERNAL", "internal error", "the overlay file system is read-only");
  };
  return {
    readText: (path) => {
      const text = files.get(path);
      if (text === null) return Promise.reject(new AgentError("ERR_STATE_IO", `no file at ${path}`));
      return text === undefined ? base.readText(path) : Promise.resolve(text);
    },
    readBytes: (path) => {
      const text = files.get(path);
      if (text === null) return Promise.reject(new AgentError("ERR_STATE_IO", `no file at ${path}`));
      return text === undefined ? base.readBytes(path) : Promise.resolve(encoder.encode(text));
    },
    stat: (path): Promise<FileInfo | undefined> => {
      const text = files.get(path);
      if (text === null) return Promise.resolve(undefined);
      if (text === undefined) return base.stat(path);
      return Promise.resolve({
        mode: 0o600,
        size: encoder.encode(text).length,
        mtimeMs: 0,
        isDirectory: false,
      });
    },
    list: (dir) => base.list(dir),
    writeAtomic: readOnly,
    writeExclusive: readOnly,
    appendLine: readOnly,
    mkdir: readOnly,
    rename: readOnly,
    remove: readOnly,
    removeTree: readOnly,
    chmod: readOnly,
  };
}

export function textOf(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}
