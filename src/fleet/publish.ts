/**
 * Writing shared state to etcd: a whole piece read from this host's files (after a command changed them),
 * or revocations one key each. Whole pieces are compare-and-swapped against the version this host last saw
 * when it knows one, so two operators changing the keyring at once cannot silently undo each other.
 */
import { AgentError } from "../errors.ts";
import type { FileSystem, RandomBytes } from "../ports.ts";
import type { StateLayout } from "../store/layout.ts";
import { joinPath } from "../store/path.ts";
import { type EtcdClient, EtcdError } from "./etcd.ts";
import type { FleetKeys, WholePiece } from "./keys.ts";
import {
  CA_FILE_NAMES,
  type CaFileName,
  decodePiece,
  encodePiece,
  encodeRevoked,
  type PieceContent,
  pieceTitle,
  type Publisher,
  type RevokedEntry,
} from "./values.ts";

async function textIfAny(fs: FileSystem, path: string): Promise<string | undefined> {
  return (await fs.stat(path)) ? await fs.readText(path) : undefined;
}

/** A piece as this host's files hold it now; undefined when the files are not there. */
export async function localPiece(
  fs: FileSystem,
  layout: StateLayout,
  piece: WholePiece,
  policyFile: string | undefined,
): Promise<PieceContent | undefined> {
  switch (piece) {
    case "policy": {
      const text = policyFile === undefined ? undefined : await textIfAny(fs, policyFile);
      return text === undefined ? undefined : { piece, text };
    }
    case "ca": {
      const files: Partial<Record<CaFileName, string>> = {};
      for (const name of CA_FILE_NAMES) {
        const text = await textIfAny(fs, joinPath(layout.caDir, name));
        if (text !== undefined) files[name] = text;
      }
      return files["cluster.crt"] === undefined ? undefined : { piece, files };
    }
    case "keyring": {
      const fileText = await textIfAny(fs, layout.macaroonKeys);
      return fileText === undefined ? undefined : { piece, fileText };
    }
    case "apikeys": {
      const fileText = await textIfAny(fs, layout.apiKeys);
      return fileText === undefined ? undefined : { piece, fileText };
    }
  }
}

/** Why etcd refused a write, in words for the operator (never a value or credential). */
export function fleetWriteError(err: unknown, what: string): AgentError {
  if (err instanceof AgentError) return err;
  if (err instanceof EtcdError) {
    switch (err.code) {
      case "permission_denied":
      case "unauthenticated":
        return new AgentError(
          "ERR_FLEET_REFUSED",
          `etcd refused to write ${what}: this host's credential may not (${err.code}); a host may only add revocations, an operator's credential changes policy, keys and the CA`,
        );
      case "conflict":
        return new AgentError(
          "ERR_FLEET_CONFLICT",
          `${what} changed in the fleet since this host last saw it: wait for the agent to apply the fleet's version, then run the command again`,
        );
      case "too_large":
        return new AgentError("ERR_FLEET_VALUE", `${what} is larger than etcd accepts`);
      case "unavailable":
      case "timeout":
        return new AgentError("ERR_FLEET_UNREACHABLE", `etcd did not answer (${err.message})`);
      default:
        return new AgentError("ERR_FLEET_UNREACHABLE", `etcd failed: ${err.message}`);
    }
  }
  return new AgentError(
    "ERR_FLEET_UNREACHABLE",
    "etcd failed",
    err instanceof Error ? err.message : String(err),
  );
}

export interface PublishDeps {
  readonly client: EtcdClient;
  readonly keys: FleetKeys;
  readonly publisher: Publisher;
  readonly fleetKey: Uint8Array;
  readonly random: RandomBytes;
}

/**
 * Writes a whole piece (or deletes it when `content` is undefined). `ifModRevision`: the version it must
 * replace (0: none may exist); undefined writes unconditionally. Returns etcd's new revision.
 */
export async function publishPiece(
  deps: PublishDeps,
  piece: WholePiece,
  content: PieceContent | undefined,
  ifModRevision?: number,
): Promise<number> {
  const key = deps.keys.piece[piece];
  try {
    if (content === undefined) return await deps.client.delete(key);
    const value = encodePiece(content, deps.publisher, { fleetKey: deps.fleetKey, random: deps.random });
    return await deps.client.put(key, value, ifModRevision === undefined ? {} : { ifModRevision });
  } catch (err) {
    // A compare-and-swap retried on another member after a timeout can lose to its own first attempt:
    // when etcd already holds exactly this content, the write went through.
    if (err instanceof EtcdError && err.code === "conflict" && content !== undefined) {
      const revision = await alreadyThere(deps, piece, content).catch(() => undefined);
      if (revision !== undefined) return revision;
    }
    throw fleetWriteError(err, pieceTitle(piece));
  }
}

async function alreadyThere(
  deps: PublishDeps,
  piece: WholePiece,
  content: PieceContent,
): Promise<number | undefined> {
  const { kv } = await deps.client.get(deps.keys.piece[piece]);
  if (kv === undefined) return undefined;
  const stored = decodePiece(piece, kv.value, deps.fleetKey).content;
  return JSON.stringify(stored) === JSON.stringify(content) ? kv.modRevision : undefined;
}

/** Adds revocations (one key each; one already there is kept as it is). Returns the last revision written. */
export async function publishRevocations(
  client: EtcdClient,
  keys: FleetKeys,
  entries: readonly RevokedEntry[],
): Promise<number> {
  let revision = 0;
  for (const entry of entries) {
    try {
      revision = await client.put(`${keys.revoked}${entry.nonce}`, encodeRevoked(entry), {
        ifModRevision: 0,
      });
    } catch (err) {
      if (err instanceof EtcdError && err.code === "conflict") continue;
      throw fleetWriteError(err, "a macaroon revocation");
    }
  }
  return revision;
}
