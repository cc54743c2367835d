/** Fixtures of the Stream API's tests: events, a file system in memory with fault injection. */
import { AgentError } from "../../../src/errors.ts";
import type { FileInfo, FileSystem } from "../../../src/ports.ts";
import type { NewStreamEvent } from "../../../src/stream/event.ts";

export const ID_A = "a".repeat(64);
export const ID_B = "b".repeat(64);
export const SVC_A = "11111111-1111-4111-8111-111111111111";
export const SVC_B = "22222222-2222-4222-8222-222222222222";

/** A container event of `namespace` (n makes it distinct). */
export function containerEvent(namespace: string, n = 0): NewStreamEvent {
  return {
    type: "container",
    action: "update",
    parents: [`/api/app/v1/${namespace}/service/${SVC_A}/`],
    resource_uri: `/api/app/v1/${namespace}/container/${ID_A}/`,
    state: n % 2 === 0 ? "Running" : "Stopped",
    uuid: ID_A,
    datetime: "2026-06-01T12:00:00Z",
    namespace,
  };
}

export interface MemoryFs extends FileSystem {
  readonly files: Map<string, string>;
  readonly calls: string[];
  /** The next calls of this method fail (once each). */
  failNext(method: "appendLine" | "writeAtomic" | "readText", times?: number): void;
}

export function memoryFs(): MemoryFs {
  const files = new Map<string, string>();
  const modes = new Map<string, number>();
  const calls: string[] = [];
  const failing = new Map<string, number>();
  const maybeFail = (method: string, path: string) => {
    calls.push(`${method} ${path}`);
    const n = failing.get(method) ?? 0;
    if (n > 0) {
      failing.set(method, n - 1);
      throw new AgentError("ERR_STATE_IO", `cannot write ${path}`);
    }
  };
  const unused = () => Promise.reject(new Error("not used by these tests"));
  return {
    files,
    calls,
    failNext(method, times = 1) {
      failing.set(method, times);
    },
    readText(path) {
      maybeFail("readText", path);
      const text = files.get(path);
      return text === undefined
        ? Promise.reject(new AgentError("ERR_STATE_IO", "no file"))
        : Promise.resolve(text);
    },
    readBytes: unused,
    writeAtomic(path, data, mode) {
      maybeFail("writeAtomic", path);
      files.set(path, typeof data === "string" ? data : new TextDecoder().decode(data));
      modes.set(path, mode);
      return Promise.resolve();
    },
    writeExclusive: unused,
    appendLine(path, line, mode) {
      maybeFail("appendLine", path);
      files.set(path, (files.get(path) ?? "") + line + "\n");
      if (!modes.has(path)) modes.set(path, mode);
      return Promise.resolve();
    },
    stat(path): Promise<FileInfo | undefined> {
      const text = files.get(path);
      return Promise.resolve(
        text === undefined
          ? undefined
          : { mode: modes.get(path) ?? 0o600, size: text.length, mtimeMs: 0, isDirectory: false },
      );
    },
    mkdir: unused,
    list: unused,
    rename: unused,
    remove: unused,
    removeTree: unused,
    chmod: unused,
  };
}
