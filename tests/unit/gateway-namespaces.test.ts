/**
 * Namespaces on the gateway (src/gateway/namespaces.ts): what a caller may name, how creates and prunes are
 * rewritten, what lists, events and errors show. alice may address alice and team (an organization she is
 * in), bob only bob; the administrator everything.
 */
import { describe, expect, test } from "bun:test";
import { matchRoute } from "../../src/authz/routes.ts";
import { normalizeUri } from "../../src/authz/uri.ts";
import {
  eventVisible,
  filterNetworkContainers,
  filterResponse,
  type NamespaceCaller,
  type NamespaceVerdict,
  prepareRequest,
  redactResponse,
  sanitizeError,
  volumeCreateBody,
} from "../../src/gateway/namespaces.ts";
import { ADMIN, ALICE, BOB, fakeLookup, IDS, NS } from "./namespace-fixtures.ts";

async function prepare(
  caller: NamespaceCaller,
  method: string,
  target: string,
  body?: unknown,
  lookup = fakeLookup(),
): Promise<NamespaceVerdict> {
  const uri = normalizeUri(target);
  const route = matchRoute(method, uri.path, uri.query);
  if (route === undefined) throw new Error(`no route for ${method} ${target}`);
  return await prepareRequest({ route, path: uri.path, target, body, caller, lookup });
}

function refused(verdict: NamespaceVerdict): { status: number; message: string } {
  if (verdict.ok) throw new Error("expected a refusal, got ok");
  return { status: verdict.status, message: verdict.message };
}

function accepted(verdict: NamespaceVerdict) {
  if (!verdict.ok) throw new Error(`expected ok, got ${verdict.status} ${verdict.message}`);
  return verdict;
}

/** The stamped create body's labels. */
function labelsOf(verdict: NamespaceVerdict, key = "Labels"): Record<string, string> {
  return (accepted(verdict).body as Record<string, Record<string, string>>)[key]!;
}

const short = (full: string) => full.slice(0, 12);

describe("the isolation matrix: containers by name, short id and full id", () => {
  const who = { alice: ALICE, bob: BOB, admin: ADMIN } as const;
  const sees: Record<keyof typeof who, readonly string[]> = {
    alice: ["web", "ci"],
    bob: ["db"],
    admin: ["web", "db", "ci", "legacy", "lookalike"],
  };
  for (const [callerName, caller] of Object.entries(who) as [keyof typeof who, NamespaceCaller][]) {
    for (const name of ["web", "db", "ci", "legacy", "lookalike"] as const) {
      const full = IDS[name];
      for (const ref of [name, short(full), full]) {
        const visible = sees[callerName].includes(name);
        test(`${callerName} ${visible ? "sees" : "does not see"} ${name} as ${ref.length === 64 ? "full id" : ref}`, async () => {
          for (
            const [method, path] of [
              ["GET", `/containers/${ref}/json`],
              ["POST", `/containers/${ref}/stop`],
              [
                "DELETE",
                `/v1.41/containers/${ref}?force=1`,
              ],
            ] as const
          ) {
            const verdict = await prepare(caller, method, path);
            if (visible) expect(verdict).toEqual({ ok: true });
            else expect(refused(verdict)).toEqual({ status: 404, message: `No such container: ${ref}` });
          }
        });
      }
    }
  }

  test("a missing container is 404 too (so nothing is forwarded); an administrator's request is not looked up", async () => {
    expect(refused(await prepare(ALICE, "GET", "/containers/nothing/json"))).toEqual({
      status: 404,
      message: "No such container: nothing",
    });
    const lookup = fakeLookup();
    expect(await prepare(ADMIN, "GET", "/containers/db/json", undefined, lookup)).toEqual({ ok: true });
    expect(lookup.calls).toEqual([]);
  });

  test("the case-variant label IO.AGENT.NAMESPACE places nothing in alice's namespace", async () => {
    expect(refused(await prepare(ALICE, "GET", "/containers/lookalike/json")).status).toBe(404);
  });

  test("a commit names its container in the query", async () => {
    expect(refused(await prepare(ALICE, "POST", "/commit?container=db&repo=x"))).toEqual({
      status: 404,
      message: "No such container: db",
    });
    expect(accepted(await prepare(ALICE, "POST", "/commit?container=web&repo=x"))).toEqual({ ok: true });
  });
});

