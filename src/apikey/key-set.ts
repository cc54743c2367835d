/**
 * The API keys of one state directory, as records: never the key itself, only its digest, a display prefix,
 * whose it is and when it was made, expires, was revoked and was last used. Revoked keys stay listed.
 * The operations here are pure (randomness and time passed in); file.ts reads and writes the set.
 */
import { bytesToHex } from "@noble/hashes/utils.js";
// names.ts directly: ca/index.ts would load @peculiar/x509 (and need reflect-metadata) for one function.
import { validateUserName } from "../ca/names.ts";
import { AgentError } from "../errors.ts";
import type { Clock, RandomBytes } from "../ports.ts";
import { apiKeyDigest } from "./digest.ts";
import {
  API_KEY_PREFIX,
  DISPLAY_PREFIX_CHARS,
  displayPrefix,
  isWellFormedApiKey,
  newApiKey,
} from "./format.ts";

export interface ApiKeyRecord {
  /** 12 lowercase hex digits, random: how lists and `agent apikey revoke` name the key. */
  readonly id: string;
  /** `agt_` and the key's first 8 characters (see format.ts). */
  readonly prefix: string;
  /** SHA-256 of the full key, lowercase hex (see digest.ts). */
  readonly digest: string;
  /** Whose key it is: the user a request with this key is from (the CA's user-name rules). */
  readonly user: string;
  /** A label for people ("ci", "laptop"); may be empty. */
  readonly name: string;
  readonly createdAt: string;
  /** Valid while now < expiresAt; absent: never expires. */
  readonly expiresAt?: string;
  /** Set once revoked: the key then verifies nothing (it stays listed). */
  readonly revokedAt?: string;
  /** When a request last used the key (kept in memory by the listener, written in batches). */
  readonly lastUsedAt?: string;
}

export interface ApiKeySet {
  readonly keys: readonly ApiKeyRecord[];
}

/**
 * Most keys one state directory holds, revoked ones included (the file is then about 30 MB, and loading it
 * stays well under a second). Creating one more is refused with ERR_APIKEY_LIMIT.
 */
export const MAX_API_KEYS = 100_000;
/** Longest label (`--name`). */
export const MAX_API_KEY_NAME_LENGTH = 64;

const ID_BYTES = 6;
const ID = /^[0-9a-f]{12}$/;
const PREFIX = new RegExp(`^${API_KEY_PREFIX}[0-9A-Za-z]{${DISPLAY_PREFIX_CHARS}}$`);
const DIGEST = /^[0-9a-f]{64}$/;
const NAME = /^[\x20-\x7e]*$/;

export type ApiKeyStatus = "active" | "expired" | "revoked";

export function emptyApiKeySet(): ApiKeySet {
  return { keys: [] };
}

export function isApiKeyId(value: unknown): value is string {
  return typeof value === "string" && ID.test(value);
}

export function isDisplayPrefix(value: unknown): value is string {
  return typeof value === "string" && PREFIX.test(value);
}

export function isApiKeyDigest(value: unknown): value is string {
  return typeof value === "string" && DIGEST.test(value);
}

/** A label: up to 64 printable ASCII characters (lists print it as is). */
export function isApiKeyName(value: unknown): value is string {
  return typeof value === "string" && value.length <= MAX_API_KEY_NAME_LENGTH && NAME.test(value);
}

export function validateApiKeyName(value: string): string {
  if (!isApiKeyName(value)) {
    throw new AgentError(
      "ERR_USAGE",
      `--name must be at most ${MAX_API_KEY_NAME_LENGTH} printable ASCII characters`,
    );
  }
  return value;
}

/** Revoked wins over expired; `now` decides expiry (valid while now < expiresAt). */
export function apiKeyStatus(record: ApiKeyRecord, now: Date): ApiKeyStatus {
  if (record.revokedAt !== undefined) return "revoked";
  if (record.expiresAt !== undefined && now.getTime() >= Date.parse(record.expiresAt)) return "expired";
  return "active";
}

export interface NewApiKeyRequest {
  readonly user: string;
  readonly name?: string;
  /** Absent: the key never expires. Must be later than now. */
  readonly expiresAt?: Date;
}

export interface CreatedApiKey {
  readonly set: ApiKeySet;
  readonly record: ApiKeyRecord;
  /** The key itself: show it once, never store or log it. */
  readonly key: string;
}

