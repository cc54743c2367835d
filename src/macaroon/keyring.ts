/**
 * The keyring of macaroon root keys. Tokens name their key by key id (in the identifier), so keys can rotate:
 * the current key signs new tokens, older active keys still verify, retired keys verify nothing.
 * A key id is derived from the key itself, so two hosts initialised with the same passphrase and salt agree.
 *
 * File (state layout `macaroonKeys`, mode 0600):
 *   {"version":1,"current":"<id>","keys":[{"id","key":"<base64url>","createdAt","retiredAt"?,
 *     "kdf"?:{"name":"scrypt","logN","r","p","salt":"<base64url>"}}]}
 */
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { AgentError } from "../errors.ts";
import type { Clock, FileSystem, RandomBytes } from "../ports.ts";
import type { StateLayout } from "../store/layout.ts";
import { base64Decode, base64UrlEncode } from "./base64.ts";
import { bytesToHex } from "@noble/hashes/utils.js";
import { utf8 } from "./bytes.ts";
import { isValidKeyId } from "./identifier.ts";
import {
  DEFAULT_SCRYPT,
  deriveRootKey,
  newSalt,
  ROOT_KEY_BYTES,
  SALT_BYTES,
  type ScryptParams,
  validScryptParams,
} from "./kdf.ts";
import {
  corrupt,
  isRecord,
  isTimestamp,
  readStateJson,
  type WriteMode,
  writeStateJson,
} from "./state-file.ts";

export interface KeyDerivation extends ScryptParams {
  readonly salt: Uint8Array;
}

export interface RootKey {
  readonly id: string;
  /** 32 bytes of key material. Never printed, logged or put in an error. */
  readonly key: Uint8Array;
  readonly createdAt: string;
  /** Set once the key is retired: it then verifies nothing. */
  readonly retiredAt?: string;
  /** Present when the key was derived from a passphrase. */
  readonly kdf?: KeyDerivation;
}

export interface Keyring {
  /** Id of the key that signs new tokens. */
  readonly current: string;
  readonly keys: readonly RootKey[];
}

export interface InitKeyringOptions {
  readonly kdf?: ScryptParams;
  /** Reuse a salt (16 bytes) to re-derive the same key as another host. */
  readonly salt?: Uint8Array;
}

const MAX_KEYS = 64;
const KEY_ID_LABEL = utf8("agent1 macaroon key id");

/** The key id: 8 hex digits of HMAC(key, label), a fingerprint that reveals nothing usable about the key. */
export function keyIdFor(key: Uint8Array): string {
  return bytesToHex(hmac(sha256, key, KEY_ID_LABEL).subarray(0, 4));
}

function randomKey(random: RandomBytes): Uint8Array {
  const key = random(ROOT_KEY_BYTES);
  if (key.length !== ROOT_KEY_BYTES) {
    throw new AgentError("ERR_INTERNAL", "internal error", "random source returned the wrong length");
  }
  return key;
}

/**
 * A new keyring with one key: derived from `passphrase` by scrypt with a random (or given) salt, or random
 * when `passphrase` is undefined.
 */
export async function initKeyring(
  passphrase: string | undefined,
  random: RandomBytes,
  clock: Clock,
  options: InitKeyringOptions = {},
): Promise<Keyring> {
  const createdAt = clock().toISOString();
  if (passphrase === undefined) {
    const key = randomKey(random);
    return { current: keyIdFor(key), keys: [{ id: keyIdFor(key), key, createdAt }] };
  }
  const params = options.kdf ?? DEFAULT_SCRYPT;
  const salt = options.salt ?? newSalt(random);
  const key = await deriveRootKey(passphrase, salt, params);
  const kdf: KeyDerivation = { name: "scrypt", logN: params.logN, r: params.r, p: params.p, salt };
  const id = keyIdFor(key);
  return { current: id, keys: [{ id, key, createdAt, kdf }] };
}

/** Adds a fresh random key and makes it current; older keys keep verifying until retired. */
export function rotate(keyring: Keyring, random: RandomBytes, clock: Clock): Keyring {
  if (keyring.keys.length >= MAX_KEYS) {
    throw new AgentError(
      "ERR_MACAROON_KEY",
      `a keyring holds at most ${MAX_KEYS} keys`,
    );
  }
  for (let attempt = 0; attempt < 8; attempt++) {
    const key = randomKey(random);
    const id = keyIdFor(key);
    if (keyring.keys.some((k) => k.id === id)) continue;
    return { current: id, keys: [...keyring.keys, { id, key, createdAt: clock().toISOString() }] };
  }
  throw new AgentError("ERR_INTERNAL", "internal error", "could not find an unused key id");
}

