/**
 * Docker's stream formats, pure: the multiplexed ("stdcopy") stream that logs, attach and exec answer for a
 * container without a TTY, and the raw stream they answer for one with a TTY.
 *
 * A multiplexed stream is a run of frames, each an 8-byte header and a payload:
 *
 *     byte 0     stream: 0 stdin, 1 stdout, 2 stderr (3: an error from the daemon itself)
 *     bytes 1-3  zero
 *     bytes 4-7  payload length, big-endian uint32
 *
 * Chunks arrive cut anywhere (a header may be split across several). The demultiplexer copies what it keeps,
 * so a caller may reuse a chunk's buffer once push() returns. Anything that is not this format is a
 * MultiplexedStreamError (an AgentError, code ERR_DOCKER_RESPONSE), never another exception.
 *
 * logLines() turns frames into lines per stream and reads the timestamp dockerd puts in front of each log
 * message with `timestamps=1` (RFC 3339 with nanoseconds: `2026-12-01T10:00:00.123456789Z message`).
 */
import { AgentError } from "../errors.ts";
import { joinBytes } from "../bytes.ts";

export type StreamType = "stdin" | "stdout" | "stderr";

export interface Frame {
  readonly stream: StreamType;
  /** The payload (never empty: zero-length frames carry nothing and are dropped). */
  readonly data: Uint8Array;
}

export type MultiplexedStreamFault =
  /** A header whose stream byte is not 0-3 or whose bytes 1-3 are not zero: not a multiplexed stream. */
  | "bad-header"
  /** A frame longer than the limit. */
  | "frame-too-large"
  /** The stream ended inside a header or a payload. */
  | "truncated"
  /** Stream 3: dockerd reported an error in band (its text is in `daemonMessage`). */
  | "daemon-error";

export class MultiplexedStreamError extends AgentError {
  readonly fault: MultiplexedStreamFault;
  /** For "daemon-error": the daemon's own text (at most 1000 characters). */
  readonly daemonMessage: string | undefined;

  constructor(fault: MultiplexedStreamFault, message: string, daemonMessage?: string) {
    super("ERR_DOCKER_RESPONSE", message, fault);
    this.fault = fault;
    this.daemonMessage = daemonMessage;
  }
}

export interface DemultiplexOptions {
  /** The largest payload accepted, in bytes (default 1 MiB). */
  readonly maxFrameBytes?: number;
}

export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;
const HEADER_BYTES = 8;
const STREAMS: readonly StreamType[] = ["stdin", "stdout", "stderr"];
const SYSTEM_ERROR = 3;

/** An incremental demultiplexer: push() chunks as they come, end() when the stream ends. */
export class Demultiplexer {
  readonly #maxFrameBytes: number;
  readonly #header = new Uint8Array(HEADER_BYTES);
  #headerFilled = 0;
  /** The current frame's payload buffer (undefined while reading a header). */
  #payload: Uint8Array | undefined;
  #payloadFilled = 0;
  #streamByte = 0;
  /** Set after a fault: the stream cannot be resynchronised, so every later push() fails the same way. */
  #failed: MultiplexedStreamError | undefined;

  constructor(options: DemultiplexOptions = {}) {
    const limit = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    if (!Number.isInteger(limit) || limit < 1 || limit > 0xffffffff) {
      throw new AgentError("ERR_INTERNAL", "maxFrameBytes must be an integer from 1 to 2^32-1");
    }
    this.#maxFrameBytes = limit;
  }

