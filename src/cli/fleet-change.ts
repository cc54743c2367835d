/**
 * A command that changes shared state on a fleet member (`agent ca revoke`, `agent id revoke|rotate`,
 * `agent apikey create|revoke`, ...) changes this host's files as it always does, then publishes the pieces
 * it changed to etcd, where every member applies them within a second.
 *
 * When etcd does not take the change, the command undoes it here and says why (the operator's change is not
 * half made): etcd unreachable, a credential that may not write it (a host may only add revocations), or a
 * piece that changed in the fleet meanwhile. The one exception is a macaroon revocation with etcd away: it
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
  const saved = await save(ctx, whole.flatMap((p) => pieceFiles(p, layout)));
  const revokedBefore = new Set((await loadRevocations(ctx.fs, layout)).revoked.map((r) => r.nonce));
  const code = (await run()) ?? 0;
  if (code !== 0) return code;
  const say = (text: string) => ctx.output.err(`${text}\n`);
  const keys = fleetKeys(config.prefix);
  const fleetKey = await loadFleetKey(ctx.fs, files);
  let client;
  try {
    client = await connectFleet(ctx.fs, ctx.platform, config);
  } catch (err) {
    await restore(ctx, saved);
    throw err;
  }
  try {
    const record = await loadSnapshotRecord(ctx.fs, files);
    const applied: Record<string, number> = { ...(record?.applied ?? {}) };
    let revision = 0;
    for (const piece of whole) {
      if (piece === "keyring" && fleetKey === undefined) {
        throw new AgentError(
          "ERR_FLEET_CONFIG",
          `this host has no fleet key (${files.fleetKey}) to seal the keyring with`,
        );
      }
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
    await restore(ctx, saved);
    const error = fleetWriteError(err, pieces.join(" and "));
    say(`Nothing changed: ${error.message} [${error.code}]`);
    return 1;
  } finally {
    client.close();
  }
}
