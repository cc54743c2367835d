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
/** The most one append writes (a few hundred events). */
const WRITE_CHUNK_BYTES = 64 * 1024;

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
    if (this.pending.length > 0) this.startDrain();
    while (this.flushing) await this.flushing;
  }

  private startDrain(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.flushing ??= this.drain();
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const batch = this.takeChunk();
        let text = batch.join("\n");
        try {
          await this.rotateIfNeeded(text.length + 1);
          // A write that failed half-way (ENOSPC) left a cut line: end it, so later lines stay whole.
          if (this.cutLine) {
            const actual = (await this.fs.stat(this.options.path))?.size ?? 0;
            if (actual !== (this.size ?? 0)) {
              text = "\n" + text;
              this.size = actual;
            }
          }
          await this.fs.appendLine(this.options.path, text, AUDIT_FILE_MODE);
          this.size = (this.size ?? 0) + text.length + 1;
          this.cutLine = false;
          if (this.dropped > 0) {
            this.report(`audit log recovered; ${this.dropped} events were dropped while it failed`, true);
            this.dropped = 0;
          }
        } catch (err) {
          // Keep the batch for the next attempt (bounded), and say so.
          this.pending = [...batch, ...this.pending].slice(-this.maxPending);
          this.cutLine = true;
          this.report(
            `cannot write audit log ${this.options.path}: ${
              err instanceof Error ? err.message : "I/O error"
            }`,
          );
          return;
        }
      }
    } finally {
      this.flushing = undefined;
    }
  }

  /**
   * The oldest events, up to WRITE_CHUNK_BYTES of text: after a full disk the backlog may be larger than
   * the space that frees up, and one write of all of it would fail every time; chunks make progress.
   */
  private takeChunk(): string[] {
    let bytes = 0;
    let n = 0;
    while (n < this.pending.length) {
      const entry = this.pending[n]!;
      const line = typeof entry === "string" ? entry : JSON.stringify(entry);
      this.pending[n] = line;
      if (n > 0 && bytes + line.length >= WRITE_CHUNK_BYTES) break;
      bytes += line.length + 1;
      n++;
    }
    return this.pending.splice(0, n) as string[];
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
