/**
 * `<state-dir>/apikeys.json` (state layout `apiKeys`, mode 0600, written atomically):
 *   {"version":1,"keys":[{"id","prefix","digest","user","name","createdAt",
 *     "expiresAt"?,"revokedAt"?,"lastUsedAt"?}]}
 * A missing file is no keys. Loading checks every field (an unknown field is refused: a misspelt
 * "revokedAt" must not bring a key back); errors name the file and the entry's position, never its content.
 */
import { isValidUserName } from "../ca/names.ts";
import type { FileSystem } from "../ports.ts";
import type { StateLayout } from "../store/layout.ts";
import { corrupt, isRecord, isTimestamp, readStateJson, writeStateJson } from "../macaroon/index.ts";
import {
  type ApiKeyRecord,
  type ApiKeySet,
  emptyApiKeySet,
  isApiKeyDigest,
  isApiKeyId,
  isApiKeyName,
  isDisplayPrefix,
  MAX_API_KEYS,
} from "./key-set.ts";

const WHAT = "API key file";
const FIELDS = new Set([
  "id",
  "prefix",
  "digest",
  "user",
  "name",
  "createdAt",
  "expiresAt",
  "revokedAt",
  "lastUsedAt",
]);
const OPTIONAL_TIMES = ["expiresAt", "revokedAt", "lastUsedAt"] as const;

function decodeRecord(raw: unknown, position: number, path: string): ApiKeyRecord {
  const bad = (what: string) => corrupt(WHAT, path, `key ${position}: ${what}`);
  if (!isRecord(raw)) throw bad("not an object");
  for (const field of Object.keys(raw)) if (!FIELDS.has(field)) throw bad("unknown field");
  const { id, prefix, digest, user, name, createdAt } = raw;
  if (!isApiKeyId(id)) throw bad("bad id");
  if (!isDisplayPrefix(prefix)) throw bad("bad prefix");
  if (!isApiKeyDigest(digest)) throw bad("bad digest");
  if (!isValidUserName(user)) throw bad("bad user");
  if (!isApiKeyName(name)) throw bad("bad name");
  if (!isTimestamp(createdAt)) throw bad("bad createdAt");
  const record: Record<string, string> = { id, prefix, digest, user: user as string, name, createdAt };
  for (const field of OPTIONAL_TIMES) {
    const value = raw[field];
    if (value === undefined) continue;
    if (!isTimestamp(value)) throw bad(`bad ${field}`);
    record[field] = value;
  }
  return record as unknown as ApiKeyRecord;
}

/** The API keys of the state directory; none when the file does not exist. */
export async function loadApiKeys(fs: FileSystem, layout: StateLayout): Promise<ApiKeySet> {
  const path = layout.apiKeys;
  const raw = await readStateJson(fs, path, WHAT);
  if (raw === undefined) return emptyApiKeySet();
  if (!isRecord(raw) || raw["version"] !== 1 || !Array.isArray(raw["keys"])) {
    throw corrupt(WHAT, path, "unknown version or shape");
  }
  const list: unknown[] = raw["keys"];
  if (list.length > MAX_API_KEYS) throw corrupt(WHAT, path, `more than ${MAX_API_KEYS} keys`);
  const keys = list.map((entry, i) => decodeRecord(entry, i + 1, path));
  if (new Set(keys.map((k) => k.id)).size !== keys.length) throw corrupt(WHAT, path, "duplicate id");
  if (new Set(keys.map((k) => k.digest)).size !== keys.length) throw corrupt(WHAT, path, "duplicate digest");
  return { keys };
}

/** Writes the set atomically (temp file, fsync, rename), mode 0600. */
export async function saveApiKeys(fs: FileSystem, layout: StateLayout, set: ApiKeySet): Promise<void> {
  const keys = set.keys.map((k) => ({
    id: k.id,
    prefix: k.prefix,
    digest: k.digest,
    user: k.user,
    name: k.name,
    createdAt: k.createdAt,
    ...(k.expiresAt === undefined ? {} : { expiresAt: k.expiresAt }),
    ...(k.revokedAt === undefined ? {} : { revokedAt: k.revokedAt }),
    ...(k.lastUsedAt === undefined ? {} : { lastUsedAt: k.lastUsedAt }),
  }));
  await writeStateJson(fs, layout.apiKeys, { version: 1, keys }, "replace");
}