describe("volumes, networks and exec instances", () => {
  test("volumes by name, in dockerd's wording", async () => {
    for (const name of ["alicevol", "teamvol"]) {
      expect(await prepare(ALICE, "GET", `/volumes/${name}`)).toEqual({ ok: true });
    }
    for (const name of ["bobvol", "oldvol", "missing"]) {
      expect(refused(await prepare(ALICE, "DELETE", `/volumes/${name}`))).toEqual({
        status: 404,
        message: `get ${name}: no such volume`,
      });
    }
    expect(await prepare(BOB, "DELETE", "/volumes/bobvol")).toEqual({ ok: true });
  });

  test("networks by name and id; the built-ins are everyone's", async () => {
    expect(await prepare(ALICE, "GET", "/networks/alicenet")).toEqual({ ok: true });
    expect(await prepare(ALICE, "GET", `/networks/${IDS.teamnet}`)).toEqual({ ok: true });
    for (const ref of ["bobnet", short(IDS.bobnet), IDS.bobnet]) {
      expect(refused(await prepare(ALICE, "GET", `/networks/${ref}`))).toEqual({
        status: 404,
        message: `network ${ref} not found`,
      });
    }
    for (const ref of ["bridge", "host", "none", IDS.bridge, short(IDS.host)]) {
      expect(await prepare(BOB, "GET", `/networks/${ref}`)).toEqual({ ok: true });
    }
  });

  test("an exec instance is its container's", async () => {
    expect(await prepare(ALICE, "POST", `/exec/${IDS.execInWeb}/start`, {})).toEqual({ ok: true });
    expect(await prepare(ALICE, "GET", `/exec/${IDS.execInWeb}/json`)).toEqual({ ok: true });
    for (const exec of [IDS.execInDb, "unknown"]) {
      expect(refused(await prepare(ALICE, "POST", `/exec/${exec}/resize?h=1&w=1`))).toEqual({
        status: 404,
        message: `No such exec instance: ${exec}`,
      });
    }
    expect(refused(await prepare(ALICE, "POST", "/containers/db/exec", { Cmd: ["sh"] })).status).toBe(404);
  });

  test("images, system and swarm calls pass: images are host-wide, the policy decides", async () => {
    const lookup = fakeLookup();
    for (
      const [method, path] of [
        ["DELETE", "/images/trojan"],
        ["POST", "/images/create?fromImage=busybox"],
        ["GET", "/info"],
        ["GET", "/services"],
        ["POST", "/images/prune"],
      ] as const
    ) {
      expect(await prepare(ALICE, method, path, undefined, lookup)).toEqual({ ok: true });
    }
    expect(lookup.calls).toEqual([]);
  });
});