/** Adds a fresh key for `request.user`. The key is returned once; the set keeps only its digest. */
export function createApiKey(
  set: ApiKeySet,
  request: NewApiKeyRequest,
  random: RandomBytes,
  clock: Clock,
): CreatedApiKey {
  if (set.keys.length >= MAX_API_KEYS) {
    throw new AgentError(
      "ERR_APIKEY_LIMIT",
      `a state directory holds at most ${MAX_API_KEYS} API keys (revoked ones included)`,
    );
  }
  const user = validateUserName(request.user);
  const name = validateApiKeyName(request.name ?? "");
  const now = clock();
  if (request.expiresAt !== undefined && request.expiresAt.getTime() <= now.getTime()) {
    throw new AgentError("ERR_USAGE", "an API key must expire after it is created");
  }
  const ids = new Set(set.keys.map((k) => k.id));
  const digests = new Set(set.keys.map((k) => k.digest));
  for (let attempt = 0; attempt < 8; attempt++) {
    const idBytes = random(ID_BYTES);
    if (idBytes.length !== ID_BYTES) {
      throw new AgentError("ERR_INTERNAL", "internal error", "random source returned the wrong length");
    }
    const id = bytesToHex(idBytes);
    const key = newApiKey(random);
    const digest = apiKeyDigest(key);
    if (ids.has(id) || digests.has(digest)) continue;
    const record: ApiKeyRecord = {
      id,
      prefix: displayPrefix(key),
      digest,
      user,
      name,
      createdAt: now.toISOString(),
      ...(request.expiresAt === undefined ? {} : { expiresAt: request.expiresAt.toISOString() }),
    };
    return { set: { keys: [...set.keys, record] }, record, key };
  }
  throw new AgentError("ERR_INTERNAL", "internal error", "the random source keeps repeating itself");
}

/**
 * The keys `target` names: its id, its display prefix (with or without `agt_`), or the full key itself
 * (found by digest). More than one means the target is ambiguous.
 */
export function matchApiKeys(set: ApiKeySet, target: string): ApiKeyRecord[] {
  if (isWellFormedApiKey(target)) {
    const digest = apiKeyDigest(target);
    return set.keys.filter((k) => k.digest === digest);
  }
  const prefix = target.startsWith(API_KEY_PREFIX) ? target : `${API_KEY_PREFIX}${target}`;
  return set.keys.filter((k) => k.id === target || k.prefix === prefix);
}

/**
 * The one key `target` names (see matchApiKeys). Errors never repeat the target: it may be a key, or a key
 * with a typo, which is nearly as secret.
 */
export function findApiKey(set: ApiKeySet, target: string): ApiKeyRecord {
  const found = matchApiKeys(set, target);
  if (found.length === 1) return found[0]!;
  if (found.length === 0) {
    const looksLikeKey = target.startsWith(API_KEY_PREFIX) &&
      target.length > API_KEY_PREFIX.length + DISPLAY_PREFIX_CHARS;
    throw new AgentError(
      "ERR_APIKEY_NOT_FOUND",
      looksLikeKey
        ? "no API key matches: this is not a key of this state directory (or it has a typo); give its id or prefix"
        : "no API key has this id or prefix (`agent apikey list` shows them)",
    );
  }
  throw new AgentError(
    "ERR_APIKEY_AMBIGUOUS",
    `${found.length} API keys have this prefix (ids ${found.map((k) => k.id).join(", ")}): give the id`,
  );
}

export interface RevokedApiKey {
  readonly set: ApiKeySet;
  readonly record: ApiKeyRecord;
  /** True when it was revoked before (the set is then unchanged). */
  readonly already: boolean;
}

/** Marks the key with this id revoked (revoking twice keeps the first time). */
export function revokeApiKey(set: ApiKeySet, id: string, clock: Clock): RevokedApiKey {
  const record = set.keys.find((k) => k.id === id);
  if (record === undefined) throw new AgentError("ERR_APIKEY_NOT_FOUND", "no API key has this id");
  if (record.revokedAt !== undefined) return { set, record, already: true };
  const revoked: ApiKeyRecord = { ...record, revokedAt: clock().toISOString() };
  return { set: { keys: set.keys.map((k) => (k.id === id ? revoked : k)) }, record: revoked, already: false };
}
