/**
 * Taking a unix socket path without taking it from anyone. A socket file nobody answers on (left by a
 * crash) is replaced; one that answers belongs to a live server - another agent - and is refused, since
 * replacing it would leave that server unreachable and its later shutdown would delete ours. The server
 * listens on a private name first and is renamed into place (with its mode already set), because Bun
 * unlinks the path it listened on when it stops, whoever owns that path by then. On stop, the socket is
 * removed only while it is still the one we created (same device and inode).
 */
import { chmod, lstat, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { createConnection } from "node:net";
import { AgentError } from "../errors.ts";
import type { UnixServer } from "../ports.ts";

const PROBE_TIMEOUT_MS = 1_000;

/** "live" when something accepts a connection on `path`, "stale" when nothing does, "absent" when no file. */
async function probe(path: string): Promise<"live" | "stale" | "absent" | "not-a-socket"> {
  const info = await lstat(path).catch(() => undefined);
  if (info === undefined) return "absent";
  if (!info.isSocket()) return "not-a-socket";
  return await new Promise((resolve) => {
    const socket = createConnection({ path });
    const done = (verdict: "live" | "stale") => {
      clearTimeout(timer);
      socket.destroy();
      resolve(verdict);
    };
    // A server that accepts but is too busy to answer at once is still alive.
    const timer = setTimeout(() => done("live"), PROBE_TIMEOUT_MS);
    socket.once("connect", () => done("live"));
    socket.once("error", (err: NodeJS.ErrnoException) => done(err.code === "EACCES" ? "live" : "stale"));
  });
}

/** Clears the way for a new server on `path`, or refuses (ERR_SOCKET_IN_USE) when it is taken. */
export async function claimSocketPath(path: string): Promise<void> {
  const state = await probe(path);
  if (state === "live") {
    throw new AgentError(
      "ERR_SOCKET_IN_USE",
      `another server is answering on ${path} (is an agent already running?): stop it first, or pass --socket`,
    );
  }
  if (state === "not-a-socket") {
    throw new AgentError(
      "ERR_SOCKET_IN_USE",
      `${path} exists and is not a socket: remove it or pass --socket`,
    );
  }
  // A stale socket is left for the rename in publishSocket to replace atomically.
}

/**
 * Where to listen before the socket is published: beside it (a rename stays on one file system), with a
 * fixed name that Deno's path permissions can grant (scripts/run-deno).
 */
function pendingSocketPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.pending`);
}

/** Moves the listening socket from its pending name to `path`; returns its identity for releaseSocketPath. */
async function publishSocket(pending: string, path: string): Promise<SocketIdentity | undefined> {
  await rename(pending, path);
  return await socketIdentity(path);
}

interface SocketIdentity {
  readonly dev: number;
  readonly ino: number;
}

async function socketIdentity(path: string): Promise<SocketIdentity | undefined> {
  const info = await lstat(path).catch(() => undefined);
  return info === undefined ? undefined : { dev: info.dev, ino: info.ino };
}

/** Removes the socket file only if it is still the one `mine` identifies. */
async function releaseSocketPath(path: string, mine: SocketIdentity | undefined): Promise<void> {
  const now = await socketIdentity(path);
  if (mine === undefined || now === undefined || now.dev !== mine.dev || now.ino !== mine.ino) return;
  await rm(path, { force: true });
}

/**
 * Serves on `socketPath` with a runtime's own server: refuses a live socket, listens on the pending name,
 * sets the mode, renames it into place, and on stop removes the socket only while it is still ours.
 */
export async function serveOnSocket<S>(
  socketPath: string,
  socketMode: number,
  listen: (path: string) => S,
  close: (server: S) => Promise<void>,
): Promise<UnixServer> {
  await claimSocketPath(socketPath);
  const pending = pendingSocketPath(socketPath);
  await rm(pending, { force: true });
  const server = listen(pending);
  let mine: SocketIdentity | undefined;
  try {
    await chmod(pending, socketMode);
    mine = await publishSocket(pending, socketPath);
  } catch (err) {
    await close(server);
    await rm(pending, { force: true });
    throw err;
  }
  return {
    async stop() {
      await close(server);
      await releaseSocketPath(socketPath, mine);
    },
  };
}