describe("creates are stamped with the caller's namespace", () => {
  test("container, volume and network creates; the client's body is left as it was", async () => {
    const body = { Image: "tiny", Labels: { app: "web" } };
    const verdict = await prepare(ALICE, "POST", "/containers/create?name=x", body);
    expect(labelsOf(verdict)).toEqual({ app: "web", [NS]: "alice" });
    expect(body.Labels).toEqual({ app: "web" });
    expect(labelsOf(await prepare(ALICE, "POST", "/volumes/create", { Name: "fresh" }))).toEqual({
      [NS]: "alice",
    });
    expect(labelsOf(await prepare(BOB, "POST", "/networks/create", { Name: "n2" }))).toEqual({ [NS]: "bob" });
    // No body: an empty one, stamped (dockerd then says what is missing).
    expect(labelsOf(await prepare(ALICE, "POST", "/volumes/create"))).toEqual({ [NS]: "alice" });
  });

  test("a create's own name is not looked up", async () => {
    const lookup = fakeLookup();
    accepted(await prepare(ALICE, "POST", "/containers/create?name=db", { Image: "tiny" }, lookup));
    expect(lookup.calls).toEqual([]);
  });

  test("the client may name one of its own namespaces, not another's", async () => {
    expect(labelsOf(await prepare(ALICE, "POST", "/containers/create", { Labels: { [NS]: "team" } })))
      .toEqual({ [NS]: "team" });
    for (const namespace of ["bob", "", "root"]) {
      expect(refused(await prepare(ALICE, "POST", "/containers/create", { Labels: { [NS]: namespace } })))
        .toEqual({ status: 403, message: "the label io.agent.namespace may only name your own namespaces" });
    }
  });

  test("no other io.agent. label, in any case", async () => {
    for (
      const key of ["io.agent.service", "IO.AGENT.NAMESPACE", "Io.Agent.Namespace", "io.agent.", "IO.agent.x"]
    ) {
      for (
        const [path, caller] of [["/containers/create", ALICE], ["/volumes/create", BOB], [
          "/networks/create",
          ADMIN,
        ]] as const
      ) {
        expect(refused(await prepare(caller, "POST", path, { Name: "n", Labels: { [key]: "alice" } })))
          .toEqual({
            status: 403,
            message: `labels under io.agent. are set by the agent only (${key})`,
          });
      }
    }
  });

  test("administrators: any namespace may be named, their own is stamped when none is", async () => {
    expect(labelsOf(await prepare(ADMIN, "POST", "/containers/create", { Labels: { [NS]: "bob" } }))).toEqual(
      {
        [NS]: "bob",
      },
    );
    expect(labelsOf(await prepare(ADMIN, "POST", "/containers/create", { Image: "tiny" }))).toEqual({
      [NS]: "root",
    });
  });

  test("Go's case-insensitive keys: the client's spelling is kept, and read", async () => {
    const verdict = await prepare(ALICE, "POST", "/containers/create", { labels: { a: "1" } });
    expect(accepted(verdict).body).toEqual({ labels: { a: "1", [NS]: "alice" } });
    expect(refused(await prepare(ALICE, "POST", "/containers/create", { LABELS: { [NS]: "bob" } })).status)
      .toBe(403);
    expect(refused(await prepare(ALICE, "POST", "/containers/create", { "LABELS": {}, "labels": {} })))
      .toEqual({
        status: 400,
        message: "the request body sets Labels more than once (LABELS and labels)",
      });
  });

  test("malformed bodies are 400, never a throw", async () => {
    for (
      const body of [
        null,
        [],
        "text",
        7,
        { Labels: [] },
        { Labels: "x" },
        { Labels: { a: 1 } },
        { Labels: { a: null } },
        { HostConfig: [] },
        { HostConfig: { Binds: "x:/y" } },
        { HostConfig: { Binds: [1] } },
        { HostConfig: { Mounts: [null] } },
        { HostConfig: { NetworkMode: 3 } },
        { NetworkingConfig: { EndpointsConfig: { alicenet: 1 } } },
        { HostConfig: { Binds: [] }, hostconfig: {} },
      ]
    ) {
      const verdict = await prepare(ALICE, "POST", "/containers/create", body);
      expect(refused(verdict).status).toBe(400);
    }
    expect(refused(await prepare(ALICE, "POST", "/volumes/create", { Name: 3 })).status).toBe(400);
    expect(refused(await prepare(ALICE, "POST", "/networks/create", [])).status).toBe(400);
  });

  test("a volume name of another namespace is in use; one's own is dockerd's to answer", async () => {
    expect(refused(await prepare(ALICE, "POST", "/volumes/create", { Name: "bobvol" }))).toEqual({
      status: 409,
      message: "volume name bobvol is in use",
    });
    expect(refused(await prepare(ALICE, "POST", "/volumes/create", { Name: "oldvol" })).status).toBe(409);
    accepted(await prepare(ALICE, "POST", "/volumes/create", { Name: "alicevol" }));
    accepted(await prepare(ADMIN, "POST", "/volumes/create", { Name: "bobvol" }));
  });

  test("a network name of another namespace is taken; a config-only source must be visible", async () => {
    expect(refused(await prepare(ALICE, "POST", "/networks/create", { Name: "bobnet" }))).toEqual({
      status: 409,
      message: "network with name bobnet already exists",
    });
    // dockerd also matches an id prefix: only an equal name is a duplicate.
    accepted(await prepare(ALICE, "POST", "/networks/create", { Name: short(IDS.bobnet) }));
    expect(
      refused(
        await prepare(ALICE, "POST", "/networks/create", { Name: "n", ConfigFrom: { Network: "bobnet" } }),
      ),
    )
      .toEqual({ status: 404, message: "network bobnet not found" });
  });

  test("the volumes a gateway creates first carry the namespace", () => {
    expect(volumeCreateBody("fresh", ALICE)).toEqual({ Name: "fresh", Labels: { [NS]: "alice" } });
  });
});

