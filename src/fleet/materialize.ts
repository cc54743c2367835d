/**
 * Writes the fleet's state into this host's state directory, piece by piece, where the running agent picks
 * it up exactly as it picks up a local change (server/plugin-state.ts). Each value is checked first by the
 * agent's own loader over the files it would write: a value that does not load (a policy that does not
 * compile, a CRL of another CA, a keyring that does not open) is refused with a log line and the last good
 * version stays. Revocations only ever grow: a revocation deleted from etcd stays in force here.
 */
import { AgentError, toAgentError } from "../errors.ts";
import { loadRevocations, type RevokedToken, saveRevocations } from "../macaroon/index.ts";
import type { Clock, FileSystem } from "../ports.ts";
import { loadStatePiece } from "../server/plugin-state.ts";
import { PUBLIC_FILE_MODE, SECRET_DIR_MODE, SECRET_FILE_MODE, type StateLayout } from "../store/layout.ts";
import { joinPath } from "../store/path.ts";
import type { WholePiece } from "./keys.ts";
import type { FleetFiles } from "./membership.ts";
import { overlayFileSystem } from "./overlay-fs.ts";
import { CA_FILE_NAMES, decodePiece, type PieceContent, pieceTitle, type RevokedEntry } from "./values.ts";

export interface MaterializeDeps {
  readonly fs: FileSystem;
  readonly layout: StateLayout;
  readonly files: FleetFiles;
  readonly fleetKey: Uint8Array | undefined;
  readonly clock: Clock;
}

/** One local file a piece is written to; `text: null` removes it. */
interface LocalFile {
  readonly path: string;
  readonly text: string | null;
  readonly mode: number;
}

function localFiles(
  deps: MaterializeDeps,
  content: PieceContent | { piece: WholePiece; deleted: true },
): LocalFile[] {
  const { layout, files } = deps;
  if ("deleted" in content) {
    // A deleted keyring or key list is gone everywhere (`agent id destroy`); the policy and the CA stay as
    // they were: a host never decides without a policy, and a CA's revocations are never dropped.
    if (content.piece === "keyring") {
      return [{ path: layout.macaroonKeys, text: null, mode: SECRET_FILE_MODE }];
    }
    if (content.piece === "apikeys") return [{ path: layout.apiKeys, text: null, mode: SECRET_FILE_MODE }];
    return [];
  }
  switch (content.piece) {
    case "policy":
      return [{ path: files.policy, text: content.text, mode: SECRET_FILE_MODE }];
    case "ca":
      return CA_FILE_NAMES.filter((name) => content.files[name] !== undefined).map((name) => ({
        path: joinPath(layout.caDir, name),
        text: content.files[name]!,
        mode: PUBLIC_FILE_MODE,
      }));
    case "keyring":
      return [{ path: layout.macaroonKeys, text: content.fileText, mode: SECRET_FILE_MODE }];
    case "apikeys":
      return [{ path: layout.apiKeys, text: content.fileText, mode: SECRET_FILE_MODE }];
  }
}

async function currentText(fs: FileSystem, path: string): Promise<string | null> {
  return (await fs.stat(path)) ? await fs.readText(path) : null;
}

function dirOf(path: string): string {
  return path.slice(0, path.lastIndexOf("/")) || "/";
}

export type PieceOutcome =
  | { readonly outcome: "applied" | "unchanged" }
  | { readonly outcome: "refused"; readonly error: AgentError };

/**
 * Applies one whole piece from etcd (`value` undefined: the key was deleted). Never throws for a bad value:
 * it answers "refused" with the reason, having written nothing.
 */
export async function applyPiece(
  deps: MaterializeDeps,
  piece: WholePiece,
  value: Uint8Array | undefined,
): Promise<PieceOutcome> {
  let writes: LocalFile[];
  try {
    writes = localFiles(
      deps,
      value === undefined ? { piece, deleted: true } : decodePiece(piece, value, deps.fleetKey).content,
    );
    if (piece === "ca") await refuseForeignCa(deps, writes);
    const overlay = overlayFileSystem(deps.fs, new Map(writes.map((w) => [w.path, w.text])));
    await loadStatePiece(piece, {
      fs: overlay,
      layout: deps.layout,
      policy: { file: deps.files.policy },
      clock: deps.clock,
    });
  } catch (err) {
    const error = toAgentError(err, "ERR_FLEET_VALUE");
    const detail = error.message === "internal error" ? error.detail ?? "" : error.message;
    return {
      outcome: "refused",
      error: new AgentError(
        "ERR_FLEET_VALUE",
        `${pieceTitle(piece)} does not load: ${detail} [${error.code}]`,
      ),
    };
  }
  let changed = false;
  for (const write of writes) {
    if ((await currentText(deps.fs, write.path)) === write.text) continue;
    changed = true;
    if (write.text === null) {
      await deps.fs.remove(write.path);
    } else {
      await deps.fs.mkdir(dirOf(write.path), SECRET_DIR_MODE);
      await deps.fs.writeAtomic(write.path, write.text, write.mode);
    }
  }
  return { outcome: changed ? "applied" : "unchanged" };
}

/** A CA host keeps its own certificate: the fleet's must be the one its key signs with. */
async function refuseForeignCa(deps: MaterializeDeps, writes: readonly LocalFile[]): Promise<void> {
  const keyPath = joinPath(deps.layout.caDir, "cluster.key");
  if (!(await deps.fs.stat(keyPath))) return;
  const certPath = joinPath(deps.layout.caDir, "cluster.crt");
  const fleetCert = writes.find((w) => w.path === certPath)?.text;
  const localCert = await currentText(deps.fs, certPath);
  if (fleetCert !== undefined && localCert !== null && fleetCert !== localCert) {
    throw new AgentError(
      "ERR_FLEET_VALUE",
      "this host holds the key of another CA (ca/cluster.key): the fleet's CA certificate is not the one it signs with",
    );
  }
}

export interface RevocationsOutcome {
  /** Whether the local list grew. */
  readonly wrote: boolean;
  /** Revoked here but not (yet) in etcd: made while etcd was away, published by the follower. */
  readonly localOnly: readonly RevokedToken[];
}

/** Merges the fleet's revocations into the local list (union; nothing is ever removed). */
export async function applyRevocations(
  deps: MaterializeDeps,
  fleet: ReadonlyMap<string, RevokedEntry>,
): Promise<RevocationsOutcome> {
  const local = await loadRevocations(deps.fs, deps.layout);
  const known = new Set(local.revoked.map((r) => r.nonce));
  const added: RevokedToken[] = [];
  for (const entry of fleet.values()) {
    if (!known.has(entry.nonce)) added.push({ nonce: entry.nonce, revokedAt: entry.revokedAt });
  }
  const localOnly = local.revoked.filter((r) => !fleet.has(r.nonce));
  if (added.length > 0) {
    await deps.fs.mkdir(dirOf(deps.layout.macaroonRevocations), SECRET_DIR_MODE);
    await saveRevocations(deps.fs, deps.layout, { revoked: [...local.revoked, ...added] });
  }
  return { wrote: added.length > 0, localOnly };
}
