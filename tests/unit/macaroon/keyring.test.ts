/** Keyring and revocation state: derivation, rotation, retirement, persistence and corrupt files. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  currentKey,
  deriveRootKey,
  emptyRevocations,
  initKeyring,
  isRevoked,
  loadKeyring,
  loadRevocations,
  retire,
  revoke,
  rotate,
  saveKeyring,
  saveRevocations,
  verificationKey,
} from "../../../src/macaroon/index.ts";
import { nodeFileSystem } from "../../../src/runtime/node-file-system.ts";
import { stateLayout } from "../../../src/store/layout.ts";
import { caughtAsync, expectAgentError, fixedClock, hex, seededRandom } from "./helpers.ts";

const FAST = { name: "scrypt", logN: 10, r: 8, p: 1 } as const;
const clock = fixedClock();
const dirs: string[] = [];
function tempLayout() {
  const dir = mkdtempSync(join(tmpdir(), "agent-macaroon-"));
  dirs.push(dir);
  return stateLayout(join(dir, "state"));
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("key derivation", () => {
  test("scrypt matches the RFC 7914 test vector for N=1024, r=8, p=16 (via the same primitive)", async () => {
    // RFC 7914 section 12, "password" / "NaCl", first 32 bytes; our wrapper fixes the output at 32 bytes.
    const { scrypt } = await import("@noble/hashes/scrypt.js");
    const out = scrypt("password", "NaCl", { N: 1024, r: 8, p: 16, dkLen: 32 });
    expect(hex(out)).toBe("fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162");
  });

  test("the same passphrase and salt give the same key; another salt gives another key", async () => {
    const salt = new Uint8Array(16).fill(1);
    const a = await deriveRootKey("correct horse battery", salt, FAST);
    const b = await deriveRootKey("correct horse battery", salt, FAST);
    const c = await deriveRootKey("correct horse battery", new Uint8Array(16), FAST);
    expect(hex(a)).toBe(hex(b));
    expect(hex(a)).not.toBe(hex(c));
    expect(a.length).toBe(32);
  });

  test("refuses short passphrases, wrong salts and unsafe parameters without echoing the passphrase", async () => {
    const salt = new Uint8Array(16);
    let err = await caughtAsync(() => deriveRootKey("short", salt, FAST));
    expect([err.code, err.message]).toEqual(["ERR_MACAROON_KEY", "passphrase must be at least 8 characters"]);
    err = await caughtAsync(() => deriveRootKey("long enough", new Uint8Array(8), FAST));
    expect([err.code, err.message]).toEqual(["ERR_MACAROON_KEY", "salt must be 16 bytes"]);
    err = await caughtAsync(() => deriveRootKey("long enough", salt, { ...FAST, logN: 4 }));
    expect([err.code, err.message]).toEqual(["ERR_MACAROON_KEY", "unsupported key derivation parameters"]);
    err = await caughtAsync(() => deriveRootKey("long enough", salt, { ...FAST, logN: 22, r: 32 }));
    expect(err.message).toBe("unsupported key derivation parameters");
  });

  test("the default parameters are N=2^17, r=8, p=1", async () => {
    const ring = await initKeyring("a passphrase for the default", seededRandom(1), clock);
    expect(ring.keys[0]!.kdf).toMatchObject({ name: "scrypt", logN: 17, r: 8, p: 1 });
  });
});

describe("keyring", () => {
  test("a passphrase keyring stores its salt; re-deriving with that salt gives the same key and key id", async () => {
    const a = await initKeyring("fleet passphrase 1", seededRandom(1), clock, { kdf: FAST });
    const key = currentKey(a);
    expect(key.kdf!.salt.length).toBe(16);
    const b = await initKeyring("fleet passphrase 1", seededRandom(2), clock, {
      kdf: FAST,
      salt: key.kdf!.salt,
    });
    expect(currentKey(b).id).toBe(key.id);
    expect(hex(currentKey(b).key)).toBe(hex(key.key));
    expect(key.id).toMatch(/^[0-9a-f]{8}$/);
  });

  test("a keyring without a passphrase has a random 32-byte key", async () => {
    const ring = await initKeyring(undefined, seededRandom(5), clock);
    expect(currentKey(ring).key.length).toBe(32);
    expect(currentKey(ring).kdf).toBeUndefined();
  });

  test("rotation adds a current key; old keys verify until retired; the current key cannot be retired", async () => {
    const first = await initKeyring(undefined, seededRandom(5), clock);
    const oldId = first.current;
    const second = rotate(first, seededRandom(6), clock);
    expect(second.current).not.toBe(oldId);
    expect(verificationKey(second, oldId)).toBeDefined();
    const third = retire(second, oldId, fixedClock("2025-02-01T00:00:00.000Z"));
    expect(verificationKey(third, oldId)).toBeUndefined();
    expect(third.keys.find((k) => k.id === oldId)!.retiredAt).toBe("2025-02-01T00:00:00.000Z");
    expectAgentError(
      () => retire(third, third.current, clock),
      "ERR_MACAROON_KEY",
      "cannot retire the current signing key; rotate first",
    );
    expectAgentError(
      () => retire(third, oldId, clock),
      "ERR_MACAROON_KEY",
      "macaroon key is already retired",
    );
    expectAgentError(() => retire(third, "nope", clock), "ERR_MACAROON_KEY", "no such macaroon key id");
    expect(verificationKey(third, "nope")).toBeUndefined();
  });

  test("rotation skips a key id already in the ring", async () => {
    const ring = await initKeyring(undefined, seededRandom(5), clock);
    const repeat = seededRandom(5);
    const rotated = rotate(ring, (n) => (n === 32 ? repeat(32) : new Uint8Array(n)), clock);
    expect(rotated.keys.length).toBe(2);
  });

  test("saves with mode 0600 in a 0700 directory and loads back identically", async () => {
    const layout = tempLayout();
    const ring = rotate(
      await initKeyring("persist me please", seededRandom(1), clock, { kdf: FAST }),
      seededRandom(2),
      clock,
    );
    await saveKeyring(nodeFileSystem, layout, ring, "create");
    expect(statSync(layout.macaroonKeys).mode & 0o777).toBe(0o600);
    expect(statSync(join(layout.root, "macaroon")).mode & 0o777).toBe(0o700);
    const loaded = (await loadKeyring(nodeFileSystem, layout))!;
    expect(loaded.current).toBe(ring.current);
    expect(loaded.keys.map((k) => [k.id, hex(k.key), k.createdAt, k.kdf && hex(k.kdf.salt)]))
      .toEqual(ring.keys.map((k) => [k.id, hex(k.key), k.createdAt, k.kdf && hex(k.kdf.salt)]));
    const err = await caughtAsync(() => saveKeyring(nodeFileSystem, layout, ring, "create"));
    expect(err.code).toBe("ERR_STATE_EXISTS");
  });

  test("a missing key file means no keyring (the macaroon gate is off)", async () => {
    expect(await loadKeyring(nodeFileSystem, tempLayout())).toBeUndefined();
  });

  test("corrupt key files are ERR_STATE_CORRUPT naming the file and never the key", async () => {
    const layout = tempLayout();
    const ring = await initKeyring(undefined, seededRandom(9), clock);
    await saveKeyring(nodeFileSystem, layout, ring);
    const secret = JSON.parse(await nodeFileSystem.readText(layout.macaroonKeys)).keys[0].key as string;
    const variants: [string, string][] = [
      ["{not json", "not JSON"],
      [JSON.stringify({ version: 2, current: ring.current, keys: [] }), "unknown version"],
      [JSON.stringify({ version: 1, current: ring.current, keys: [] }), "keys is not a non-empty list"],
      [
        JSON.stringify({
          version: 1,
          current: "other",
          keys: [{ id: ring.current, key: secret, createdAt: "2025-01-01T00:00:00Z" }],
        }),
        "current key is missing or retired",
      ],
      [
        JSON.stringify({
          version: 1,
          current: ring.current,
          keys: [{ id: ring.current, key: secret.slice(2), createdAt: "2025-01-01T00:00:00Z" }],
        }),
        "key material is not 32 bytes",
      ],
      [
        JSON.stringify({
          version: 1,
          current: ring.current,
          keys: [{ id: ring.current, key: secret, createdAt: "yesterday" }],
        }),
        "bad createdAt",
      ],
      [
        JSON.stringify({
          version: 1,
          current: ring.current,
          keys: [{
            id: ring.current,
            key: secret,
            createdAt: "2025-01-01T00:00:00Z",
            kdf: { name: "scrypt", logN: 3, r: 8, p: 1, salt: "AAAAAAAAAAAAAAAAAAAAAA" },
          }],
        }),
        "bad kdf parameters",
      ],
    ];
    for (const [content, detail] of variants) {
      writeFileSync(layout.macaroonKeys, content);
      const err = await caughtAsync(() => loadKeyring(nodeFileSystem, layout));
      expect(err.code).toBe("ERR_STATE_CORRUPT");
      expect(err.message).toBe(`macaroon key file is corrupt: ${layout.macaroonKeys}`);
      expect(err.detail).toContain(detail);
      expect(`${err.message} ${err.detail}`).not.toContain(secret);
      expect(`${err.message} ${err.detail}`).not.toContain(secret.slice(2));
    }
  });
});

describe("revocations", () => {
  const nonce = "AAAAAAAAAAAAAAAAAAAAAA";

  test("revoke adds a nonce once; isRevoked answers from a set", () => {
    const none = emptyRevocations();
    expect(isRevoked(none, nonce)).toBe(false);
    const one = revoke(none, nonce, clock);
    expect(isRevoked(one, nonce)).toBe(true);
    expect(isRevoked(none, nonce)).toBe(false);
    expect(revoke(one, nonce, clock)).toBe(one);
    expectAgentError(
      () => revoke(one, "not a nonce", clock),
      "ERR_USAGE",
      "not a macaroon nonce (22 base64url characters)",
    );
  });

  test("persist with mode 0600 and load back; a missing file is an empty list", async () => {
    const layout = tempLayout();
    expect((await loadRevocations(nodeFileSystem, layout)).revoked).toEqual([]);
    await saveRevocations(nodeFileSystem, layout, revoke(emptyRevocations(), nonce, clock));
    expect(statSync(layout.macaroonRevocations).mode & 0o777).toBe(0o600);
    const loaded = await loadRevocations(nodeFileSystem, layout);
    expect(isRevoked(loaded, nonce)).toBe(true);
    expect(loaded.revoked[0]!.revokedAt).toBe("2025-01-02T03:04:05.000Z");
  });

  test("a corrupt revocation file is ERR_STATE_CORRUPT naming the file", async () => {
    const layout = tempLayout();
    await saveRevocations(nodeFileSystem, layout, emptyRevocations());
    for (
      const content of [
        "[]",
        '{"version":1,"revoked":[{"nonce":"x","revokedAt":"2025-01-01T00:00:00Z"}]}',
        "nope",
      ]
    ) {
      writeFileSync(layout.macaroonRevocations, content);
      const err = await caughtAsync(() => loadRevocations(nodeFileSystem, layout));
      expect([err.code, err.message]).toEqual([
        "ERR_STATE_CORRUPT",
        `macaroon revocation file is corrupt: ${layout.macaroonRevocations}`,
      ]);
    }
  });
});
