/**
 * The event log across restarts: `STATE_DIR/events.jsonl` (0600), JSON Lines, appended in batches (the
 * caller flushes every ~100 ms; never a write per event), rewritten atomically with the kept events when it
 * passes twice the log's capacity in lines, and once at every start.
 *
 * Lines (each one JSON object, in any order; others are ignored):
 * - an event: `{"seq":N,"type":...,"action":...,"parents":[...],"resource_uri":...,"state":...,"uuid":...,
 *   "datetime":...,"namespace":...}` (event.ts, namespace included);
 * - `{"reserved":R}`: no seq above R was issued before a newer reservation is written. Written ahead of use
 *   (RESERVE seqs ahead, renewed when half is used), so after a crash the seqs issued but not yet written
 *   are below R and are never issued again;
 * - `{"docker":"T"}`: the dockerd event reader's position (docker-event-reader.ts), a timeNano;
 * - `{"closed":N}`: written last by a clean stop: every seq up to N is in the file.
 *
 * At start:
 * - Closed cleanly (the last complete line is `closed`, with N at or above every seq of the file): the log
 *   continues at N + 1 with the replayable history: the longest run of consecutive seqs at the end of the
 *   file that is above every other seq in it (a hole, a duplicate or an out-of-order seq cuts it there).
 *   A client resumes across the restart.
 * - Otherwise (a crash, a torn last line, an unreadable file): events written but not delivered, or
 *   delivered but not written, cannot be told apart, so none is replayed: the log starts empty at the
 *   highest of every seq and reservation read and the clock in ms, and any `since` of before is told to
 *   relist. `problem` says so.
 * - No file: the log starts at the clock in ms. Starting from the clock (not 0) keeps seq increasing even
 *   when the file is lost, as long as the host's clock does not go back and fewer than 1,000 events a
 *   second were issued on average since the log began.
 * A torn last line (no "\n": the agent died mid-write) is never read.
 */
import type { Clock, FileSystem, Platform } from "../ports.ts";
import { SECRET_FILE_MODE } from "../store/layout.ts";
import { eventOf, isStreamEvent, type StreamEvent } from "./event.ts";
import { DEFAULT_CAPACITY, EventLog } from "./event-log.ts";

export const EVENTS_FILE = "events.jsonl";
/** Seqs reserved ahead of use. */
export const RESERVE = 100_000;

export interface EventFileOptions {
  readonly fs: FileSystem;
  /** `STATE_DIR/events.jsonl`. */
  readonly path: string;
  readonly clock: Clock;
  /** Events kept (default 10,000); the file is rewritten past twice as many lines. */
  readonly capacity?: number;
}

export interface EventFile {
  /** The log (append, subscribe): its events are written by `flush`. */
  readonly log: EventLog;
  /** Why the last run's history is not (entirely) replayable, for the serve log; undefined when it is. */
  readonly problem: string | undefined;
  /** The dockerd reader's position saved by the last run (its `after`), if any. */
  readonly dockerPosition: string | undefined;
  /**
   * Writes what was appended since the last flush in one append (or rewrites the file when due), with the
   * dockerd reader's position when given. Flushes run one at a time; a failed one is retried by the next,
   * which then rewrites the file. Rejects with the file system's error.
   */
  flush(dockerPosition?: string): Promise<void>;
  /** Flushes and marks the file closed cleanly (the next start resumes without relist). Call at exit. */
  close(dockerPosition?: string): Promise<void>;
}

export interface LoadedEventFile {
  readonly latest: number;
  readonly events: StreamEvent[];
  readonly reserved: number;
  readonly dockerPosition: string | undefined;
  readonly problem: string | undefined;
}