describe("a container create may use only visible objects", () => {
  const create = (hostConfig: unknown, extra: Record<string, unknown> = {}) =>
    prepare(ALICE, "POST", "/containers/create", { Image: "tiny", HostConfig: hostConfig, ...extra });

  const cases: readonly [string, unknown, Record<string, unknown>, string][] = [
    [
      "NetworkMode network",
      { NetworkMode: "bobnet" },
      {},
      "the network bobnet is in use by another namespace",
    ],
    [
      "NetworkMode network by id",
      { NetworkMode: IDS.bobnet },
      {},
      `the network ${IDS.bobnet} is in use by another namespace`,
    ],
    [
      "NetworkMode container",
      { NetworkMode: "container:db" },
      {},
      "the container db is in use by another namespace",
    ],
    [
      "EndpointsConfig key",
      {},
      { NetworkingConfig: { EndpointsConfig: { bobnet: {} } } },
      "the network bobnet is in use by another namespace",
    ],
    ["EndpointsConfig links", {}, {
      NetworkingConfig: { EndpointsConfig: { alicenet: { Links: ["db:d"] } } },
    }, "the container db is in use by another namespace"],
    ["Links", { Links: ["db:alias"] }, {}, "the container db is in use by another namespace"],
    [
      "Links as dockerd stores them",
      { Links: ["/db:/me/alias"] },
      {},
      "the container db is in use by another namespace",
    ],
    ["VolumesFrom", { VolumesFrom: ["db:ro"] }, {}, "the container db is in use by another namespace"],
    ["PidMode", { PidMode: "container:db" }, {}, "the container db is in use by another namespace"],
    ["IpcMode", { IpcMode: "container:db" }, {}, "the container db is in use by another namespace"],
    ["Cgroup", { Cgroup: "container:db" }, {}, "the container db is in use by another namespace"],
    ["Binds", { Binds: ["bobvol:/data"] }, {}, "the volume bobvol is in use by another namespace"],
    [
      "Binds of an unlabelled volume",
      { Binds: ["oldvol:/data:ro"] },
      {},
      "the volume oldvol is in use by another namespace",
    ],
    [
      "Mounts",
      { Mounts: [{ Type: "volume", Source: "bobvol", Target: "/d" }] },
      {},
      "the volume bobvol is in use by another namespace",
    ],
    ["Go-folded keys", { binds: ["bobvol:/d"] }, {}, "the volume bobvol is in use by another namespace"],
    // U+212A KELVIN SIGN folds to K in Go.
    ["a Kelvin sign", { "Lin\u212As": ["db:x"] }, {}, "the container db is in use by another namespace"],
  ];
  for (const [what, hostConfig, extra, message] of cases) {
    // 409, not 404: the docker CLI takes a create's 404 for a missing image and tries to pull it.
    test(`${what}: another namespace's object is 409 naming the reference`, async () => {
      expect(refused(await create(hostConfig, extra))).toEqual({ status: 409, message });
    });
  }

  test("one's own and one's organization's objects, and dockerd's own modes, pass", async () => {
    const lookup = fakeLookup();
    const verdict = await prepare(ALICE, "POST", "/containers/create", {
      Image: "tiny",
      HostConfig: {
        NetworkMode: "alicenet",
        Links: ["web:w", "ci"],
        VolumesFrom: ["web:rw"],
        PidMode: "container:ci",
        IpcMode: "shareable",
        Binds: ["alicevol:/a", "teamvol:/t:ro", "/host/path:/h", "/anonymous"],
        Mounts: [{ Type: "bind", Source: "/srv", Target: "/srv" }, { Type: "volume", Target: "/anon" }],
      },
      NetworkingConfig: { EndpointsConfig: { teamnet: { Links: ["/web:/x/w"] }, bridge: {} } },
    }, lookup);
    expect(accepted(verdict).createVolumes).toBeUndefined();
    expect(lookup.calls.sort()).toEqual([
      "container ci",
      "container web",
      "network alicenet",
      "network teamnet",
      "volume alicevol",
      "volume teamvol",
    ]);
    for (const mode of ["bridge", "host", "none", "default", ""]) {
      const quiet = fakeLookup();
      accepted(
        await prepare(BOB, "POST", "/containers/create", { HostConfig: { NetworkMode: mode } }, quiet),
      );
      expect(quiet.calls).toEqual([]);
    }
  });

  test("missing named volumes: Binds ones are created first, Mounts ones are labelled through VolumeOptions", async () => {
    const verdict = accepted(
      await create({
        Binds: ["fresh:/a", "fresh:/b", "other:/c:ro"],
        Mounts: [
          { Type: "volume", Source: "mounted", Target: "/m" },
          {
            Type: "volume",
            Source: "driven",
            Target: "/n",
            VolumeOptions: { DriverConfig: { Name: "nfs" } },
          },
        ],
      }),
    );
    expect(verdict.createVolumes).toEqual(["fresh", "other"]);
    const mounts =
      (verdict.body as { HostConfig: { Mounts: { VolumeOptions: unknown }[] } }).HostConfig.Mounts;
    expect(mounts[0]!.VolumeOptions).toEqual({ Labels: { [NS]: "alice" } });
    expect(mounts[1]!.VolumeOptions).toEqual({ DriverConfig: { Name: "nfs" }, Labels: { [NS]: "alice" } });
  });

  test("a missing Binds volume of another driver must be created first", async () => {
    expect(refused(await create({ Binds: ["fresh:/a"], VolumeDriver: "nfs" }))).toEqual({
      status: 400,
      message: "the volume fresh does not exist: create it first (docker volume create --driver nfs fresh)",
    });
    expect(accepted(await create({ Binds: ["fresh:/a"], VolumeDriver: "local" })).createVolumes).toEqual([
      "fresh",
    ]);
  });

  test("a mount's VolumeOptions.Labels follow the label rules", async () => {
    const mount = (labels: unknown) =>
      create({ Mounts: [{ Type: "volume", Target: "/d", VolumeOptions: { Labels: labels } }] });
    expect(refused(await mount({ [NS]: "bob" })).status).toBe(403);
    expect(refused(await mount({ "io.agent.service": "x" })).status).toBe(403);
    accepted(await mount({ [NS]: "team" }));
  });

  test("an administrator uses anything; missing volumes are still made in a namespace", async () => {
    const verdict = accepted(
      await prepare(ADMIN, "POST", "/containers/create", {
        HostConfig: { NetworkMode: "bobnet", Links: ["db:d"], Binds: ["bobvol:/b", "fresh:/f"] },
      }),
    );
    expect(verdict.createVolumes).toEqual(["fresh"]);
  });
});

