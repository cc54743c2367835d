/**
 * A second `agent serve` must not take the socket of a live one (stopping the first used to delete the
 * live socket, and every docker command then hung); a stale socket nobody listens on is still replaced.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bunPlatform } from "../../../src/runtime/bun-platform.ts";
import { claimSocketPath } from "../../../src/runtime/unix-socket-claim.ts";
import { removeTempDirs, tempDir } from "../../helpers/fixtures.ts";

afterAll(removeTempDirs);

const ok = () => new Response("{}");

describe("taking the plugin socket", () => {
  test("refuses a socket something answers on, and leaves it working", async () => {
    const socket = join(await tempDir("agent-sock-"), "agent.sock");
    const first = await bunPlatform.serveUnix({ socketPath: socket, socketMode: 0o660, fetch: ok });
    try {
      await expect(bunPlatform.serveUnix({ socketPath: socket, socketMode: 0o660, fetch: ok })).rejects
        .toMatchObject({ code: "ERR_SOCKET_IN_USE" });
      const res = await bunPlatform.unixFetch(socket, "/");
      expect(res.status).toBe(200);
    } finally {
      await first.stop();
    }
    expect(existsSync(socket)).toBe(false);
  });

  test("replaces a stale socket file nobody listens on", async () => {
    const socket = join(await tempDir("agent-sock-"), "agent.sock");
    // A process that bound the socket and died without removing it, as a crash leaves it.
    await Bun.$`python3 -c ${"import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])"} ${socket}`;
    expect(lstatSync(socket).isSocket()).toBe(true);
    await claimSocketPath(socket);
    const server = await bunPlatform.serveUnix({ socketPath: socket, socketMode: 0o660, fetch: ok });
    expect((await bunPlatform.unixFetch(socket, "/")).status).toBe(200);
    await server.stop();
  });

  test("refuses a path that is not a socket, and never deletes it", async () => {
    const path = join(await tempDir("agent-sock-"), "agent.sock");
    writeFileSync(path, "not a socket");
    await expect(claimSocketPath(path)).rejects.toMatchObject({ code: "ERR_SOCKET_IN_USE" });
    expect(lstatSync(path).isFile()).toBe(true);
  });

  test("stopping never unlinks a socket that another server put in its place", async () => {
    const dir = await tempDir("agent-sock-");
    const socket = join(dir, "agent.sock");
    const first = await bunPlatform.serveUnix({ socketPath: socket, socketMode: 0o660, fetch: ok });
    // Someone removes ours and serves their own at the same path.
    await Bun.$`rm -f ${socket}`;
    const second = await bunPlatform.serveUnix({ socketPath: socket, socketMode: 0o660, fetch: ok });
    await first.stop();
    expect(existsSync(socket)).toBe(true);
    expect((await bunPlatform.unixFetch(socket, "/")).status).toBe(200);
    await second.stop();
    expect(existsSync(socket)).toBe(false);
  });
});
