/**
 * The values the fleet keeps in etcd: each piece round-trips, and a value that is not what its key should
 * hold is refused with ERR_FLEET_VALUE and a reason (never a crash, never a partial piece). The keyring is
 * sealed with the fleet key: its root keys never appear in etcd in the clear.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import { AgentError } from "../../../src/errors.ts";
import {
  CA_FILE_NAMES,
  decodePiece,
  decodeRevoked,
  encodePiece,
  encodeRevoked,
  MAX_VALUE_BYTES,
  type PieceContent,
} from "../../../src/fleet/values.ts";
import { base64Decode, base64UrlEncode } from "../../../src/macaroon/base64.ts";
import { sealBox } from "../../../src/macaroon/secretbox.ts";
import { isTimestamp } from "../../../src/macaroon/state-file.ts";
import type { WholePiece } from "../../../src/fleet/keys.ts";
import {
  caFilesOf,
  decoder,
  encoder,
  json,
  NONCE_A,
  pieces,
  pieceValue,
  removeTempDirs,
  seededRandom,
} from "./helpers.ts";

afterAll(removeTempDirs);

const KEY = seededRandom("values key")(32);
const OTHER_KEY = seededRandom("another fleet")(32);
const PUBLISHER = { by: "operator", at: "2030-05-06T07:00:00.000Z" };

function refused(piece: WholePiece, value: Uint8Array, key: Uint8Array | null = KEY): AgentError {
  try {
    decodePiece(piece, value, key ?? undefined);
  } catch (err) {
    if (err instanceof AgentError) return err;
    throw err;
  }
  throw new Error(`${piece}: accepted ${decoder.decode(value).slice(0, 200)}`);
}

function record(value: Uint8Array): Record<string, unknown> {
  return JSON.parse(decoder.decode(value)) as Record<string, unknown>;
}

describe("each piece round-trips", () => {
  test("policy, CA, keyring and API keys decode to what was encoded, with the publisher", async () => {
    const m = await pieces();
    const contents: PieceContent[] = [
      { piece: "policy", text: m.policy },
      { piece: "ca", files: caFilesOf(m.caA) },
      { piece: "ca", files: { "cluster.crt": m.caA["cluster.crt"] } },
      { piece: "keyring", fileText: m.keyring },
      { piece: "apikeys", fileText: m.apikeys },
      { piece: "policy", text: "" },
      { piece: "apikeys", fileText: 'non-ASCII \u00e9\u4e2d\ud83d\ude00 and "quotes"\n' },
    ];
    for (const content of contents) {
      const value = pieceValue(content, KEY);
      expect(record(value)["version"]).toBe(1);
      const decoded = decodePiece(content.piece, value, KEY);
      expect(decoded.content).toEqual(content);
      expect(decoded.publisher).toEqual(PUBLISHER);
    }
  });

  test("a value without a publisher still decodes (publisher undefined)", () => {
    const text = "version: 1\nrules: []\n";
    const value = json({ version: 1, text, sha256: bytesToHex(sha256(encoder.encode(text))) });
    expect(decodePiece("policy", value, undefined)).toEqual({
      content: { piece: "policy", text },
      publisher: undefined,
    });
  });

  test("the policy carries the SHA-256 of its text", async () => {
    const m = await pieces();
    const value = record(pieceValue({ piece: "policy", text: m.policy }, KEY));
    expect(value["sha256"]).toBe(bytesToHex(sha256(encoder.encode(m.policy))));
  });
});

describe("the sealed keyring", () => {
  test("holds no key material in the clear and opens only with the fleet key", async () => {
    const m = await pieces();
    const value = pieceValue({ piece: "keyring", fileText: m.keyring }, KEY);
    const text = decoder.decode(value);
    const keys = (JSON.parse(m.keyring) as { keys: { id: string; key: string }[] }).keys;
    expect(keys.length).toBeGreaterThan(0);
    for (const k of keys) {
      expect(text).not.toContain(k.key);
      // Nor in the other base64 alphabet, nor as hex.
      const raw = base64Decode(k.key)!;
      expect(text).not.toContain(btoa(String.fromCharCode(...raw)).replace(/=+$/, ""));
      expect(text).not.toContain(bytesToHex(raw));
    }
    expect(text).not.toContain('"keys"');
    expect(Object.keys(record(value)).sort()).toEqual(["publishedAt", "publishedBy", "sealed", "version"]);
  });

  test("two seals of the same keyring differ (a fresh nonce each time)", async () => {
    const m = await pieces();
    const a = record(pieceValue({ piece: "keyring", fileText: m.keyring }, KEY))["sealed"];
    const b = record(pieceValue({ piece: "keyring", fileText: m.keyring }, KEY))["sealed"];
    expect(a).not.toBe(b);
  });

  test("refused: sealed with another fleet's key, without a fleet key, or with a short one", async () => {
    const m = await pieces();
    const value = pieceValue({ piece: "keyring", fileText: m.keyring }, OTHER_KEY);
    expect(refused("keyring", value).message).toContain("does not open with this host's fleet key");
    expect(refused("keyring", value, null).message).toContain("no fleet key");
    expect(
      refused("keyring", pieceValue({ piece: "keyring", fileText: m.keyring }, KEY), KEY.subarray(0, 31))
        .message,
    )
      .toContain("no fleet key");
  });

  test("refused: every single bit flipped in the box, truncated boxes, and a box that is not base64", async () => {
    const m = await pieces();
    const value = record(pieceValue({ piece: "keyring", fileText: m.keyring }, KEY));
    const box = base64Decode(value["sealed"] as string)!;
    const sealed = (bytes: Uint8Array) => json({ ...value, sealed: base64UrlEncode(bytes) });
    // Every byte position, one bit each (rotating which bit), covers nonce, tag and ciphertext.
    for (let i = 0; i < box.length; i++) {
      const flipped = new Uint8Array(box);
      flipped[i] = flipped[i]! ^ (1 << (i % 8));
      expect(refused("keyring", sealed(flipped)).code).toBe("ERR_FLEET_VALUE");
    }
    for (const length of [0, 1, 23, 24, 39, 40, box.length - 1]) {
      expect(refused("keyring", sealed(box.subarray(0, length))).code).toBe("ERR_FLEET_VALUE");
    }
    const extended = new Uint8Array(box.length + 1);
    extended.set(box);
    expect(refused("keyring", sealed(extended)).code).toBe("ERR_FLEET_VALUE");
    expect(refused("keyring", json({ ...value, sealed: "not base64!" })).message).toContain("not base64");
    expect(refused("keyring", json({ ...value, sealed: 42 })).message).toContain("sealed is not a string");
  });

  test("refused: a box that opens but holds bytes that are not UTF-8", () => {
    const value = record(pieceValue({ piece: "keyring", fileText: "x" }, KEY));
    const sealed = sealBox(KEY, seededRandom("nonce")(24), new Uint8Array([0xff, 0xfe, 0x80]));
    expect(refused("keyring", json({ ...value, sealed: base64UrlEncode(sealed) })).message).toContain(
      "not UTF-8",
    );
  });
});

describe("refused values", () => {
  test("not JSON, not an object, not UTF-8, or an unknown version: for every piece", () => {
    for (const piece of ["policy", "ca", "keyring", "apikeys"] as const) {
      expect(refused(piece, encoder.encode("{not json")).message).toContain("not JSON");
      expect(refused(piece, encoder.encode("")).message).toContain("not JSON");
      expect(refused(piece, new Uint8Array([0x7b, 0xff, 0x7d])).message).toContain("not JSON");
      for (const shape of ["null", "[]", "[1]", '"text"', "42", "true"]) {
        expect(refused(piece, encoder.encode(shape)).message).toContain("not an object");
      }
      for (const version of [undefined, 0, 2, "1", 1.5, null]) {
        expect(refused(piece, json({ version, text: "", file: "", files: {} })).message).toContain(
          "unknown version",
        );
      }
    }
  });

  test("over MAX_VALUE_BYTES is refused before it is parsed, and never encoded", () => {
    const big = new Uint8Array(MAX_VALUE_BYTES + 1).fill(0x20);
    const err = refused("apikeys", big);
    expect(err.message).toContain(`${MAX_VALUE_BYTES + 1} bytes`);
    // Exactly the limit is parsed (and here refused for being blank).
    expect(refused("apikeys", new Uint8Array(MAX_VALUE_BYTES).fill(0x20)).message).toContain("not JSON");
    expect(() =>
      encodePiece({ piece: "policy", text: "#".repeat(MAX_VALUE_BYTES) }, PUBLISHER, {
        fleetKey: KEY,
        random: seededRandom("big"),
      })
    ).toThrow(/over the 1048576 a fleet value may hold/);
  });

  test("a policy whose sha256 does not match its text, or is missing", () => {
    const text = "version: 1\nrules: []\n";
    const good = bytesToHex(sha256(encoder.encode(text)));
    expect(refused("policy", json({ version: 1, text: text + " ", sha256: good })).message).toContain(
      "sha256 does not match",
    );
    expect(refused("policy", json({ version: 1, text, sha256: good.toUpperCase() })).message).toContain(
      "sha256",
    );
    expect(refused("policy", json({ version: 1, text })).message).toContain("sha256");
    expect(refused("policy", json({ version: 1, sha256: good })).message).toContain("text is not a string");
    expect(refused("policy", json({ version: 1, text: ["a"], sha256: good })).message).toContain(
      "text is not a string",
    );
  });

  test("a CA piece with a file of another name (the CA key above all), a non-text file, or no certificate", async () => {
    const m = await pieces();
    const files = caFilesOf(m.caA);
    const ca = (f: unknown) => json({ version: 1, files: f });
    for (
      const name of [
        "cluster.key",
        "../cluster.crt",
        "ca/cluster.crt",
        "CLUSTER.CRT",
        "cluster.crt ",
        "",
        "__proto__x",
      ]
    ) {
      const err = refused("ca", ca({ ...files, [name]: "x" }));
      expect(err.message).toContain("an unexpected file");
      // The refusal does not echo the (possibly secret) content.
      expect(err.message).not.toContain("PRIVATE KEY");
    }
    expect(refused("ca", ca({ ...files, "cluster.key": m.caA["cluster.key"] })).message).not.toContain(
      m.caA["cluster.key"].slice(40, 80),
    );
    expect(refused("ca", ca({ ...files, "crl.pem": 7 })).message).toContain("crl.pem is not text");
    expect(refused("ca", ca({ "crl.pem": files["crl.pem"] })).message).toContain("no cluster.crt");
    expect(refused("ca", ca({})).message).toContain("no cluster.crt");
    for (const shape of [null, [], "files", 1]) {
      expect(refused("ca", ca(shape)).message).toContain("files is not an object");
    }
    expect(CA_FILE_NAMES).not.toContain("cluster.key" as never);
  });

  test("API keys whose file is not a string", () => {
    expect(refused("apikeys", json({ version: 1 })).message).toContain("file is not a string");
    expect(refused("apikeys", json({ version: 1, file: { keys: [] } })).message).toContain(
      "file is not a string",
    );
  });

  test("a value for one piece is not accepted as another", async () => {
    const m = await pieces();
    const policy = pieceValue({ piece: "policy", text: m.policy }, KEY);
    expect(refused("apikeys", policy).code).toBe("ERR_FLEET_VALUE");
    expect(refused("ca", policy).code).toBe("ERR_FLEET_VALUE");
    expect(refused("keyring", policy).code).toBe("ERR_FLEET_VALUE");
    const apikeys = pieceValue({ piece: "apikeys", fileText: m.apikeys }, KEY);
    expect(refused("policy", apikeys).code).toBe("ERR_FLEET_VALUE");
  });

  test("the reason names the piece and never holds the value", () => {
    const err = refused("apikeys", json({ version: 2, file: "SECRET-VALUE" }));
    expect(err.message).toStartWith("the fleet's API keys in etcd is not usable");
    expect(err.message).not.toContain("SECRET-VALUE");
  });
});

describe("revocations", () => {
  const at = "2030-05-06T07:08:09.123Z";

  test("round-trip: the key names the nonce, the value when and by whom", () => {
    const value = encodeRevoked({ nonce: NONCE_A, revokedAt: at, by: "host-a" });
    expect(record(value)).toEqual({ version: 1, revokedAt: at, by: "host-a" });
    expect(decodeRevoked(NONCE_A, value)).toEqual({ nonce: NONCE_A, revokedAt: at, by: "host-a" });
  });

  test("timestamps with offsets and fractions are accepted, in the form the local revocation file holds", () => {
    const cases: Record<string, string> = {
      "2030-05-06T07:08:09Z": "2030-05-06T07:08:09.000Z",
      "2030-05-06T07:08:09.123456789+02:00": "2030-05-06T05:08:09.123Z",
      "2030-05-06T07:08:09-05:30": "2030-05-06T12:38:09.000Z",
      [at]: at,
    };
    for (const [revokedAt, stored] of Object.entries(cases)) {
      const decoded = decodeRevoked(NONCE_A, json({ version: 1, revokedAt })).revokedAt;
      expect(decoded).toBe(stored);
      expect(isTimestamp(decoded)).toBe(true);
    }
  });

  test("`by` is optional and capped", () => {
    expect(decodeRevoked(NONCE_A, json({ version: 1, revokedAt: at })).by).toBe("");
    expect(decodeRevoked(NONCE_A, json({ version: 1, revokedAt: at, by: 7 })).by).toBe("");
    expect(decodeRevoked(NONCE_A, json({ version: 1, revokedAt: at, by: "x".repeat(500) })).by).toHaveLength(
      64,
    );
  });

  test("refused: a key that is not a nonce", () => {
    const value = encodeRevoked({ nonce: NONCE_A, revokedAt: at, by: "h" });
    for (
      const nonce of [
        "",
        "short",
        NONCE_A + "A",
        NONCE_A.slice(1) + "=",
        NONCE_A.slice(1) + "/",
        "../../policy",
        NONCE_A.slice(1) + "\u00e9",
      ]
    ) {
      expect(() => decodeRevoked(nonce, value)).toThrow(/its key is not a macaroon nonce/);
    }
  });

  test("refused: bad timestamps, a wrong version, too large", () => {
    for (
      const revokedAt of [
        "yesterday",
        "2030-05-06",
        "2030-05-06 07:08:09Z",
        "2030-13-06T07:08:09Z",
        "2030-05-06T07:08:09",
        "2030-05-06T07:08:09.Z",
        "2030-05-06T07:08:09.1234567890Z",
        "2030-05-06T07:08:09Z\n",
        // Valid as written, but past year 9999 in UTC: the local file could not hold it.
        "9999-12-31T23:30:00-01:00",
        "0000-01-01T00:30:00+01:00",
        "",
        1_900_000_000,
        null,
      ]
    ) {
      let err: unknown;
      try {
        decodeRevoked(NONCE_A, json({ version: 1, revokedAt }));
      } catch (e) {
        err = e;
      }
      expect({ revokedAt, code: (err as AgentError | undefined)?.code }).toEqual({
        revokedAt,
        code: "ERR_FLEET_VALUE",
      });
    }
    expect(() => decodeRevoked(NONCE_A, json({ version: 2, revokedAt: at }))).toThrow(/unknown version/);
    expect(() => decodeRevoked(NONCE_A, json({ version: 1, revokedAt: at, by: "x".repeat(5000) }))).toThrow(
      /over 4096 bytes/,
    );
    expect(() => decodeRevoked(NONCE_A, encoder.encode("nonsense"))).toThrow(/not JSON/);
  });
});
