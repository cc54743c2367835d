/**
 * `serve --listen`'s action records across restarts (api/action-file.ts): loaded at startup, written when
 * they changed at most once a second from serve's loop, and at exit. A write that fails is logged once and
 * tried again; the records stay in memory.
 */
import { ActionLog, loadActions, saveActions } from "../api/index.ts";
import { isAgentError } from "../errors.ts";
import type { StateLayout } from "../store/layout.ts";
import type { CliContext } from "./context.ts";

const WRITE_INTERVAL_MS = 1_000;

export class ActionKeeper {
  readonly actions: ActionLog;
  readonly #ctx: CliContext;
  readonly #path: string;
  readonly #log: (message: string) => void;
  #written: number;
  #writtenAtMs = 0;
  #failing = false;

  private constructor(ctx: CliContext, path: string, actions: ActionLog, log: (message: string) => void) {
    this.#ctx = ctx;
    this.#path = path;
    this.actions = actions;
    this.#log = log;
    this.#written = actions.version;
  }

  static async open(
    ctx: CliContext,
    layout: StateLayout,
    log: (message: string) => void,
  ): Promise<ActionKeeper> {
    const loaded = await loadActions(ctx.fs, layout.actions, ctx.clock);
    if (loaded.problem !== undefined) log(`earlier API actions are not kept: ${loaded.problem}`);
    return new ActionKeeper(ctx, layout.actions, new ActionLog(undefined, loaded.records), log);
  }

  /** Writes the records when they changed and the last write is a second old (serve's loop). */
  async tick(): Promise<void> {
    if (this.#ctx.platform.monotonicMs() - this.#writtenAtMs < WRITE_INTERVAL_MS) return;
    await this.flush();
  }

  /** Writes the records when they changed since the last write. */
  async flush(): Promise<void> {
    const version = this.actions.version;
    if (version === this.#written) return;
    this.#writtenAtMs = this.#ctx.platform.monotonicMs();
    try {
      await saveActions(this.#ctx.fs, this.#path, this.actions.all());
      this.#written = version;
      this.#failing = false;
    } catch (err) {
      if (!this.#failing) {
        this.#log(
          `cannot keep the API's actions in ${this.#path}: ${
            isAgentError(err) ? err.message : "write failed"
          }`,
        );
      }
      this.#failing = true;
    }
  }
}
