/**
 * After a command changes state a running agent enforces (a revocation, a new keyring), it asks the agent
 * on the plugin socket whether it now runs on exactly what was written: `GET /` reports each piece's digest
 * (src/store/state-pieces.ts). The command then says so, says the agent could not load it (and keeps the
 * previous version), or says that no running agent confirmed it. It never claims more than it saw.
 */
import type { PieceStatus } from "../server/plugin-state.ts";
import { stateLayout } from "../store/layout.ts";
import { digestFiles, PIECE_TITLES, pieceFiles, type StatePiece } from "../store/state-pieces.ts";
import { type CliContext, DEFAULT_SOCKET, type ExitCode } from "./context.ts";

/** The agent polls its files every 0.5 s; this leaves room for a slow disk. */
const CONFIRM_TIMEOUT_MS = 3_000;
const POLL_MS = 200;

interface AgentStatus {
  readonly stateDir?: unknown;
  readonly state?: Partial<Record<StatePiece, PieceStatus>>;
}

async function askAgent(ctx: CliContext, socket: string): Promise<AgentStatus | undefined> {
  try {
    const response = await ctx.platform.unixFetch(socket, "/", { signal: AbortSignal.timeout(1_000) });
    if (!response.ok) return undefined;
    const body: unknown = await response.json();
    return typeof body === "object" && body !== null && "state" in body ? (body as AgentStatus) : undefined;
  } catch {
    return undefined;
  }
}

/** The socket a running `agent serve` on this state directory recorded (stale after a crash: then nobody answers). */
async function servingSocket(ctx: CliContext, path: string): Promise<string | undefined> {
  try {
    const record: unknown = JSON.parse(await ctx.fs.readText(path));
    const socket = typeof record === "object" && record !== null
      ? (record as { socket?: unknown }).socket
      : undefined;
    return typeof socket === "string" && socket.startsWith("/") ? socket : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the agent's state dir is this one (a relative --state-dir is compared by its tail). */
function sameDir(reported: unknown, mine: string): boolean {
  if (typeof reported !== "string") return false;
  const trim = (p: string) => p.replace(/\/+$/, "").replace(/^\.\//, "");
  return trim(reported) === trim(mine) || trim(reported).endsWith(`/${trim(mine)}`);
}

/** Says whether the running agent applied `pieces` of `stateDir`; 1 when it could not or did not. */
export async function confirmApplied(
  ctx: CliContext,
  stateDir: string,
  pieces: readonly StatePiece[],
): Promise<ExitCode> {
  const layout = stateLayout(stateDir);
  const socket = ctx.env["AGENT_SOCKET"] || await servingSocket(ctx, layout.serving) || DEFAULT_SOCKET;
  const say = (text: string) => ctx.output.err(`${text}\n`);
  const expected = new Map<StatePiece, string>();
  for (const piece of pieces) expected.set(piece, await digestFiles(ctx.fs, pieceFiles(piece, layout)));
  const what = pieces.map((p) => PIECE_TITLES[p]).join(" and ");

  let status: AgentStatus | undefined;
  for (let poll = 0;; poll++) {
    const first = poll === 0;
    status = await askAgent(ctx, socket);
    if (status === undefined) {
      if (first) {
        say(
          `No running agent on ${socket} confirmed it: it applies when \`agent serve\` starts ` +
            `(an agent on ${stateDir} records its socket in serving.json; AGENT_SOCKET names another).`,
        );
        return 0;
      }
    } else {
      const state = status.state ?? {};
      const failed = pieces.find((p) => state[p]?.error?.digest === expected.get(p));
      if (failed !== undefined) {
        const error = state[failed]!.error!;
        say(
          `The running agent on ${socket} cannot load ${
            PIECE_TITLES[failed]
          }: ${error.message} [${error.code}]. ` +
            "It keeps enforcing the previous version.",
        );
        return 1;
      }
      if (pieces.every((p) => state[p]?.digest === expected.get(p))) {
        say(`The running agent on ${socket} now enforces ${what}.`);
        return 0;
      }
    }
    if (poll >= CONFIRM_TIMEOUT_MS / POLL_MS) {
      if (status !== undefined && !sameDir(status.stateDir, stateDir)) {
        say(
          `The agent on ${socket} serves ${
            String(status.stateDir)
          }, not ${stateDir}: it did not pick this up.`,
        );
        return 0;
      }
      say(
        `The running agent on ${socket} has not applied ${what} after ${CONFIRM_TIMEOUT_MS / 1000} s ` +
          "(it checks its files every 0.5 s): see its log.",
      );
      return 1;
    }
    await ctx.platform.sleep(POLL_MS);
  }
}

/**
 * Runs a command that changes `pieces`, then, when it succeeded, confirms the running agent applied them. On
 * a fleet member (<state-dir>/fleet/fleet.json) the change is also published to etcd (cli/fleet-change.ts).
 */
export async function thenConfirm(
  ctx: CliContext,
  stateDir: string,
  pieces: readonly StatePiece[],
  run: () => Promise<ExitCode | void>,
): Promise<ExitCode> {
  const layout = stateLayout(stateDir);
  let code: ExitCode;
  if (await ctx.fs.stat(`${layout.fleetDir}/fleet.json`).catch(() => undefined)) {
    // Loaded only on fleet members: a single host's commands never load the etcd code.
    const [{ changeOnFleet }, { fleetFiles, loadFleetConfig }] = await Promise.all([
      import("./fleet-change.ts"),
      import("../fleet/membership.ts"),
    ]);
    const config = await loadFleetConfig(ctx.fs, fleetFiles(layout));
    code = config === undefined ? (await run()) ?? 0 : await changeOnFleet(ctx, layout, config, pieces, run);
  } else {
    code = (await run()) ?? 0;
  }
  return code === 0 ? await confirmApplied(ctx, stateDir, pieces) : code;
}