  /**
   * The frames completed by this chunk (in order). A bad stream throws MultiplexedStreamError; frames that
   * completed before the fault in the same chunk are returned first and the next push() or end() throws.
   */
  push(chunk: Uint8Array): Frame[] {
    if (this.#failed) throw this.#failed;
    const frames: Frame[] = [];
    try {
      this.#read(chunk, frames);
    } catch (err) {
      if (!(err instanceof MultiplexedStreamError) || frames.length === 0) throw err;
    }
    return frames;
  }

  #read(chunk: Uint8Array, frames: Frame[]): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.#payload === undefined) {
        const take = Math.min(HEADER_BYTES - this.#headerFilled, chunk.length - at);
        this.#header.set(chunk.subarray(at, at + take), this.#headerFilled);
        this.#headerFilled += take;
        at += take;
        if (this.#headerFilled < HEADER_BYTES) break;
        this.#headerFilled = 0;
        const length = this.#startFrame();
        if (length === 0) {
          if (this.#streamByte === SYSTEM_ERROR) this.#fail(daemonError(new Uint8Array(0)));
          continue;
        }
        // A payload wholly inside this chunk is copied out in one go.
        if (chunk.length - at >= length && this.#streamByte !== SYSTEM_ERROR) {
          frames.push({ stream: STREAMS[this.#streamByte]!, data: copy(chunk.subarray(at, at + length)) });
          at += length;
          this.#payload = undefined;
          continue;
        }
        this.#payload = new Uint8Array(length);
        this.#payloadFilled = 0;
      }
      const payload = this.#payload;
      const take = Math.min(payload.length - this.#payloadFilled, chunk.length - at);
      payload.set(chunk.subarray(at, at + take), this.#payloadFilled);
      this.#payloadFilled += take;
      at += take;
      if (this.#payloadFilled < payload.length) break;
      this.#payload = undefined;
      if (this.#streamByte === SYSTEM_ERROR) this.#fail(daemonError(payload));
      frames.push({ stream: STREAMS[this.#streamByte]!, data: payload });
    }
  }

  /** The stream ended: throws "truncated" when it ended inside a frame. */
  end(): void {
    if (this.#failed) throw this.#failed;
    if (this.#headerFilled > 0 || this.#payload !== undefined) {
      this.#fail(new MultiplexedStreamError("truncated", "the Docker daemon's stream ended inside a frame"));
    }
  }

  /** Checks the header just read; returns the payload length and sets the stream byte. */
  #startFrame(): number {
    const h = this.#header;
    const stream = h[0]!;
    if (stream > SYSTEM_ERROR || h[1] !== 0 || h[2] !== 0 || h[3] !== 0) {
      this.#fail(new MultiplexedStreamError("bad-header", "the Docker daemon's stream is not multiplexed"));
    }
    const length = ((h[4]! << 24) >>> 0) + (h[5]! << 16) + (h[6]! << 8) + h[7]!;
    if (length > this.#maxFrameBytes) {
      this.#fail(
        new MultiplexedStreamError(
          "frame-too-large",
          `a frame of the Docker daemon's stream is larger than ${this.#maxFrameBytes} bytes`,
        ),
      );
    }
    this.#streamByte = stream;
    return length;
  }

  #fail(error: MultiplexedStreamError): never {
    this.#failed = error;
    this.#payload = undefined;
    throw error;
  }
}

function daemonError(payload: Uint8Array): MultiplexedStreamError {
  const text = new TextDecoder().decode(payload).trim().slice(0, 1000);
  return new MultiplexedStreamError(
    "daemon-error",
    "the Docker daemon reported an error in the stream",
    text,
  );
}

/** Frames of a multiplexed byte stream, as they complete. */
export async function* demultiplex(
  source: AsyncIterable<Uint8Array>,
  options: DemultiplexOptions = {},
): AsyncGenerator<Frame> {
  const demux = new Demultiplexer(options);
  for await (const chunk of source) yield* demux.push(chunk);
  demux.end();
}

/** A TTY container's raw stream as frames: every chunk is stdout (a TTY merges stderr into it). */
export async function* rawFrames(source: AsyncIterable<Uint8Array>): AsyncGenerator<Frame> {
  for await (const chunk of source) {
    if (chunk.length > 0) yield { stream: "stdout", data: copy(chunk) };
  }
}

// ---------------------------------------------------------------- lines

export interface LogLine {
  readonly streamType: StreamType;
  /** The line without its "\n" (nor a "\r" before it), decoded as UTF-8 (bad bytes become U+FFFD). */
  readonly line: string;
  /**
   * With `timestamps`: dockerd's timestamp, as ISO 8601 in UTC with milliseconds
   * (`2026-12-01T10:00:00.123Z`), or the text as given when it looks like RFC 3339 but is no real date.
   * Undefined without `timestamps` or when the line does not start with one.
   */
  readonly timestamp?: string;
}

export interface LineOptions {
  /** Lines start with dockerd's RFC 3339 timestamp and a space (logs asked with `timestamps=1`). */
  readonly timestamps?: boolean;
  /**
   * The longest line kept whole, in bytes (default 1 MiB, at least 64): a longer one is handed on in pieces
   * of this size (after its timestamp), so a stream without newlines cannot grow without bound.
   */
  readonly maxLineBytes?: number;
  /**
   * The frames are dockerd's log messages (a multiplexed logs answer: one frame per message). dockerd cuts a
   * line over 16 KiB into several messages, each with its own timestamp; with `timestamps`, such a
   * continuation's timestamp is dropped so the line comes out whole with the first one's. Leave false for a
   * raw (TTY) stream, whose chunks are cut anywhere.
   */
  readonly framesAreMessages?: boolean;
}

export const DEFAULT_MAX_LINE_BYTES = 1024 * 1024;

const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2}) /;

/** Splits `text` into dockerd's timestamp (see LogLine) and the rest; no timestamp: undefined and all. */
export function splitTimestamp(text: string): { timestamp: string | undefined; rest: string } {
  const m = TIMESTAMP.exec(text);
  if (!m) return { timestamp: undefined, rest: text };
  const given = m[0].slice(0, -1);
  return { timestamp: isoMilliseconds(m) ?? given, rest: text.slice(m[0].length) };
}

function isoMilliseconds(m: RegExpExecArray): string | undefined {
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) {
    return undefined;
  }
  const ms = Number((m[7] ?? "").padEnd(3, "0").slice(0, 3));
  // Date.UTC maps years 0-99 to 1900-1999: the year is set on its own (dockerd's zero time is year 1).
  const date = new Date(Date.UTC(2000, month - 1, 1, hour, minute, second, ms));
  date.setUTCFullYear(year, month - 1, day);
  // 31 February rolls over into March: such a date is not real.
  if (date.getUTCDate() !== day) return undefined;
  let time = date.getTime();
  const zone = m[8]!;
  if (zone !== "Z") {
    const sign = zone[0] === "-" ? -1 : 1;
    const offsetHours = Number(zone.slice(1, 3));
    const offsetMinutes = Number(zone.slice(4, 6));
    if (offsetHours > 23 || offsetMinutes > 59) return undefined;
    time -= sign * (offsetHours * 60 + offsetMinutes) * 60_000;
  }
  // toISOString writes years outside 0000-9999 with a sign and six digits: keep to RFC 3339's range.
  if (time < -62167219200000 || time > 253402300799999) return undefined;
  return new Date(time).toISOString();
}

interface PartialLine {
  parts: Uint8Array[];
  bytes: number;
  /** Set once a first piece of an over-long line went out: the rest keeps that piece's timestamp. */
  carried?: { readonly timestamp: string | undefined };
}

/** An incremental line splitter over frames, one partial line kept per stream. */
export class LineSplitter {
  readonly #timestamps: boolean;
  readonly #maxLineBytes: number;
  readonly #framesAreMessages: boolean;
  readonly #decoder = new TextDecoder();
  readonly #pending = new Map<StreamType, PartialLine>();

  constructor(options: LineOptions = {}) {
    this.#timestamps = options.timestamps ?? false;
    this.#framesAreMessages = options.framesAreMessages ?? false;
    const limit = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    if (!Number.isInteger(limit) || limit < 64) {
      throw new AgentError("ERR_INTERNAL", "maxLineBytes must be an integer of at least 64");
    }
    this.#maxLineBytes = limit;
  }

  /** The lines this frame completes (in order). */
  push(frame: Frame): LogLine[] {
    const out: LogLine[] = [];
    const stream = frame.stream;
    let data = frame.data;
    if (this.#pending.has(stream) && this.#timestamps && this.#framesAreMessages) {
      // A continuation message of a long line: its own timestamp is not part of the line.
      data = data.subarray(timestampPrefixBytes(data));
    }
    let at = 0;
    while (at < data.length) {
      const newline = data.indexOf(0x0a, at);
      const end = newline < 0 ? data.length : newline;
      if (end > at) {
        let pending = this.#pending.get(stream);
        if (!pending) this.#pending.set(stream, pending = { parts: [], bytes: 0 });
        pending.parts.push(copy(data.subarray(at, end)));
        pending.bytes += end - at;
        while (pending.bytes >= this.#maxLineBytes) {
          const piece = this.#cutLong(stream, pending);
          if (piece) out.push(piece);
        }
      }
      if (newline < 0) break;
      out.push(this.#finish(stream));
      at = newline + 1;
    }
    return out;
  }

  /** The partial lines left when the stream ends (stdout's first, then stderr's, then stdin's). */
  end(): LogLine[] {
    const out: LogLine[] = [];
    for (const stream of ["stdout", "stderr", "stdin"] as const) {
      if (this.#pending.has(stream)) out.push(this.#finish(stream));
    }
    return out;
  }

  /** The line ended (a newline, or the end of the stream). */
  #finish(stream: StreamType): LogLine {
    const pending = this.#pending.get(stream);
    this.#pending.delete(stream);
    if (!pending) return this.#line(stream, "", undefined);
    let text = this.#decoder.decode(joinBytes(pending.parts, pending.bytes));
    if (text.endsWith("\r")) text = text.slice(0, -1);
    return this.#line(stream, text, pending.carried);
  }

  /**
   * Hands on the first maxLineBytes of an over-long partial line (cut at a UTF-8 character boundary); none
   * when what is left once the timestamp is read is under the limit.
   */
  #cutLong(stream: StreamType, pending: PartialLine): LogLine | undefined {
    let all = joinBytes(pending.parts, pending.bytes);
    let carried = pending.carried;
    if (this.#timestamps && !carried) {
      // The timestamp is read before the first cut (the limit is at least 64 bytes: a timestamp fits).
      const cut = timestampPrefixBytes(all);
      carried = {
        timestamp: cut > 0 ? splitTimestamp(this.#decoder.decode(all.subarray(0, cut))).timestamp : undefined,
      };
      all = all.subarray(cut);
      if (all.length < this.#maxLineBytes) {
        pending.carried = carried;
        pending.parts = [copy(all)];
        pending.bytes = all.length;
        return undefined;
      }
    }
    let cut = this.#maxLineBytes;
    // Back off over continuation bytes (10xxxxxx) so that a character is not split.
    for (let i = 0; i < 3 && (all[cut]! & 0xc0) === 0x80; i++) cut--;
    const line = this.#line(stream, this.#decoder.decode(all.subarray(0, cut)), carried);
    pending.carried = carried ?? { timestamp: undefined };
    pending.parts = [copy(all.subarray(cut))];
    pending.bytes = all.length - cut;
    return line;
  }

  #line(stream: StreamType, text: string, carried: PartialLine["carried"]): LogLine {
    if (!this.#timestamps) return { streamType: stream, line: text };
    const { timestamp, rest } = carried ? { timestamp: carried.timestamp, rest: text } : splitTimestamp(text);
    return timestamp === undefined
      ? { streamType: stream, line: rest }
      : { streamType: stream, line: rest, timestamp };
  }
}

/** The length of a leading "TIMESTAMP " in bytes (ASCII), or 0. */
function timestampPrefixBytes(data: Uint8Array): number {
  // A timestamp with a zone offset and nine digits is 36 characters with its space.
  const head = new TextDecoder().decode(data.subarray(0, 40));
  const m = TIMESTAMP.exec(head);
  return m ? m[0].length : 0;
}

/**
 * A copy as a plain Uint8Array. Not `slice()`: on a Node Buffer (what node:net hands out) slice() is a view
 * of the same memory.
 */
function copy(view: Uint8Array): Uint8Array {
  return new Uint8Array(view);
}

/** Lines of a stream of frames (see LineSplitter); partial lines come out when the frames end. */
export async function* logLines(
  frames: AsyncIterable<Frame>,
  options: LineOptions = {},
): AsyncGenerator<LogLine> {
  const splitter = new LineSplitter(options);
  for await (const frame of frames) yield* splitter.push(frame);
  yield* splitter.end();
}

/** Lines of a TTY container's raw stream: everything is "stdout". */
export function rawLogLines(
  source: AsyncIterable<Uint8Array>,
  options: Omit<LineOptions, "framesAreMessages"> = {},
): AsyncGenerator<LogLine> {
  return logLines(rawFrames(source), { ...options, framesAreMessages: false });
}
