/**
 * The values stored in etcd, as JSON with a version, and their checks. A value that is not what its key
 * should hold (bad JSON, a wrong shape, too large, a keyring that does not open) is refused with a reason;
 * the follower then keeps the last good version of that piece (fleet/materialize.ts). Whether a policy
 * compiles, a CRL parses or a keyring is sound is decided by the agent's own loaders, not here.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import { AgentError } from "../errors.ts";
import { base64Decode, base64UrlEncode } from "../macaroon/base64.ts";
import { isValidNonce } from "../macaroon/identifier.ts";
import { isTimestamp } from "../macaroon/state-file.ts";
import { openBox, sealBox, SECRETBOX_KEY_BYTES, SECRETBOX_NONCE_BYTES } from "../macaroon/secretbox.ts";
import type { RandomBytes } from "../ports.ts";
import type { WholePiece } from "./keys.ts";

/** etcd takes requests up to 1.5 MiB by default; a piece larger than this is refused before it is parsed. */
export const MAX_VALUE_BYTES = 1024 * 1024;

/** The files of the CA piece: the certificate, the CRL and the issued index (never the CA's key). */
export const CA_FILE_NAMES = ["cluster.crt", "crl.pem", "index.json"] as const;
export type CaFileName = (typeof CA_FILE_NAMES)[number];

/** A piece's content as the local files hold it. */
export type PieceContent =
  | { readonly piece: "policy"; readonly text: string }
  | { readonly piece: "ca"; readonly files: Readonly<Partial<Record<CaFileName, string>>> }
  | { readonly piece: "keyring"; readonly fileText: string }
  | { readonly piece: "apikeys"; readonly fileText: string };

export interface Publisher {
  /** Who published it (the node name), for `agent fleet status` and the log. */
  readonly by: string;
  readonly at: string;
}

function refuse(what: string, detail: string): AgentError {
  return new AgentError("ERR_FLEET_VALUE", `${what} in etcd is not usable: ${detail}`);
}

const decoder = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