describe("network connect and disconnect", () => {
  test("the container must be visible too", async () => {
    expect(refused(await prepare(ALICE, "POST", "/networks/alicenet/connect", { Container: "db" }))).toEqual({
      status: 404,
      message: "No such container: db",
    });
    expect(
      refused(
        await prepare(ALICE, "POST", "/networks/alicenet/connect", {
          Container: "web",
          EndpointConfig: { Links: ["db:x"] },
        }),
      ).message,
    ).toBe("No such container: db");
    accepted(await prepare(ALICE, "POST", "/networks/bridge/connect", { Container: "web" }));
    accepted(
      await prepare(ALICE, "POST", "/networks/alicenet/disconnect", { container: IDS.web, Force: true }),
    );
    expect(refused(await prepare(ALICE, "POST", "/networks/bobnet/disconnect", { Container: "web" })).message)
      .toBe("network bobnet not found");
    expect(refused(await prepare(ALICE, "POST", "/networks/alicenet/connect", {})).status).toBe(400);
    expect(refused(await prepare(ALICE, "POST", "/networks/alicenet/connect")).status).toBe(400);
    accepted(await prepare(ADMIN, "POST", "/networks/bobnet/connect", { Container: "web" }));
  });
});

describe("prunes are limited to the caller's namespace", () => {
  const filtersOf = (verdict: NamespaceVerdict) => {
    const target = accepted(verdict).target!;
    return {
      path: target.slice(0, target.indexOf("?")),
      query: new URLSearchParams(target.slice(target.indexOf("?") + 1)),
    };
  };

  test("no filters, the map form and the list form", async () => {
    for (const kind of ["containers", "volumes", "networks"]) {
      const { path, query } = filtersOf(await prepare(ALICE, "POST", `/v1.41/${kind}/prune`));
      expect(path).toBe(`/v1.41/${kind}/prune`);
      expect(JSON.parse(query.get("filters")!)).toEqual({ label: { [`${NS}=alice`]: true } });
    }
    const map = encodeURIComponent(JSON.stringify({ until: { "24h": true }, label: { "a=b": true } }));
    const { query } = filtersOf(await prepare(BOB, "POST", `/containers/prune?filters=${map}&x=1`));
    expect(JSON.parse(query.getAll("filters")[0]!)).toEqual({
      until: { "24h": true },
      label: { "a=b": true, [`${NS}=bob`]: true },
    });
    expect(query.getAll("filters")).toHaveLength(1);
    expect(query.get("x")).toBe("1");
    const list = encodeURIComponent(JSON.stringify({ label: ["a=b"], until: ["1h"] }));
    const listed = filtersOf(await prepare(ALICE, "POST", `/volumes/prune?filters=${list}&filters=%7B%7D`));
    expect(JSON.parse(listed.query.get("filters")!)).toEqual({
      label: ["a=b", `${NS}=alice`],
      until: ["1h"],
    });
    // A client's own label filter for another namespace stays: the two together match nothing.
    const other = encodeURIComponent(JSON.stringify({ label: { [`${NS}=bob`]: true } }));
    expect(
      JSON.parse(
        filtersOf(await prepare(ALICE, "POST", `/networks/prune?filters=${other}`)).query.get("filters")!,
      ),
    )
      .toEqual({ label: { [`${NS}=bob`]: true, [`${NS}=alice`]: true } });
  });

  test("malformed filters are 400", async () => {
    for (
      const filters of [
        "{",
        "[]",
        '"x"',
        '{"label":"x"}',
        '{"label":{"a":1}}',
        '{"a":{},"b":[]}',
        '{"label":[1]}',
      ]
    ) {
      expect(
        refused(await prepare(ALICE, "POST", `/containers/prune?filters=${encodeURIComponent(filters)}`)),
      )
        .toEqual({ status: 400, message: "invalid filter: the filters query parameter is not valid JSON" });
    }
    accepted(await prepare(ALICE, "POST", "/containers/prune?filters=null"));
    accepted(await prepare(ALICE, "POST", "/containers/prune?filters="));
  });

  test("an administrator's prune is left alone", async () => {
    expect(await prepare(ADMIN, "POST", "/containers/prune")).toEqual({ ok: true });
  });
});

