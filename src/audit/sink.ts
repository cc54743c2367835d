/**
 * The audit log: JSON Lines, appended in batches (one write per `batchMs` or per 512 events, not per
 * decision: the plugin is on the path of every Docker API call) and rotated by size. A failing disk never stops decisions; the
 * problem is reported through `onError` (at most once a minute).
 */
import type { FileSystem } from "../ports.ts";
import type { AuditEvent } from "./event.ts";

export interface AuditSinkOptions {
  readonly path: string;
  /** Rotate when the file grows past this many bytes (default 50 MiB). */
  readonly maxBytes?: number;
  /** How many rotated files to keep: audit.log.1 ... audit.log.N (default 5). */
  readonly keep?: number;
  /** Events kept in memory while the disk is failing, before the oldest are dropped (default 10,000). */
  readonly maxPending?: number;
  /** How long an event may wait for its batch (default 20 ms); `flush()` writes at once. */
  readonly batchMs?: number;
  readonly onError: (message: string) => void;
  readonly nowMs: () => number;
}

export const AUDIT_FILE_MODE = 0o640;
/** A batch this large is written without waiting for the timer. */
const FULL_BATCH = 512;
/** The most one append writes (about 50 events). */
const WRITE_CHUNK_BYTES = 16 * 1024;
/**
 * The most JSON serialized in one turn of the event loop: the drain runs on the thread that answers dockerd,
 * and a batch serialized and written in one go (150 events at ~7,000 decisions/s) held a request that came
 * meanwhile for 0.2-0.4 ms, the agent's slowest 1 % (measured). In slices, a request waits one slice at most.
 */
const SLICE_BYTES = 4 * 1024;

/** Lets the event loop run (waiting requests first) before the drain goes on. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class AuditSink {
  /** Events as they came, each turned into its line when its batch is written (not on the request's path). */
  private pending: (AuditEvent | string)[] = [];
  private flushing: Promise<void> | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private size: number | undefined;
  private lastErrorAtMs = -Infinity;
  private dropped = 0;
  /** The last append failed, so the file may end with part of a line. */
  private cutLine = false;
  private readonly maxBytes: number;
  private readonly keep: number;
  private readonly maxPending: number;
  private readonly batchMs: number;

  constructor(private readonly fs: FileSystem, private readonly options: AuditSinkOptions) {
    this.maxBytes = options.maxBytes ?? 50 * 1024 * 1024;
    this.keep = options.keep ?? 5;
    this.maxPending = options.maxPending ?? 10_000;
    this.batchMs = options.batchMs ?? 20;
  }

  write(event: AuditEvent): void {
    if (this.pending.length >= this.maxPending) {
      this.pending.shift();
      this.dropped++;
    }
    this.pending.push(event);
    if (this.pending.length >= FULL_BATCH) this.startDrain();
    else if (this.timer === undefined && this.flushing === undefined) {
      this.timer = setTimeout(() => this.startDrain(), this.batchMs);
    }
  }

  /** Resolves when everything written so far is on disk (or has failed). */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.pending.length > 0) this.startDrain(true);
    while (this.flushing) await this.flushing;
  }

  private startDrain(all = false): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.flushing ??= this.drain(all);
  }

  /**
   * Writes the batch pending when it starts, in chunks. What arrives meanwhile waits for its own batch (the
   * timer), unless it makes a full batch or `all` asks for everything: under steady load appends stay batched
   * instead of following each event.
   */
  private async drain(all: boolean): Promise<void> {
    let failed = false;
    try {
      do {
        const batch = this.pending;
        this.pending = [];
        let next = 0;
        while (next < batch.length) {
          const lines = await this.serializeChunk(batch, next);
          next += lines.length;
          if (!(await this.append(lines))) {
            // Keep what is not written for the next attempt (bounded), oldest first.
            this.pending = [...lines, ...batch.slice(next), ...this.pending].slice(-this.maxPending);
            failed = true;
            return;
          }
        }
      } while (all ? this.pending.length > 0 : this.pending.length >= FULL_BATCH);
    } finally {
      this.flushing = undefined;
      // After a failure the next event's batch tries again (no retry loop on a dead disk).
      if (!failed && this.pending.length > 0 && this.timer === undefined) {
        this.timer = setTimeout(() => this.startDrain(), this.batchMs);
      }
    }
  }

  /** Appends whole lines; false when the disk refused them (said through onError). */
  private async append(lines: readonly string[]): Promise<boolean> {
    let text = lines.join("\n");
    try {
      await this.rotateIfNeeded(text.length + 1);
      // A write that failed half-way (ENOSPC) left a cut line: end it, so later lines stay whole. `size`
      // stays what the last whole write left until a write succeeds, so a retry that wrote nothing at all
      // still ends the cut line the next time.
      let size = this.size ?? 0;
      if (this.cutLine) {
        const actual = (await this.fs.stat(this.options.path))?.size ?? 0;
        if (actual !== size) {
          text = "\n" + text;
          size = actual;
        }
      }
      await this.fs.appendLine(this.options.path, text, AUDIT_FILE_MODE);
      this.size = size + text.length + 1;
      this.cutLine = false;
      if (this.dropped > 0) {
        this.report(`audit log recovered; ${this.dropped} events were dropped while it failed`, true);
        this.dropped = 0;
      }
      return true;
    } catch (err) {
      this.cutLine = true;
      this.report(
        `cannot write audit log ${this.options.path}: ${err instanceof Error ? err.message : "I/O error"}`,
      );
      return false;
    }
  }

  /**
   * The lines of `batch` from `from` on, up to WRITE_CHUNK_BYTES of text (at least one line): after a full
   * disk the backlog may be larger than the space that frees up, and one write of all of it would fail every
   * time; chunks make progress. Serialized SLICE_BYTES at a time, the event loop running in between.
   */
  private async serializeChunk(batch: (AuditEvent | string)[], from: number): Promise<string[]> {
    const lines: string[] = [];
    let bytes = 0;
    let slice = 0;
    for (let i = from; i < batch.length; i++) {
      const entry = batch[i]!;
      const line = typeof entry === "string" ? entry : JSON.stringify(entry);
      batch[i] = line;
      if (lines.length > 0 && bytes + line.length >= WRITE_CHUNK_BYTES) break;
      lines.push(line);
      bytes += line.length + 1;
      slice += line.length + 1;
      if (slice >= SLICE_BYTES && i + 1 < batch.length) {
        slice = 0;
        await nextTurn();
      }
    }
    return lines;
  }

  private async rotateIfNeeded(incoming: number): Promise<void> {
    if (this.size === undefined) this.size = (await this.fs.stat(this.options.path))?.size ?? 0;
    if (this.size + incoming <= this.maxBytes || this.size === 0) return;
    const base = this.options.path;
    await this.fs.remove(`${base}.${this.keep}`);
    for (let i = this.keep - 1; i >= 1; i--) {
      if (await this.fs.stat(`${base}.${i}`)) await this.fs.rename(`${base}.${i}`, `${base}.${i + 1}`);
    }
    await this.fs.rename(base, `${base}.1`);
    this.size = 0;
  }

  private report(message: string, always = false): void {
    const now = this.options.nowMs();
    if (!always && now - this.lastErrorAtMs < 60_000) return;
    this.lastErrorAtMs = now;
    this.options.onError(message);
  }
}