/** Retires a key: tokens naming it stop verifying. The current key cannot be retired (rotate first). */
export function retire(keyring: Keyring, keyId: string, clock: Clock): Keyring {
  const target = keyring.keys.find((k) => k.id === keyId);
  if (target === undefined) throw new AgentError("ERR_MACAROON_KEY", "no such macaroon key id");
  if (target.retiredAt !== undefined) {
    throw new AgentError("ERR_MACAROON_KEY", "macaroon key is already retired");
  }
  if (keyId === keyring.current) {
    throw new AgentError("ERR_MACAROON_KEY", "cannot retire the current signing key; rotate first");
  }
  const retiredAt = clock().toISOString();
  return { ...keyring, keys: keyring.keys.map((k) => (k.id === keyId ? { ...k, retiredAt } : k)) };
}

/** The key that signs new tokens. */
export function currentKey(keyring: Keyring): RootKey {
  const key = keyring.keys.find((k) => k.id === keyring.current);
  if (key === undefined || key.retiredAt !== undefined) {
    throw new AgentError("ERR_MACAROON_KEY", "the keyring has no current signing key");
  }
  return key;
}

/** The key material for a key id when that key may verify (exists and is not retired). */
export function verificationKey(keyring: Keyring, keyId: string): Uint8Array | undefined {
  const key = keyring.keys.find((k) => k.id === keyId);
  return key === undefined || key.retiredAt !== undefined ? undefined : key.key;
}

// ---- persistence ----

const WHAT = "macaroon key file";

function decodeKey(raw: unknown, path: string): RootKey {
  if (!isRecord(raw)) throw corrupt(WHAT, path, "key entry is not an object");
  const { id, key, createdAt, retiredAt, kdf } = raw;
  if (typeof id !== "string" || !isValidKeyId(id)) throw corrupt(WHAT, path, "bad key id");
  const material = typeof key === "string" ? base64Decode(key) : undefined;
  if (material === undefined || material.length !== ROOT_KEY_BYTES) {
    throw corrupt(WHAT, path, `key ${id}: key material is not 32 bytes of base64`);
  }
  if (!isTimestamp(createdAt)) throw corrupt(WHAT, path, `key ${id}: bad createdAt`);
  if (retiredAt !== undefined && !isTimestamp(retiredAt)) {
    throw corrupt(WHAT, path, `key ${id}: bad retiredAt`);
  }
  const out: RootKey = { id, key: material, createdAt, ...(retiredAt === undefined ? {} : { retiredAt }) };
  if (kdf === undefined) return out;
  if (!isRecord(kdf)) throw corrupt(WHAT, path, `key ${id}: kdf is not an object`);
  const params = { name: kdf["name"], logN: kdf["logN"], r: kdf["r"], p: kdf["p"] } as ScryptParams;
  const salt = typeof kdf["salt"] === "string" ? base64Decode(kdf["salt"]) : undefined;
  if (!validScryptParams(params) || salt === undefined || salt.length !== SALT_BYTES) {
    throw corrupt(WHAT, path, `key ${id}: bad kdf parameters`);
  }
  return { ...out, kdf: { ...params, salt } };
}

/** The keyring from the state directory, or undefined when none was initialised (macaroon gate off). */
export async function loadKeyring(fs: FileSystem, layout: StateLayout): Promise<Keyring | undefined> {
  const path = layout.macaroonKeys;
  const raw = await readStateJson(fs, path, WHAT);
  if (raw === undefined) return undefined;
  if (!isRecord(raw) || raw["version"] !== 1) throw corrupt(WHAT, path, "unknown version");
  const list = raw["keys"];
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_KEYS) {
    throw corrupt(WHAT, path, "keys is not a non-empty list");
  }
  const keys = list.map((k) => decodeKey(k, path));
  if (new Set(keys.map((k) => k.id)).size !== keys.length) throw corrupt(WHAT, path, "duplicate key id");
  const current = raw["current"];
  const active = keys.find((k) => k.id === current);
  if (typeof current !== "string" || active === undefined || active.retiredAt !== undefined) {
    throw corrupt(WHAT, path, "current key is missing or retired");
  }
  return { current, keys };
}

/** Writes the keyring; `mode` "create" (for init) fails with ERR_STATE_EXISTS when a keyring already exists. */
export async function saveKeyring(
  fs: FileSystem,
  layout: StateLayout,
  keyring: Keyring,
  mode: WriteMode = "replace",
): Promise<void> {
  const keys = keyring.keys.map((k) => ({
    id: k.id,
    key: base64UrlEncode(k.key),
    createdAt: k.createdAt,
    ...(k.retiredAt === undefined ? {} : { retiredAt: k.retiredAt }),
    ...(k.kdf === undefined ? {} : {
      kdf: { name: k.kdf.name, logN: k.kdf.logN, r: k.kdf.r, p: k.kdf.p, salt: base64UrlEncode(k.kdf.salt) },
    }),
  }));
  await writeStateJson(fs, layout.macaroonKeys, { version: 1, current: keyring.current, keys }, mode);
}
