/** FileSystem on node:fs (works under Bun and Deno). Atomic writes: temp file, fsync, rename, fsync dir. */
import * as fs from "node:fs/promises";
import { constants } from "node:fs";
import { dirname } from "node:path";
import { AgentError } from "../errors.ts";
import type { FileInfo, FileSystem } from "../ports.ts";

function ioError(path: string, err: unknown): AgentError {
  const code = (err as { code?: string }).code;
  if (code === "EEXIST") return new AgentError("ERR_STATE_EXISTS", `file exists: ${path}`);
  if (code === "EACCES" || code === "EPERM") {
    return new AgentError("ERR_STATE_PERMISSIONS", `permission denied: ${path}`);
  }
  return new AgentError("ERR_STATE_IO", `cannot access ${path}: ${code ?? "I/O error"}`);
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

let tempCounter = 0;

export const nodeFileSystem: FileSystem = {
  async readText(path) {
    try {
      return await fs.readFile(path, "utf8");
    } catch (err) {
      throw ioError(path, err);
    }
  },
  async readBytes(path) {
    try {
      return new Uint8Array(await fs.readFile(path));
    } catch (err) {
      throw ioError(path, err);
    }
  },
  async writeAtomic(path, data, mode) {
    const temp = `${path}.tmp-${process.pid}-${++tempCounter}`;
    try {
      const handle = await fs.open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
      try {
        await handle.writeFile(data);
        await handle.chmod(mode);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.rename(temp, path);
      await fsyncDir(dirname(path));
    } catch (err) {
      await fs.rm(temp, { force: true }).catch(() => {});
      throw ioError(path, err);
    }
  },
  async writeExclusive(path, data, mode) {
    try {
      const handle = await fs.open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
      try {
        await handle.writeFile(data);
        await handle.chmod(mode);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fsyncDir(dirname(path));
    } catch (err) {
      throw ioError(path, err);
    }
  },
  async appendLine(path, line, mode) {
    try {
      await fs.appendFile(path, line + "\n", { mode });
    } catch (err) {
      throw ioError(path, err);
    }
  },
  async stat(path): Promise<FileInfo | undefined> {
    try {
      const s = await fs.stat(path);
      return {
        mode: s.mode & 0o7777,
        size: s.size,
        mtimeMs: s.mtimeMs,
        isDirectory: s.isDirectory(),
        uid: s.uid,
      };
    } catch (err) {
      if ((err as { code?: string }).code === "ENOENT") return undefined;
      throw ioError(path, err);
    }
  },
  async mkdir(path, mode) {
    try {
      await fs.mkdir(path, { recursive: true, mode });
    } catch (err) {
      throw ioError(path, err);
    }
  },
  async list(dir) {
    try {
      return (await fs.readdir(dir)).sort();
    } catch (err) {
      if ((err as { code?: string }).code === "ENOENT") return [];
      throw ioError(dir, err);
    }
  },
  async rename(from, to) {
    try {
      await fs.rename(from, to);
    } catch (err) {
      throw ioError(to, err);
    }
  },
  async remove(path) {
    try {
      await fs.rm(path, { force: true });
    } catch (err) {
      throw ioError(path, err);
    }
  },
  async removeTree(path) {
    try {
      await fs.rm(path, { recursive: true, force: true });
    } catch (err) {
      throw ioError(path, err);
    }
  },
  async chmod(path, mode) {
    try {
      await fs.chmod(path, mode);
    } catch (err) {
      throw ioError(path, err);
    }
  },
};
