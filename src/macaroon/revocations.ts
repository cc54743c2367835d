/**
 * Revoked tokens, by identifier nonce. Revoking one nonce kills that token and every token attenuated from it
 * (they share the identifier). File (state layout `macaroonRevocations`, mode 0600):
 *   {"version":1,"revoked":[{"nonce":"<22 chars>","revokedAt":"<RFC 3339>"}]}
 */
import { AgentError } from "../errors.ts";
import type { Clock, FileSystem } from "../ports.ts";
import type { StateLayout } from "../store/layout.ts";
import { isValidNonce } from "./identifier.ts";
import { corrupt, isRecord, isTimestamp, readStateJson, writeStateJson } from "./state-file.ts";

export interface RevokedToken {
  readonly nonce: string;
  readonly revokedAt: string;
}

export interface Revocations {
  readonly revoked: readonly RevokedToken[];
}

/** Set views built once per list, so isRevoked is O(1) on the request path. */
const index = new WeakMap<Revocations, ReadonlySet<string>>();

function setOf(revocations: Revocations): ReadonlySet<string> {
  let set = index.get(revocations);
  if (set === undefined) {
    set = new Set(revocations.revoked.map((r) => r.nonce));
    index.set(revocations, set);
  }
  return set;
}

export function emptyRevocations(): Revocations {
  return { revoked: [] };
}

export function isRevoked(revocations: Revocations, nonce: string): boolean {
  return setOf(revocations).has(nonce);
}

/** Adds a nonce (revoking twice keeps the first time). Throws ERR_USAGE for text that is not a nonce. */
export function revoke(revocations: Revocations, nonce: string, clock: Clock): Revocations {
  if (!isValidNonce(nonce)) {
    throw new AgentError("ERR_USAGE", "not a macaroon nonce (22 base64url characters)");
  }
  if (isRevoked(revocations, nonce)) return revocations;
  return { revoked: [...revocations.revoked, { nonce, revokedAt: clock().toISOString() }] };
}

const WHAT = "macaroon revocation file";

/** The revocation list; empty when the file does not exist yet. */
export async function loadRevocations(fs: FileSystem, layout: StateLayout): Promise<Revocations> {
  const path = layout.macaroonRevocations;
  const raw = await readStateJson(fs, path, WHAT);
  if (raw === undefined) return emptyRevocations();
  if (!isRecord(raw) || raw["version"] !== 1 || !Array.isArray(raw["revoked"])) {
    throw corrupt(WHAT, path, "unknown version or shape");
  }
  const revoked = raw["revoked"].map((entry: unknown): RevokedToken => {
    if (!isRecord(entry) || typeof entry["nonce"] !== "string" || !isValidNonce(entry["nonce"])) {
      throw corrupt(WHAT, path, "bad nonce");
    }
    if (!isTimestamp(entry["revokedAt"])) throw corrupt(WHAT, path, "bad revokedAt");
    return { nonce: entry["nonce"], revokedAt: entry["revokedAt"] };
  });
  return { revoked };
}

export async function saveRevocations(
  fs: FileSystem,
  layout: StateLayout,
  revocations: Revocations,
): Promise<void> {
  const revoked = revocations.revoked.map((r) => ({ nonce: r.nonce, revokedAt: r.revokedAt }));
  await writeStateJson(fs, layout.macaroonRevocations, { version: 1, revoked }, "replace");
}