describe("builds and swarm services", () => {
  test("a build's network mode must be visible", async () => {
    expect(refused(await prepare(ALICE, "POST", "/build?networkmode=container:db")).message).toBe(
      "No such container: db",
    );
    expect(refused(await prepare(ALICE, "POST", "/build?networkmode=bobnet")).message).toBe(
      "network bobnet not found",
    );
    accepted(await prepare(ALICE, "POST", "/build?networkmode=host"));
  });

  test("a service's task labels follow the label rules", async () => {
    const service = (labels: unknown) => ({
      Name: "s",
      TaskTemplate: { ContainerSpec: { Image: "tiny", Labels: labels } },
    });
    expect(refused(await prepare(ALICE, "POST", "/services/create", service({ [NS]: "bob" }))).status).toBe(
      403,
    );
    expect(
      refused(await prepare(ADMIN, "POST", "/services/x/update", service({ "io.agent.service": "1" })))
        .status,
    )
      .toBe(403);
    accepted(await prepare(ALICE, "POST", "/services/create", service({ [NS]: "alice" })));
  });
});

test("a failing lookup rejects (the gateway answers as for a dockerd failure)", async () => {
  const lookup = fakeLookup();
  lookup.down = true;
  await expect(prepare(ALICE, "GET", "/containers/web/json", undefined, lookup)).rejects.toThrow("ENOENT");
});

