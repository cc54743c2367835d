/** A host's membership files: endpoints and names checked, fleet.json and fleet.key round trips, the snapshot record. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdir, stat, writeFile } from "node:fs/promises";
import { AgentError } from "../../../src/errors.ts";
import {
  checkNodeName,
  ensureFleetKey,
  type FleetConfig,
  loadFleetConfig,
  loadFleetKey,
  loadSnapshotRecord,
  parseEndpoints,
  saveFleetConfig,
  saveFleetKey,
  saveSnapshotRecord,
} from "../../../src/fleet/membership.ts";
import { base64UrlEncode } from "../../../src/macaroon/base64.ts";
import { nodeFileSystem } from "../../../src/runtime/node-file-system.ts";
import { fleetHost, removeTempDirs, seededRandom } from "./helpers.ts";

afterAll(removeTempDirs);

function thrown(fn: () => unknown): AgentError {
  try {
    fn();
  } catch (err) {
    if (err instanceof AgentError) return err;
    throw err;
  }
  throw new Error("did not throw");
}

async function rejected(promise: Promise<unknown>): Promise<AgentError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof AgentError) return err;
    throw err;
  }
  throw new Error("did not reject");
}

describe("parseEndpoints", () => {
  test("one or more http(s) URLs with a port; spaces and a trailing slash are dropped", () => {
    expect(parseEndpoints("https://etcd1:2379")).toEqual(["https://etcd1:2379"]);
    expect(parseEndpoints(" https://etcd1:2379/ , http://10.0.0.2:2379,,https://[fd00::1]:2379"))
      .toEqual(["https://etcd1:2379", "http://10.0.0.2:2379", "https://[fd00::1]:2379"]);
    const sixteen = Array.from({ length: 16 }, (_, i) => `https://e${i}:2379`).join(",");
    expect(parseEndpoints(sixteen)).toHaveLength(16);
  });

  const hostile: Record<string, string> = {
    "nothing": "",
    "only commas": " , ,",
    "no scheme": "etcd1:2379",
    "another scheme": "unix:///run/etcd.sock",
    "a file URL": "file://etcd:2379",
    "no port": "https://etcd1",
    "a port of six digits": "https://etcd1:123456",
    "a path": "https://etcd1:2379/v3/kv",
    "a query": "https://etcd1:2379?x=1",
    "a fragment": "https://etcd1:2379#x",
    "credentials": "https://user:pass@etcd1:2379",
    "a space in the host": "https://etc d1:2379",
    "a non-ASCII host": "https://\u00e9tcd:2379",
    "a newline": "https://etcd1:2379\nhttps://evil:2379",
    "an IPv6 address without brackets": "https://fd00::1:2379",
    "seventeen endpoints": Array.from({ length: 17 }, (_, i) => `https://e${i}:2379`).join(","),
    "one good, one bad": "https://etcd1:2379,ftp://etcd2:21",
  };
  for (const [name, text] of Object.entries(hostile)) {
    test(`refuses ${name}`, () => {
      const err = thrown(() => parseEndpoints(text));
      expect(err.code).toBe("ERR_USAGE");
      expect(err.message).not.toContain("\n");
    });
  }

  test("the refusal quotes at most 80 characters of a bad endpoint", () => {
    const err = thrown(() => parseEndpoints(`https://${"x".repeat(300)}SECRET:2379/`));
    expect(err.message).not.toContain("SECRET");
  });
});

describe("checkNodeName", () => {
  test("accepts names of 1 to 64 characters", () => {
    for (const name of ["a", "host-a", "web_1.example.com", "_x", "node@dc1", "9", "a".repeat(64)]) {
      expect(checkNodeName(name)).toBe(name);
    }
  });
  test("refuses path tricks, spaces, non-ASCII, too long", () => {
    for (
      const name of [
        "",
        ".",
        "..",
        "../x",
        "a/b",
        "-a",
        ".a",
        "@a",
        "a b",
        "a\n",
        "h\u00f6st",
        "a".repeat(65),
      ]
    ) {
      expect(thrown(() => checkNodeName(name)).code).toBe("ERR_USAGE");
    }
  });
});

const CONFIG: FleetConfig = {
  endpoints: ["https://etcd1:2379", "https://etcd2:2379"],
  prefix: "/agent/prod/",
  name: "host-a",
  cert: "/var/lib/agent/fleet/node.crt",
  key: "/var/lib/agent/fleet/node.key",
  ca: "/var/lib/agent/fleet/etcd-ca.pem",
};

describe("fleet.json", () => {
  test("round-trips, in a 0700 directory as a 0600 file", async () => {
    const h = await fleetHost();
    expect(await loadFleetConfig(nodeFileSystem, h.files)).toBeUndefined();
    await saveFleetConfig(nodeFileSystem, h.files, CONFIG);
    expect(await loadFleetConfig(nodeFileSystem, h.files)).toEqual(CONFIG);
    expect((await stat(h.files.config)).mode & 0o777).toBe(0o600);
    expect((await stat(h.files.dir)).mode & 0o777).toBe(0o700);
  });

  test("a prefix without its trailing slash is normalised on load", async () => {
    const h = await fleetHost();
    await saveFleetConfig(nodeFileSystem, h.files, { ...CONFIG, prefix: "/agent/prod" });
    expect((await loadFleetConfig(nodeFileSystem, h.files))?.prefix).toBe("/agent/prod/");
  });

  const corrupt: Record<string, string> = {
    "not JSON": "{",
    "empty": "",
    "null": "null",
    "a list": "[]",
    "no version": JSON.stringify({ ...CONFIG }),
    "version 2": JSON.stringify({ version: 2, ...CONFIG }),
    "endpoints not a list": JSON.stringify({ version: 1, ...CONFIG, endpoints: "https://etcd1:2379" }),
    "endpoints with a number": JSON.stringify({ version: 1, ...CONFIG, endpoints: [2379] }),
    "no endpoints": JSON.stringify({ version: 1, ...CONFIG, endpoints: [] }),
    "a hostile endpoint": JSON.stringify({ version: 1, ...CONFIG, endpoints: ["https://x:1/../"] }),
    "a hostile prefix": JSON.stringify({ version: 1, ...CONFIG, prefix: "/agent/../" }),
    "a hostile name": JSON.stringify({ version: 1, ...CONFIG, name: "../root" }),
    "an empty cert path": JSON.stringify({ version: 1, ...CONFIG, cert: "" }),
    "a key path that is not text": JSON.stringify({ version: 1, ...CONFIG, key: 5 }),
    "no ca": JSON.stringify({ version: 1, ...CONFIG, ca: undefined }),
  };
  for (const [name, text] of Object.entries(corrupt)) {
    test(`refuses a corrupt file: ${name}`, async () => {
      const h = await fleetHost();
      await mkdir(h.files.dir, { recursive: true });
      await writeFile(h.files.config, text);
      const err = await rejected(loadFleetConfig(nodeFileSystem, h.files));
      expect(err.code).toBe("ERR_FLEET_CONFIG");
      expect(err.message).toContain(h.files.config);
    });
  }
});

describe("fleet.key", () => {
  test("32 bytes of base64url, 0600; ensureFleetKey makes one once and then keeps it", async () => {
    const h = await fleetHost();
    expect(await loadFleetKey(nodeFileSystem, h.files)).toBeUndefined();
    const made = await ensureFleetKey(nodeFileSystem, h.files, seededRandom("first"));
    expect(made).toHaveLength(32);
    expect((await stat(h.files.fleetKey)).mode & 0o777).toBe(0o600);
    expect(await h.read(h.files.fleetKey)).toBe(base64UrlEncode(made) + "\n");
    const again = await ensureFleetKey(nodeFileSystem, h.files, seededRandom("second"));
    expect(again).toEqual(made);
    expect(await loadFleetKey(nodeFileSystem, h.files)).toEqual(made);
    const other = seededRandom("replaced")(32);
    await saveFleetKey(nodeFileSystem, h.files, other);
    expect(await loadFleetKey(nodeFileSystem, h.files)).toEqual(other);
  });

  test("a key file of the wrong length or not base64 is refused (never used short)", async () => {
    const h = await fleetHost();
    await mkdir(h.files.dir, { recursive: true });
    for (
      const text of [
        "",
        base64UrlEncode(new Uint8Array(31)),
        base64UrlEncode(new Uint8Array(33)),
        base64UrlEncode(new Uint8Array(16)),
        "not base64 at all!",
        base64UrlEncode(new Uint8Array(32)).slice(1),
      ]
    ) {
      await writeFile(h.files.fleetKey, text);
      const err = await rejected(loadFleetKey(nodeFileSystem, h.files));
      expect(err.code).toBe("ERR_FLEET_CONFIG");
      expect(err.message).toContain("not 32 bytes");
      // A refusal never echoes the file's content (it is a secret).
      if (text.length > 8) expect(err.message).not.toContain(text);
    }
  });

  test("ensureFleetKey refuses to replace a broken key file", async () => {
    const h = await fleetHost();
    await mkdir(h.files.dir, { recursive: true });
    await writeFile(h.files.fleetKey, "short");
    await rejected(ensureFleetKey(nodeFileSystem, h.files, seededRandom("x")));
    expect(await h.read(h.files.fleetKey)).toBe("short");
  });
});

describe("snapshot.json", () => {
  test("round-trips", async () => {
    const h = await fleetHost();
    expect(await loadSnapshotRecord(nodeFileSystem, h.files)).toBeUndefined();
    const record = {
      revision: 42,
      contactAt: "2030-05-06T07:08:09.000Z",
      applied: { policy: 3, keyring: 0 },
    };
    await saveSnapshotRecord(nodeFileSystem, h.files, record);
    expect(await loadSnapshotRecord(nodeFileSystem, h.files)).toEqual(record);
    expect((await stat(h.files.snapshot)).mode & 0o777).toBe(0o600);
  });

  test("a corrupt record is treated as none (the next sync lists again); non-numbers in applied are dropped", async () => {
    const h = await fleetHost();
    await mkdir(h.files.dir, { recursive: true });
    const ok = { version: 1, revision: 5, contactAt: "2030-05-06T07:08:09.000Z", applied: {} };
    for (
      const value of [
        "{",
        "null",
        "[]",
        JSON.stringify({ ...ok, version: 2 }),
        JSON.stringify({ ...ok, revision: "5" }),
        JSON.stringify({ ...ok, revision: 1.5 }),
        JSON.stringify({ ...ok, revision: 2 ** 60 }),
        JSON.stringify({ ...ok, contactAt: 5 }),
        JSON.stringify({ ...ok, applied: null }),
      ]
    ) {
      await writeFile(h.files.snapshot, value);
      expect({ value, record: await loadSnapshotRecord(nodeFileSystem, h.files) }).toEqual({
        value,
        record: undefined,
      });
    }
    await writeFile(
      h.files.snapshot,
      JSON.stringify({ ...ok, applied: { policy: 4, ca: "7", keyring: null } }),
    );
    expect((await loadSnapshotRecord(nodeFileSystem, h.files))?.applied).toEqual({ policy: 4 });
  });
});
