/**
 * Checking a presented key: its format offline (no lookup for a typo or a foreign string), then one SHA-256
 * and one map lookup by digest (an index built once per loaded set, so 10,000 keys cost no more than one),
 * then the owner, revocation and expiry. Digests and user names are compared in constant time. Every failure
 * is typed for the audit log; callers answer 401 for all of them and tell the client nothing more.
 */
import { bytesToHex, hexToBytes, utf8ToBytes } from "@noble/hashes/utils.js";
import { constantTimeEqual } from "../macaroon/index.ts";
import { apiKeyDigestBytes } from "./digest.ts";
import { apiKeyFormatProblem } from "./format.ts";
import type { ApiKeyRecord, ApiKeySet } from "./key-set.ts";

export type ApiKeyFailure = "malformed" | "unknown" | "wrong-user" | "revoked" | "expired";

export type ApiKeyVerdict =
  | { readonly ok: true; readonly key: ApiKeyRecord }
  | {
    readonly ok: false;
    readonly failure: ApiKeyFailure;
    /** Fixed text for the audit log: never the key, never the user name presented. */
    readonly reason: string;
    /** The key's id when the key itself is known (wrong user, revoked, expired). */
    readonly keyId?: string;
  };

interface Entry {
  readonly record: ApiKeyRecord;
  readonly digest: Uint8Array;
  readonly user: Uint8Array;
  readonly expiresAtMs: number | undefined;
}

/** Digest-keyed views built once per set (a set is immutable; a reload makes a new one). */
const indexes = new WeakMap<ApiKeySet, ReadonlyMap<string, Entry>>();

function indexOf(set: ApiKeySet): ReadonlyMap<string, Entry> {
  let index = indexes.get(set);
  if (index === undefined) {
    const built = new Map<string, Entry>();
    for (const record of set.keys) {
      built.set(record.digest, {
        record,
        digest: hexToBytes(record.digest),
        user: utf8ToBytes(record.user),
        expiresAtMs: record.expiresAt === undefined ? undefined : Date.parse(record.expiresAt),
      });
    }
    index = built;
    indexes.set(set, index);
  }
  return index;
}

const REASONS: Readonly<Record<ApiKeyFailure, string>> = {
  malformed: "the API key is malformed",
  unknown: "no such API key",
  "wrong-user": "the API key belongs to another user",
  revoked: "the API key is revoked",
  expired: "the API key has expired",
};

function failure(kind: ApiKeyFailure, detail?: string, keyId?: string): ApiKeyVerdict {
  const reason = detail === undefined ? REASONS[kind] : `${REASONS[kind]} (${detail})`;
  return keyId === undefined
    ? { ok: false, failure: kind, reason }
    : { ok: false, failure: kind, reason, keyId };
}

/** Prepares the digest index of a freshly loaded set, so the first request does not pay for it. */
export function indexApiKeys(set: ApiKeySet): void {
  indexOf(set);
}

/**
 * The record of `presentedKey` when it is a key of `keys`, belongs to `user`, is not revoked and has not
 * expired at `now`; otherwise the reason it is refused.
 */
export function verifyApiKey(keys: ApiKeySet, user: string, presentedKey: string, now: Date): ApiKeyVerdict {
  const problem = apiKeyFormatProblem(presentedKey);
  if (problem !== undefined) return failure("malformed", problem);
  const digest = apiKeyDigestBytes(presentedKey);
  const entry = indexOf(keys).get(bytesToHex(digest));
  if (entry === undefined || !constantTimeEqual(digest, entry.digest)) return failure("unknown");
  const { record } = entry;
  if (!constantTimeEqual(utf8ToBytes(user), entry.user)) return failure("wrong-user", undefined, record.id);
  if (record.revokedAt !== undefined) return failure("revoked", undefined, record.id);
  if (entry.expiresAtMs !== undefined && now.getTime() >= entry.expiresAtMs) {
    return failure("expired", undefined, record.id);
  }
  return { ok: true, key: record };
}