describe("list responses", () => {
  const items = [
    { Id: "1", Labels: { [NS]: "alice" } },
    { Id: "2", Labels: { [NS]: "bob" } },
    { Id: "3", Labels: { [NS]: "team" } },
    { Id: "4", Labels: {} },
    { Id: "5", Labels: null },
    { Id: "6", Labels: { "IO.AGENT.NAMESPACE": "alice" } },
    { Id: "7" },
    "junk",
    null,
  ];
  const ids = (list: unknown) => (list as { Id: string }[]).map((i) => i.Id);

  test("containers", () => {
    expect(ids(filterResponse("container:list", items, ALICE))).toEqual(["1", "3"]);
    expect(ids(filterResponse("container:list", items, BOB))).toEqual(["2"]);
    expect(filterResponse("container:list", items, ADMIN)).toBe(items);
  });

  test("volumes keep their Warnings", () => {
    const body = { Volumes: items, Warnings: ["w"] };
    expect(filterResponse("volume:list", body, ALICE)).toEqual({
      Volumes: [items[0], items[2]],
      Warnings: ["w"],
    });
    expect(filterResponse("volume:list", { Volumes: null, Warnings: null }, ALICE)).toEqual({
      Volumes: [],
      Warnings: null,
    });
  });

  test("networks keep the built-ins", () => {
    const networks = [
      { Name: "bridge", Id: "b", Labels: {} },
      { Name: "host", Id: "h" },
      { Name: "none", Id: "n", Labels: null },
      { Name: "alicenet", Id: "a", Labels: { [NS]: "alice" } },
      { Name: "bobnet", Id: "o", Labels: { [NS]: "bob" } },
      { Name: "docker_gwbridge", Id: "g", Labels: {} },
    ];
    expect(ids(filterResponse("network:list", networks, ALICE))).toEqual(["b", "h", "n", "a"]);
  });

  test("system df: containers and volumes; images, build cache and sizes untouched", () => {
    const df = {
      LayersSize: 42,
      Images: [{ Id: "i", Labels: { [NS]: "bob" } }],
      Containers: items,
      Volumes: [{ Name: "v", Labels: { [NS]: "bob" } }, { Name: "w", Labels: { [NS]: "alice" } }],
      BuildCache: [{ ID: "c" }],
    };
    expect(filterResponse("system:df", df, ALICE)).toEqual({
      ...df,
      Containers: [items[0], items[2]],
      Volumes: [df.Volumes[1]],
    });
  });

  test("a body of the wrong shape: unchanged for administrators, an empty list for everyone else", () => {
    for (const junk of [undefined, null, "x", 3, { Containers: 1 }]) {
      expect(filterResponse("container:list", junk, ALICE)).toEqual([]);
      expect(filterResponse("network:list", junk, ALICE)).toEqual([]);
      expect(filterResponse("container:list", junk, ADMIN)).toBe(junk);
    }
    expect(filterResponse("volume:list", [], ALICE)).toEqual({ Volumes: [], Warnings: null });
    expect(filterResponse("system:df", "x", ALICE)).toEqual({
      LayersSize: 0,
      Images: [],
      Containers: [],
      Volumes: [],
      BuildCache: [],
    });
    expect(filterResponse("system:df", { LayersSize: 1, Containers: 1 }, ALICE)).toEqual({
      LayersSize: 1,
      Containers: [],
      Volumes: [],
    });
  });

  test("other actions are unchanged", () => {
    expect(filterResponse("image:list", items, ALICE)).toBe(items);
    expect(filterResponse("container:inspect", items, ALICE)).toBe(items);
  });

  test("network inspect shows only the caller's containers", async () => {
    const body = {
      Name: "bridge",
      Containers: { [IDS.web]: { Name: "web" }, [IDS.db]: { Name: "db" }, "lb-bridge": { Name: "lb" } },
    };
    expect(await filterNetworkContainers(body, ALICE, fakeLookup())).toEqual({
      Name: "bridge",
      Containers: { [IDS.web]: { Name: "web" } },
    });
    expect(await filterNetworkContainers(body, ADMIN, fakeLookup())).toBe(body);
    expect(await filterNetworkContainers({ Containers: 1 }, ALICE, fakeLookup())).toEqual({ Containers: {} });
    expect(await filterNetworkContainers("x", ALICE, fakeLookup())).toEqual({});
  });
});

describe("redaction", () => {
  const inspect = {
    Id: IDS.web,
    Config: {
      Env: [
        "AGENT_AUTH=Basic c2VydmljZQ==",
        "DOCKERCLOUD_AUTH=Basic x=y",
        "AGENT_HOST=https://h:8443",
        "PLAIN",
        3,
      ],
    },
  };

  test("role credentials in container and image inspects, for everyone", () => {
    const redacted = redactResponse("container:inspect", inspect) as typeof inspect;
    expect(redacted.Config.Env).toEqual([
      "AGENT_AUTH=[redacted]",
      "DOCKERCLOUD_AUTH=[redacted]",
      "AGENT_HOST=https://h:8443",
      "PLAIN",
      3,
    ]);
    expect(inspect.Config.Env[0]).toBe("AGENT_AUTH=Basic c2VydmljZQ==");
    const image = redactResponse("image:inspect", {
      Config: inspect.Config,
      ContainerConfig: inspect.Config,
    }) as {
      Config: { Env: string[] };
      ContainerConfig: { Env: string[] };
    };
    expect(image.Config.Env[1]).toBe("DOCKERCLOUD_AUTH=[redacted]");
    expect(image.ContainerConfig.Env[0]).toBe("AGENT_AUTH=[redacted]");
  });

  test("other actions and other shapes are unchanged", () => {
    expect(redactResponse("container:list", inspect)).toBe(inspect);
    expect(redactResponse("container:inspect", "x")).toBe("x");
    expect(redactResponse("container:inspect", { Config: { Env: "AGENT_AUTH=x" } })).toEqual({
      Config: { Env: "AGENT_AUTH=x" },
    });
    expect(redactResponse("container:inspect", { Config: null })).toEqual({ Config: null });
  });
});

