/**
 * The bypass attempts of bypass-attempts.ts sent to the agent's gateway (`agent serve --listen ... --gateway`:
 * the Engine API on the agent's TLS port, forwarded to dockerd's unix socket, dockerd running the agent as its
 * authorization plugin too), with certificates of the agent's CA for the same users and the same policy. Plus
 * what only the gateway has: it reads request bodies itself (JSON whole up to 4 MiB, uploads streamed) and
 * stands between the client and the plugin's proof header.
 */
import { expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bypassSuite, decisionIdOf } from "./bypass-attempts.ts";

/** A body this many bytes long, or longer, is past the gateway's JSON limit (src/authz/body.ts). */
const MAX_JSON_BODY_BYTES = 4 * 1024 * 1024;

bypassSuite("gateway", (ctx) => {
  /** A tar of one file, `name`, of `size` bytes. */
  const tarOf = (name: string, size: number): string => {
    const src = join(ctx.dir, `tar-${name}`);
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, name), "z".repeat(size));
    const tar = join(ctx.dir, `${name}.tar`);
    const made = Bun.spawnSync(["tar", "-C", src, "-cf", tar, name]);
    if (made.exitCode !== 0) throw new Error(`tar failed: ${made.stderr.toString()}`);
    return tar;
  };
  /** Whether /NAME exists in the container (asked as the administrator over the unix socket). */
  const inContainer = async (container: string, name: string) =>
    (await ctx.dockerd.docker(["exec", container, "ls", `/${name}`])).code === 0;
  /**
   * A request with a body, by hand (no Expect: 100-continue): refusals of big bodies come before the body is
   * read, and the raw exchange keeps the answer where curl would report only its failed send.
   */
  const rawWithBody = (user: string, method: string, target: string, type: string, body: Uint8Array) =>
    ctx.raw(
      user,
      Buffer.concat([
        Buffer.from(
          [
            `${method} ${target} HTTP/1.1`,
            "Host: localhost",
            "Connection: close",
            `Content-Type: ${type}`,
            `Content-Length: ${body.length}`,
            "",
            "",
          ].join("\r\n"),
        ),
        body,
      ]),
    );

  test("namespaces: bob cannot read or join a container of alice's namespace", async () => {
    // The gateway's own rule: an object belongs to the namespace its io.agent.namespace label names, and a
    // non-administrator sees only the objects of its namespaces. (A plugin-only agent, the other door here,
    // does not enforce namespaces at all: nothing there creates them.)
    await ctx.admin([
      "run",
      "-d",
      "--name",
      "alice-only",
      "--label",
      "io.agent.namespace=alice",
      "--network",
      "none",
      "tiny:latest",
      "sleep",
      "600",
    ]);
    // bob's GET rule would let him read any container; alice's is answered as dockerd answers a missing one
    // (404), so the gateway does not confirm that it exists. His writes are refused by the policy first.
    const read = await ctx.curl("bob", "GET", "/v1.41/containers/alice-only/json");
    expect(read.status).toBe(404);
    expect(read.body).toContain("No such container: alice-only");
    expect(read.body).not.toContain("sleep");
    const paused = await ctx.curl("bob", "POST", "/v1.41/containers/alice-only/pause");
    expect(paused.status).toBe(403);
    const after = (await ctx.exists("containers", "alice-only"))?.["State"] as Record<string, unknown>;
    expect(after["Paused"]).toBe(false);
    // bob may create containers, but not one joined to alice's (its volumes, network, pid or ipc namespace):
    // 409, "in use by another namespace" (src/gateway/namespaces.ts mustUse: a 404 from a create would make the
    // docker CLI try to pull the image), which says no more than a create of that name would (container names
    // are host-wide); nor one labelled into her namespace (403: io.agent. labels are the agent's).
    const creates: [string, Record<string, unknown>, number][] = [
      ["VolumesFrom", { HostConfig: { VolumesFrom: ["alice-only"], NetworkMode: "none" } }, 409],
      [
        "a lower-case volumesfrom",
        { hostconfig: { volumesfrom: ["alice-only:ro"], networkmode: "none" } },
        409,
      ],
      ["NetworkMode container:", { HostConfig: { NetworkMode: "container:alice-only" } }, 409],
      ["PidMode container:", { HostConfig: { PidMode: "container:alice-only", NetworkMode: "none" } }, 409],
      ["IpcMode container:", { HostConfig: { IpcMode: "container:alice-only", NetworkMode: "none" } }, 409],
      ["alice's namespace label", {
        Labels: { "io.agent.namespace": "alice" },
        HostConfig: { NetworkMode: "none" },
      }, 403],
      ["an upper-case namespace label", {
        Labels: { "IO.AGENT.NAMESPACE": "alice" },
        HostConfig: { NetworkMode: "none" },
      }, 403],
    ];
    for (const [i, [what, extra, status]] of creates.entries()) {
      const name = `ns-${i}`;
      const r = await ctx.curl(
        "bob",
        "POST",
        `/v1.41/containers/create?name=${name}`,
        ctx.json({ Image: "tiny:latest", Cmd: ["true"], ...extra }),
      );
      expect({ what, status: r.status }).toEqual({ what, status });
      expect(await ctx.exists("containers", name)).toBeUndefined();
    }
    // Control: alice reads it.
    expect((await ctx.curl("alice", "GET", "/v1.41/containers/alice-only/json")).status).toBe(200);
  });

  test(
    "an upload with a JSON Content-Type is not read as JSON: refused as a body it cannot judge",
    async () => {
      // PUT /containers/{id}/archive is an upload: the gateway streams its body to dockerd, decided on the route
      // and the query. Labelled JSON, it is still not read (a 5 MiB body read as JSON would be 413, a small one
      // would fail to parse as JSON): it is refused as a JSON body the decision did not see, which is what the
      // plugin does when dockerd withholds one. Nothing is extracted.
      for (const [name, size] of [["json-typed-big", 5 * 1024 * 1024], ["json-typed-small", 1024]] as const) {
        const tar = readFileSync(tarOf(name, size));
        const r = await rawWithBody(
          "alice",
          "PUT",
          "/v1.41/containers/svc/archive?path=/",
          "application/json",
          tar,
        );
        expect({ name, status: r.status }).toEqual({ name, status: 403 });
        expect(r.body).toContain("cannot be checked");
        expect(await inContainer("svc", name)).toBe(false);
      }
      // Control: the same upload as the docker CLI sends it (application/x-tar) is streamed and extracted...
      const tar = tarOf("tar-typed", 5 * 1024 * 1024);
      const upload = ["-H", "Content-Type: application/x-tar", "--data-binary", `@${tar}`];
      const ok = await ctx.curl("alice", "PUT", "/v1.41/containers/svc/archive?path=/", upload);
      expect(ok.status).toBe(200);
      expect(await inContainer("svc", "tar-typed")).toBe(true);
      // ...and refused to bob, whom no rule allows container:archive-put, before a byte of it is forwarded.
      const bob = await rawWithBody(
        "bob",
        "PUT",
        "/v1.41/containers/other/archive?path=/",
        "application/x-tar",
        readFileSync(tar),
      );
      expect(bob.status).toBe(403);
      expect(bob.body).toContain("no rule allows container:archive-put for bob");
      expect(await inContainer("other", "tar-typed")).toBe(false);
    },
    60_000,
  );

  test("a chunked JSON create is refused 411 and not created, even one the policy allows", async () => {
    const body = JSON.stringify({ Image: "tiny:latest", Cmd: ["true"], HostConfig: { NetworkMode: "none" } });
    const r = await ctx.raw(
      "alice",
      [
        "POST /v1.41/containers/create?name=chunked-ok HTTP/1.1",
        "Host: localhost",
        "Connection: close",
        "Content-Type: application/json",
        "Transfer-Encoding: chunked",
        "",
        `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`,
      ].join("\r\n"),
    );
    expect(r.status).toBe(411);
    expect(r.body).toContain("must be sent with a Content-Length");
    expect(await ctx.exists("containers", "chunked-ok")).toBeUndefined();
    // Control: the same body with its Content-Length is created.
    const made = await ctx.curl(
      "alice",
      "POST",
      "/v1.41/containers/create?name=chunked-ok",
      ctx.json(JSON.parse(body)),
    );
    expect(made.status).toBe(201);
    expect(await ctx.exists("containers", "chunked-ok")).toBeDefined();
    await ctx.admin(["rm", "chunked-ok"]);
  });

  test("a JSON create over 4 MiB is refused 413 and not created, even one the policy allows", async () => {
    const create = (name: string, pad: number) =>
      rawWithBody(
        "alice",
        "POST",
        `/v1.41/containers/create?name=${name}`,
        "application/json",
        Buffer.from(JSON.stringify({
          Image: "tiny:latest",
          Cmd: ["true"],
          Env: [`PAD=${"p".repeat(pad)}`],
          HostConfig: { NetworkMode: "none" },
        })),
      );
    const big = await create("huge-ok", MAX_JSON_BODY_BYTES + 1024);
    expect(big.status).toBe(413);
    expect(big.body).toContain(`larger than ${MAX_JSON_BODY_BYTES} bytes`);
    expect(await ctx.exists("containers", "huge-ok")).toBeUndefined();
    // Control: the same create under 1 MiB is read, judged and created.
    const small = await create("small-ok", 512 * 1024);
    expect(small.status).toBe(201);
    expect(await ctx.exists("containers", "small-ok")).toBeDefined();
    await ctx.admin(["rm", "small-ok"]);
  }, 60_000);

  // dockerd 20.10 shows its plugin no body of 1 MiB or more: the gateway's proof decides it, not a refusal.
  test("a JSON create between 1 and 4 MiB that the gateway allows is created", async () => {
    // The gateway reads and judges JSON bodies up to 4 MiB, and forwards this one with its proof. dockerd
    // 20.10 withholds bodies of 1 MiB or more from its plugins, and the plugin refuses a withheld JSON body
    // (src/authz/body.ts bodyWithheld, called in factsOf) before it looks for the gateway's proof
    // (src/server/plugin-app.ts redeems proofs only for facts, never for a Decision): the allowed create is
    // denied at dockerd, as anonymous ("request body was not forwarded by dockerd").
    const file = join(ctx.dir, "mid-ok.json");
    writeFileSync(
      file,
      JSON.stringify({
        Image: "tiny:latest",
        Cmd: ["true"],
        Env: [`PAD=${"m".repeat(2 * 1024 * 1024)}`],
        HostConfig: { NetworkMode: "none" },
      }),
    );
    const r = await ctx.curl("alice", "POST", "/v1.41/containers/create?name=mid-ok", [
      "-H",
      "Content-Type: application/json",
      "-H",
      "Expect:",
      "--data-binary",
      `@${file}`,
    ]);
    const made = await ctx.exists("containers", "mid-ok");
    if (made !== undefined) await ctx.admin(["rm", "mid-ok"]);
    expect({ status: r.status, body: r.status === 201 ? "" : r.body }).toEqual({ status: 201, body: "" });
    expect(made).toBeDefined();
  }, 60_000);

  test("a client's own X-Agent-Decision is dropped: the request is decided as the client's user", async () => {
    // A proof-shaped header (decision id, 128-bit nonce), as a client could forge or copy one.
    const forged = ["-H", `X-Agent-Decision: 0123456789abcdef.${"0".repeat(32)}`];
    // bob's volume create is still bob's, and denied: nothing is forwarded.
    const denied = await ctx.curl("bob", "POST", "/v1.41/volumes/create", [
      ...forged,
      ...ctx.json({ Name: "vol-forged" }),
    ]);
    expect(denied.status).toBe(403);
    expect(denied.body).toContain("no rule allows volume:create for bob");
    const event = await ctx.auditOf(decisionIdOf(denied.body)!);
    expect({ user: event?.user, allow: event?.allow, door: event?.door }).toEqual({
      user: "bob",
      allow: false,
      door: "gateway",
    });
    expect(await ctx.exists("volumes", "vol-forged")).toBeUndefined();
    // alice's allowed request goes through with the gateway's proof only: the plugin records the gateway's
    // decision for it (not the forged one, and not a decision of its own as anonymous).
    const target = "/v1.41/containers/json?all=1&forged=1";
    const allowed = await ctx.curl("alice", "GET", target, forged);
    expect(allowed.status).toBe(200);
    let gatewayEvent: { decisionId: string } | undefined;
    let pluginEvents: { decidedBy: string; phase: string }[] = [];
    for (let i = 0; i < 50 && pluginEvents.length < 2; i++) {
      const lines = ctx.auditLines();
      gatewayEvent = lines.find((l) => l.door === "gateway" && l.uri === target && l.user === "alice");
      pluginEvents = lines.filter((l) =>
        gatewayEvent !== undefined && l.apiDecisionId === gatewayEvent.decisionId
      );
      await Bun.sleep(100);
    }
    expect(gatewayEvent).toBeDefined();
    expect(pluginEvents.map((l) => `${l.phase} ${l.decidedBy}`).sort()).toEqual([
      "request gateway",
      "response gateway",
    ]);
    expect(
      ctx.auditLines().filter((l) => l.door === undefined && l.user === null && !l.allow && l.uri === target),
    ).toEqual([]);
    // And bob's denied create never reached dockerd: no plugin event carries its decision.
    expect(ctx.auditLines().filter((l) => l.apiDecisionId === event?.decisionId)).toEqual([]);
  });
});