function parseObject(value: Uint8Array, what: string): Record<string, unknown> {
  if (value.length > MAX_VALUE_BYTES) {
    throw refuse(what, `${value.length} bytes, over the ${MAX_VALUE_BYTES} allowed`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(value));
  } catch {
    throw refuse(what, "not JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw refuse(what, "not an object");
  }
  const record = parsed as Record<string, unknown>;
  if (record["version"] !== 1) throw refuse(what, "unknown version");
  return record;
}

function stringField(record: Record<string, unknown>, name: string, what: string): string {
  const value = record[name];
  if (typeof value !== "string") throw refuse(what, `${name} is not a string`);
  return value;
}

const TITLES: Record<WholePiece, string> = {
  policy: "the fleet's policy",
  ca: "the fleet's CA certificate and CRL",
  keyring: "the fleet's macaroon keyring",
  apikeys: "the fleet's API keys",
};

export function pieceTitle(piece: WholePiece): string {
  return TITLES[piece];
}

/** The value to store for a piece. The keyring is sealed with the fleet key: root keys never sit in etcd in the clear. */
export function encodePiece(
  content: PieceContent,
  publisher: Publisher,
  seal: { readonly fleetKey: Uint8Array; readonly random: RandomBytes },
): Uint8Array {
  const common = { version: 1, publishedBy: publisher.by, publishedAt: publisher.at };
  let body: Record<string, unknown>;
  switch (content.piece) {
    case "policy":
      body = { ...common, sha256: bytesToHex(sha256(encoder.encode(content.text))), text: content.text };
      break;
    case "ca":
      body = { ...common, files: content.files };
      break;
    case "keyring": {
      const box = sealBox(
        seal.fleetKey,
        seal.random(SECRETBOX_NONCE_BYTES),
        encoder.encode(content.fileText),
      );
      body = { ...common, sealed: base64UrlEncode(box) };
      break;
    }
    case "apikeys":
      body = { ...common, file: content.fileText };
      break;
  }
  const bytes = encoder.encode(JSON.stringify(body));
  if (bytes.length > MAX_VALUE_BYTES) {
    throw new AgentError(
      "ERR_FLEET_VALUE",
      `${
        TITLES[content.piece]
      } would be ${bytes.length} bytes, over the ${MAX_VALUE_BYTES} a fleet value may hold`,
    );
  }
  return bytes;
}

export interface DecodedPiece {
  readonly content: PieceContent;
  readonly publisher: Publisher | undefined;
}

/** A piece's value from etcd, checked for shape (and the keyring opened); throws ERR_FLEET_VALUE. */
export function decodePiece(
  piece: WholePiece,
  value: Uint8Array,
  fleetKey: Uint8Array | undefined,
): DecodedPiece {
  const what = TITLES[piece];
  const record = parseObject(value, what);
  const by = record["publishedBy"];
  const at = record["publishedAt"];
  const publisher = typeof by === "string" && typeof at === "string" ? { by, at } : undefined;
  switch (piece) {
    case "policy": {
      const text = stringField(record, "text", what);
      if (record["sha256"] !== bytesToHex(sha256(encoder.encode(text)))) {
        throw refuse(what, "sha256 does not match");
      }
      return { content: { piece, text }, publisher };
    }
    case "ca": {
      const files = record["files"];
      if (typeof files !== "object" || files === null || Array.isArray(files)) {
        throw refuse(what, "files is not an object");
      }
      const out: Partial<Record<CaFileName, string>> = {};
      for (const [name, text] of Object.entries(files)) {
        if (!(CA_FILE_NAMES as readonly string[]).includes(name)) throw refuse(what, "an unexpected file");
        if (typeof text !== "string") throw refuse(what, `${name} is not text`);
        out[name as CaFileName] = text;
      }
      if (out["cluster.crt"] === undefined) throw refuse(what, "no cluster.crt");
      return { content: { piece, files: out }, publisher };
    }
    case "keyring": {
      if (fleetKey === undefined || fleetKey.length !== SECRETBOX_KEY_BYTES) {
        throw refuse(what, "this host has no fleet key (fleet/fleet.key) to open it");
      }
      const sealed = stringField(record, "sealed", what);
      const box = base64Decode(sealed);
      if (box === undefined) throw refuse(what, "sealed is not base64");
      const opened = openBox(fleetKey, box);
      if (opened === undefined) throw refuse(what, "it does not open with this host's fleet key");
      try {
        return { content: { piece, fileText: decoder.decode(opened) }, publisher };
      } catch {
        throw refuse(what, "not UTF-8");
      }
    }
    case "apikeys":
      return { content: { piece, fileText: stringField(record, "file", what) }, publisher };
  }
}

export interface RevokedEntry {
  readonly nonce: string;
  readonly revokedAt: string;
  readonly by: string;
}

export function encodeRevoked(entry: RevokedEntry): Uint8Array {
  return encoder.encode(JSON.stringify({ version: 1, revokedAt: entry.revokedAt, by: entry.by }));
}

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/** A revocation from etcd: the key names the nonce; the value says when and by whom. */
export function decodeRevoked(nonce: string, value: Uint8Array): RevokedEntry {
  const what = "a macaroon revocation";
  if (!isValidNonce(nonce)) throw refuse(what, "its key is not a macaroon nonce");
  if (value.length > 4096) throw refuse(what, "over 4096 bytes");
  const record = parseObject(value, what);
  const revokedAt = stringField(record, "revokedAt", what);
  // Kept in the form the local revocation file takes (UTC, milliseconds): merged as it came, an offset or a
  // nanosecond fraction would make revoked.json fail to load, and with it every later revocation.
  const parsed = TIMESTAMP.test(revokedAt) ? Date.parse(revokedAt) : NaN;
  const stored = Number.isNaN(parsed) ? "" : new Date(parsed).toISOString();
  if (!isTimestamp(stored)) throw refuse(what, "bad revokedAt");
  const by = typeof record["by"] === "string" ? record["by"].slice(0, 64) : "";
  return { nonce, revokedAt: stored, by };
}