describe("events", () => {
  const container = (labels: Record<string, string>) => ({
    Type: "container",
    Action: "start",
    Actor: { ID: IDS.web, Attributes: { name: "web", image: "tiny", ...labels } },
  });

  test("container events by the labels they carry", async () => {
    const lookup = fakeLookup();
    expect(await eventVisible(container({ [NS]: "alice" }), ALICE, lookup)).toBe(true);
    expect(await eventVisible(container({ [NS]: "team" }), ALICE, lookup)).toBe(true);
    expect(await eventVisible(container({ [NS]: "alice" }), BOB, lookup)).toBe(false);
    expect(await eventVisible(container({}), ALICE, lookup)).toBe(false);
    expect(await eventVisible(container({ "IO.AGENT.NAMESPACE": "alice" }), ALICE, lookup)).toBe(false);
    expect(await eventVisible(container({}), ADMIN, lookup)).toBe(true);
    expect(lookup.calls).toEqual([]);
  });

  test("volume and network events are looked up, with the container they name", async () => {
    const lookup = fakeLookup();
    const volume = (id: string, attributes: Record<string, string> = {}) => ({
      Type: "volume",
      Action: "mount",
      Actor: { ID: id, Attributes: { driver: "local", ...attributes } },
    });
    expect(await eventVisible(volume("alicevol"), ALICE, lookup)).toBe(true);
    expect(await eventVisible(volume("bobvol"), ALICE, lookup)).toBe(false);
    expect(await eventVisible(volume("gone"), ALICE, lookup)).toBe(false);
    expect(await eventVisible(volume("alicevol", { container: IDS.db }), ALICE, lookup)).toBe(false);
    const network = (id: string, attributes: Record<string, string>) => ({
      Type: "network",
      Action: "connect",
      Actor: { ID: id, Attributes: { type: "bridge", ...attributes } },
    });
    expect(await eventVisible(network(IDS.bridge, { name: "bridge", container: IDS.web }), ALICE, lookup))
      .toBe(true);
    expect(await eventVisible(network(IDS.bridge, { name: "bridge", container: IDS.web }), BOB, lookup)).toBe(
      false,
    );
    expect(await eventVisible(network(IDS.bobnet, { name: "bobnet" }), BOB, lookup)).toBe(true);
    expect(await eventVisible(network(IDS.bobnet, { name: "bobnet" }), ALICE, lookup)).toBe(false);
  });

  test("images are everyone's; the daemon, plugins and the rest are administrators'", async () => {
    const lookup = fakeLookup();
    expect(await eventVisible({ Type: "image", Action: "pull", Actor: { ID: "busybox" } }, BOB, lookup)).toBe(
      true,
    );
    for (const type of ["daemon", "plugin", "builder", "node", "service", "secret", "config", undefined]) {
      const event = { Type: type, Action: "reload", Actor: { ID: "x", Attributes: { [NS]: "bob" } } };
      expect(await eventVisible(event, BOB, lookup)).toBe(false);
      expect(await eventVisible(event, ADMIN, lookup)).toBe(true);
    }
  });

  test("malformed events are hidden, never a throw", async () => {
    for (
      const event of [null, "x", 1, [], {}, { Type: "container" }, { Type: "container", Actor: 1 }, {
        Type: "volume",
        Actor: { ID: 5 },
      }]
    ) {
      expect(await eventVisible(event, ALICE, fakeLookup())).toBe(false);
    }
  });
});

describe("error bodies name no other namespace's ids", () => {
  const conflict = {
    message:
      `Conflict. The container name "/db" is already in use by container "${IDS.db}". You have to remove (or rename) that container to be able to reuse that name.`,
  };

  test("a name conflict", () => {
    expect(sanitizeError(409, conflict, ALICE)).toEqual({
      message:
        'Conflict. The container name "/db" is already in use by another container. You have to remove (or rename) that container to be able to reuse that name.',
    });
    expect(sanitizeError(409, conflict, ADMIN)).toBe(conflict);
  });

  test("short and full ids anywhere, as JSON or text; image ids stay", () => {
    const text = `conflict: unable to remove repository reference "tiny" (must force) - container ${
      short(IDS.db)
    } is using its referenced image sha256:${"c".repeat(64)}`;
    expect(sanitizeError(409, { message: text }, BOB)).toEqual({
      message:
        `conflict: unable to remove repository reference "tiny" (must force) - container (hidden) is using its referenced image sha256:${
          "c".repeat(64)
        }`,
    });
    expect(sanitizeError(409, `volume is in use - [${IDS.db}, ${IDS.web}]`, ALICE)).toBe(
      "volume is in use - [(hidden), (hidden)]",
    );
  });

  test("success bodies and other shapes are unchanged", () => {
    expect(sanitizeError(200, conflict, ALICE)).toBe(conflict);
    expect(sanitizeError(500, { message: 3 }, ALICE)).toEqual({ message: 3 });
    expect(sanitizeError(500, undefined, ALICE)).toBeUndefined();
  });
});