const DOCKER_POSITION = /^[0-9]{1,20}$/;

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/** What a file's text gives (exported for tests): see the module comment. */
export function readEventFile(text: string, clockMs: number, path: string): LoadedEventFile {
  const base = Math.max(0, Math.floor(clockMs));
  const lines = text.split("\n");
  // The last piece has no "\n" after it: empty when the file ends cleanly, a torn write otherwise.
  const torn = lines.pop() !== "";
  const events: StreamEvent[] = [];
  let maxSeen = 0;
  let reserved = 0;
  let dockerPosition: string | undefined;
  let closed: number | undefined;
  let unreadable = 0;
  for (const line of lines) {
    closed = undefined;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      unreadable++;
      continue;
    }
    if (isStreamEvent(value)) {
      events.push(eventOf(value));
      maxSeen = Math.max(maxSeen, value.seq);
      continue;
    }
    const mark = typeof value === "object" && value !== null ? value as Record<string, unknown> : {};
    if (isCount(mark["reserved"])) reserved = Math.max(reserved, mark["reserved"]);
    if (typeof mark["docker"] === "string" && DOCKER_POSITION.test(mark["docker"])) {
      dockerPosition = mark["docker"];
    }
    if (isCount(mark["closed"])) closed = mark["closed"];
  }
  const highest = Math.max(maxSeen, reserved, closed ?? 0);
  if (torn || closed === undefined || closed < maxSeen) {
    const latest = Math.max(highest, base);
    const why = torn
      ? "its last line is torn (the agent stopped while writing)"
      : lines.length === 0
      ? "it is empty"
      : "the agent stopped without closing it";
    return {
      latest,
      events: [],
      reserved,
      dockerPosition,
      problem: `${path}: ${why}: events of before are not replayed; clients resuming from before seq ${
        latest + 1
      } are told to relist`,
    };
  }
  // The replayable run: consecutive seqs at the end, ending at `closed`, above every other seq of the file.
  let start = events.length;
  while (start > 0 && events[start - 1]!.seq === closed - (events.length - start)) start--;
  const before = events.slice(0, start).reduce((max, e) => Math.max(max, e.seq), 0);
  const kept = events.slice(start).filter((e) => e.seq > before);
  const dropped = events.length - kept.length;
  const notes: string[] = [];
  if (dropped > 0) {
    notes.push(
      `${dropped} events before seq ${
        kept[0]?.seq ?? closed + 1
      } are not replayed (a hole, a duplicate or an out-of-order seq)`,
    );
  }
  if (unreadable > 0) notes.push(`${unreadable} unreadable lines were ignored`);
  return {
    latest: closed,
    events: kept,
    reserved,
    dockerPosition,
    problem: notes.length === 0 ? undefined : `${path}: ${notes.join("; ")}`,
  };
}

function reservationLine(seq: number): string {
  return JSON.stringify({ reserved: seq });
}

