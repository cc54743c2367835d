/**
 * A command that changes shared state on a fleet member (`agent ca revoke`, `agent id revoke|rotate`,
 * `agent apikey create|revoke`, ...) changes this host's files as it always does, then publishes the pieces
 * it changed to etcd, where every member applies them within a second.
 *
 * An operator's change is checked with etcd before anything is changed here: etcd unreachable, or a credential
 * that may not write it (a host may only add revocations), and nothing changes. Should etcd then still not
 * take it (gone meanwhile, or the piece changed in the fleet), the command undoes it here and says why. The one exception is a macaroon revocation with etcd away: it
 * stays in force on this host at once and the running agent publishes it when etcd answers (revocations
 * only ever grow, so publishing it late cannot undo anything).
 */
import { AgentError } from "../errors.ts";
import { connectFleet } from "../fleet/connect.ts";
import type { WholePiece } from "../fleet/keys.ts";
import { fleetKeys } from "../fleet/keys.ts";
import {
  type FleetConfig,
  fleetFiles,
  loadFleetKey,
  loadSnapshotRecord,
  saveSnapshotRecord,
} from "../fleet/membership.ts";
import { fleetWriteError, localPiece, publishPiece, publishRevocations } from "../fleet/publish.ts";
import { type EtcdClient, EtcdError } from "../fleet/etcd.ts";
import { pieceTitle } from "../fleet/values.ts";
import { loadRevocations } from "../macaroon/index.ts";
import { type StateLayout } from "../store/layout.ts";
import { pieceFiles, type StatePiece } from "../store/state-pieces.ts";
import type { CliContext, ExitCode } from "./context.ts";

type Saved = Map<string, string | null>;

async function save(ctx: CliContext, paths: readonly string[]): Promise<Saved> {
  const saved: Saved = new Map();
  for (const path of paths) saved.set(path, (await ctx.fs.stat(path)) ? await ctx.fs.readText(path) : null);
  return saved;
}

async function restore(ctx: CliContext, saved: Saved): Promise<void> {
  for (const [path, text] of saved) {
    if (text === null) await ctx.fs.remove(path).catch(() => undefined);
    else await ctx.fs.writeAtomic(path, text, (await ctx.fs.stat(path))?.mode ?? 0o600);
  }
}

/**
 * Whether this host's credential may write `key`, without writing it: a compare-and-swap that cannot match
 * (etcd checks the permissions of both branches of a transaction before it compares), so "conflict" means
 * allowed. Throws the AgentError saying why not (refused, unreachable).
 */
async function mayWrite(client: EtcdClient, key: string, what: string): Promise<void> {
  try {
    await client.put(key, new Uint8Array(0), { ifModRevision: -1 });
  } catch (err) {
    if (err instanceof EtcdError && err.code === "conflict") return;
    throw fleetWriteError(err, what);
  }
  throw new AgentError("ERR_INTERNAL", "internal error", "etcd took a compare-and-swap that cannot match");
}

/** Runs `run` on a fleet member and publishes what it changed; the exit code is the command's. */
export async function changeOnFleet(
  ctx: CliContext,
  layout: StateLayout,
  config: FleetConfig,
  pieces: readonly StatePiece[],
  run: () => Promise<ExitCode | void>,
): Promise<ExitCode> {
  const files = fleetFiles(layout);
  const whole = pieces.filter((p): p is WholePiece => p !== "revocations" && p !== "policy");
  const say = (text: string) => ctx.output.err(`${text}\n`);
  const keys = fleetKeys(config.prefix);
  const fleetKey = await loadFleetKey(ctx.fs, files);
  if (whole.includes("keyring") && fleetKey === undefined) {
    throw new AgentError(
      "ERR_FLEET_CONFIG",
      `this host has no fleet key (${files.fleetKey}) to seal the keyring with`,
    );
  }
  const client = await connectFleet(ctx.fs, ctx.platform, config);
  try {
    // An operator's change is checked first: etcd must answer and this credential must be allowed to write
    // it, or nothing changes here either.
    try {
      for (const piece of whole) await mayWrite(client, keys.piece[piece], pieceTitle(piece));
    } catch (err) {
      const error = fleetWriteError(err, pieces.join(" and "));
      say(`Nothing changed: ${error.message} [${error.code}]`);
      return 1;
    }
    const saved = await save(ctx, whole.flatMap((p) => pieceFiles(p, layout)));
    const revokedBefore = new Set((await loadRevocations(ctx.fs, layout)).revoked.map((r) => r.nonce));
    const code = (await run()) ?? 0;
    if (code !== 0) return code;
    try {
      const record = await loadSnapshotRecord(ctx.fs, files);
      const applied: Record<string, number> = { ...(record?.applied ?? {}) };
      let revision = 0;
      for (const piece of whole) {
        const content = await localPiece(ctx.fs, layout, piece, undefined);
        revision = await publishPiece(
          {
            client,
            keys,
            publisher: { by: config.name, at: ctx.clock().toISOString() },
            fleetKey: fleetKey ?? new Uint8Array(32),
            random: ctx.random,
          },
          piece,
          content,
          applied[piece] ?? 0,
        );
        applied[piece] = revision;
      }
      if (pieces.includes("revocations")) {
        const fresh = (await loadRevocations(ctx.fs, layout)).revoked.filter((r) =>
          !revokedBefore.has(r.nonce)
        );
        try {
          revision = await publishRevocations(client, keys, fresh.map((r) => ({ ...r, by: config.name }))) ||
            revision;
        } catch (err) {
          const error = fleetWriteError(err, "the revocation");
          if (error.code !== "ERR_FLEET_UNREACHABLE") throw error;
          say(
            `etcd did not answer: revoked on this host now, and queued: the running agent publishes it to the fleet when etcd answers (${error.message}).`,
          );
        }
      }
      if (revision > 0) {
        say(
          `Published to the fleet ${config.prefix} (etcd revision ${revision}): every connected member applies it within a second.`,
        );
        if (record !== undefined) {
          await saveSnapshotRecord(ctx.fs, files, { ...record, applied }).catch(() => undefined);
        }
      }
      return 0;
    } catch (err) {
      // etcd answered the check but not the write (it went away, or the piece changed meanwhile): undo here.
      await restore(ctx, saved);
      const error = fleetWriteError(err, pieces.join(" and "));
      say(`Nothing changed: ${error.message} [${error.code}]`);
      return 1;
    }
  } finally {
    client.close();
  }
}
