/** The Engine API client's send(): method, JSON body, headers, deadline, dockerd's status and JSON answer. */
import { describe, expect, test } from "bun:test";
import { engineClient } from "../../../src/docker/engine-client.ts";
import type { Platform } from "../../../src/ports.ts";

function clientWith(answer: () => Response | Promise<Response>) {
  const seen: { path: string; init: RequestInit }[] = [];
  const platform = {
    unixFetch(_socket: string, path: string, init: RequestInit = {}) {
      seen.push({ path, init });
      return Promise.resolve(answer());
    },
  } as unknown as Platform;
  const client = engineClient({ platform, socketPath: "/d.sock", headers: () => ({ "x-base": "1" }) });
  return { client, seen };
}

describe("engineClient.send", () => {
  test("sends the method, the JSON body and the headers; answers the status and the JSON", async () => {
    const { client, seen } = clientWith(() => new Response('{"Id":"abc"}', { status: 201 }));
    const answer = await client.send("POST", "/containers/create?name=a", {
      body: { Image: "x" },
      headers: { h: "2" },
    });
    expect(answer).toEqual({ status: 201, body: { Id: "abc" } });
    expect(seen[0]!.path).toBe("/containers/create?name=a");
    expect(seen[0]!.init.method).toBe("POST");
    expect(seen[0]!.init.body).toBe('{"Image":"x"}');
    expect(seen[0]!.init.headers).toEqual({ "x-base": "1", h: "2", "content-type": "application/json" });
  });

  test("an empty or unreadable answer has no body; a status is never an error", async () => {
    expect(await clientWith(() => new Response(null, { status: 204 })).client.send("POST", "/x")).toEqual({
      status: 204,
      body: undefined,
    });
    expect(await clientWith(() => new Response("<html>", { status: 500 })).client.send("DELETE", "/x"))
      .toEqual({
        status: 500,
        body: undefined,
      });
  });

  test("an unreachable daemon is ERR_DOCKER_UNREACHABLE", async () => {
    const { client } = clientWith(() => Promise.reject(new Error("ECONNREFUSED")));
    await expect(client.send("GET", "/x")).rejects.toMatchObject({ code: "ERR_DOCKER_UNREACHABLE" });
  });
});
