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
  // Deno refuses paths outside its --allow-read/--allow-write lists with its own error (no errno code).
  if ((err as { name?: string }).name === "NotCapable") {
    return new AgentError(
      "ERR_STATE_PERMISSIONS",
      `cannot use ${path}: outside the paths Deno may read or write`,
    );
  }
  const why = code === undefined ? undefined : IO_REASONS[code];
  return new AgentError("ERR_STATE_IO", `cannot use ${path}: ${why ?? "input/output error"}`, code);
}

/** errno codes as sentences: the user reads what is wrong with the file, not ENOENT. */
const IO_REASONS: Readonly<Record<string, string>> = {
  ENOENT: "no such file or directory",
  EISDIR: "it is a directory, not a file",
  ENOTDIR: "a part of the path is not a directory",
  ENOSPC: "no space left on the device",
  EROFS: "the file system is read-only",
  ELOOP: "too many symbolic links",
  ENAMETOOLONG: "the name is too long",
  EMFILE: "too many open files",
  EBUSY: "the file is busy",
};

async function fsyncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

let tempCounter = 0;

/** link(2) errors meaning "this file system has no hard links" (EPERM is what Linux returns for that). */
const LINK_UNSUPPORTED = new Set(["EPERM", "ENOTSUP", "EOPNOTSUPP"]);

/** Creates `path` (O_EXCL) with `data`, mode and contents synced to disk. */
async function writeFileDurably(path: string, data: string | Uint8Array, mode: number): Promise<void> {
  const handle = await fs.open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  try {
    await handle.writeFile(data);
    await handle.chmod(mode);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

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
      await writeFileDurably(temp, data, mode);
      await fs.rename(temp, path);
      await fsyncDir(dirname(path));
    } catch (err) {
      await fs.rm(temp, { force: true }).catch(() => {});
      throw ioError(path, err);
    }
  },
  async writeExclusive(path, data, mode) {
    // Written in full under a temp name, then linked into place: link(2) fails if `path` exists (like
    // O_EXCL) and publishes the whole file at once, so a crash never leaves a partial key at `path`.
    const temp = `${path}.tmp-${process.pid}-${++tempCounter}`;
    try {
      await writeFileDurably(temp, data, mode);
      try {
        await fs.link(temp, path);
      } catch (err) {
        if (!LINK_UNSUPPORTED.has((err as { code?: string }).code ?? "")) throw err;
        await writeFileDurably(path, data, mode); // a file system without hard links: plain O_EXCL
      }
      await fs.rm(temp, { force: true });
      await fsyncDir(dirname(path));
    } catch (err) {
      await fs.rm(temp, { force: true }).catch(() => {});
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