export async function openEventFile(options: EventFileOptions): Promise<EventFile> {
  const { fs, path, clock } = options;
  const capacity = options.capacity ?? DEFAULT_CAPACITY;
  let loaded: LoadedEventFile;
  if ((await fs.stat(path)) === undefined) {
    const latest = Math.max(0, Math.floor(clock().getTime()));
    loaded = { latest, events: [], reserved: 0, dockerPosition: undefined, problem: undefined };
  } else {
    let text: string | undefined;
    try {
      text = await fs.readText(path);
    } catch {
      text = undefined;
    }
    loaded = text === undefined
      ? {
        latest: Math.max(0, Math.floor(clock().getTime())),
        events: [],
        reserved: 0,
        dockerPosition: undefined,
        problem: `${path} cannot be read: its events are not replayed`,
      }
      : readEventFile(text, clock().getTime(), path);
  }
  const log = new EventLog({ capacity, latest: loaded.latest, initial: loaded.events });

  let written = log.latest;
  let reserved = 0;
  let lines = 0;
  let position = loaded.dockerPosition;
  let writtenPosition: string | undefined;
  let rewriteDue = true;
  let chain: Promise<void> = Promise.resolve();

  /** The whole file: a reservation, the kept events, the reader's position. */
  async function rewrite(closing: boolean): Promise<void> {
    const latest = log.latest;
    const next = latest + RESERVE;
    const body = [reservationLine(next), ...log.after(log.oldest - 1).map((e) => JSON.stringify(e))];
    if (position !== undefined) body.push(JSON.stringify({ docker: position }));
    if (closing) body.push(JSON.stringify({ closed: latest }));
    await fs.writeAtomic(path, `${body.join("\n")}\n`, SECRET_FILE_MODE);
    written = latest;
    reserved = next;
    lines = body.length;
    writtenPosition = position;
    rewriteDue = false;
  }

  async function write(closing: boolean): Promise<void> {
    const latest = log.latest;
    // Events dropped from the ring before they were written, a failed write, or a long file: rewrite.
    if (rewriteDue || log.oldest > written + 1 || lines + (latest - written) + 3 > 2 * capacity) {
      return rewrite(closing);
    }
    const batch: string[] = [];
    let next = reserved;
    if (latest + RESERVE / 2 > reserved) {
      next = latest + RESERVE;
      batch.push(reservationLine(next));
    }
    for (const event of log.after(written)) batch.push(JSON.stringify(event));
    if (position !== writtenPosition && position !== undefined) {
      batch.push(JSON.stringify({ docker: position }));
    }
    if (closing) batch.push(JSON.stringify({ closed: latest }));
    if (batch.length === 0) return;
    try {
      await fs.appendLine(path, batch.join("\n"), SECRET_FILE_MODE);
    } catch (err) {
      // Part of the batch may be in the file (a torn line): the next write starts the file again.
      rewriteDue = true;
      throw err;
    }
    written = latest;
    reserved = next;
    lines += batch.length;
    writtenPosition = position;
  }

  function queue(closing: boolean, dockerPosition: string | undefined): Promise<void> {
    if (dockerPosition !== undefined && DOCKER_POSITION.test(dockerPosition)) position = dockerPosition;
    const run = chain.then(() => write(closing));
    chain = run.catch(() => undefined);
    return run;
  }

  // At every start the file is written again: without a torn line, a stale `closed` or old history.
  await queue(false, undefined);

  return {
    log,
    problem: loaded.problem,
    dockerPosition: loaded.dockerPosition,
    flush: (dockerPosition) => queue(false, dockerPosition),
    close: (dockerPosition) => queue(true, dockerPosition),
  };
}

export const FLUSH_INTERVAL_MS = 100;

export interface FlusherOptions {
  readonly file: EventFile;
  readonly platform: Pick<Platform, "sleep">;
  /** Aborting it ends the loop with a last flush and the closing mark. */
  readonly signal: AbortSignal;
  readonly intervalMs?: number;
  /** The dockerd reader's position (DockerEventReader.position), saved with each flush. */
  readonly position?: () => string | undefined;
  /** One line when writing starts failing, one when it works again. */
  readonly log: (message: string) => void;
}

/**
 * Flushes every `intervalMs` (nothing is written when nothing changed) until `signal` aborts, then closes
 * the file (flush and closing mark). Resolves once closed; never rejects.
 */
export async function runFlusher(options: FlusherOptions): Promise<void> {
  const { file, platform, signal, log } = options;
  const interval = options.intervalMs ?? FLUSH_INTERVAL_MS;
  let failing = false;
  const attempt = async (closing: boolean) => {
    try {
      const position = options.position?.();
      await (closing ? file.close(position) : file.flush(position));
      if (failing) log(`${EVENTS_FILE} is written again`);
      failing = false;
    } catch (err) {
      if (!failing) {
        const why = err instanceof Error ? err.message : String(err);
        log(`cannot write ${EVENTS_FILE} (${why}); events are kept in memory and written once it works`);
      }
      failing = true;
    }
  };
  while (!signal.aborted) {
    await platform.sleep(interval, signal);
    if (signal.aborted) break;
    await attempt(false);
  }
  await attempt(true);
}
