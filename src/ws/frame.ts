/**
 * RFC 6455 framing, pure: an incremental frame parser (bytes in, frames out, or a typed protocol error that
 * carries the close code to send), message reassembly from continuation frames with a size limit and UTF-8
 * checking of text, the encoder, and close frame payloads. No extension is ever negotiated, so every
 * reserved bit must be zero. Nothing here throws on input from the network: every problem with the bytes is
 * a WebSocketProtocolError returned as a value; only a caller's mistake (a control payload over 125 bytes,
 * a mask that is not 4 bytes, a close code that may not be sent) throws a RangeError.
 */
import { joinBytes } from "../bytes.ts";

export const Opcode = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;
export type Opcode = (typeof Opcode)[keyof typeof Opcode];

/** The close codes this code sends or reports (RFC 6455 section 7.4.1). */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  /** Reported when a close frame carried no code; never sent. */
  NoStatus: 1005,
  /** Reported when the connection ended without a close frame; never sent. */
  Abnormal: 1006,
  InvalidPayload: 1007,
  PolicyViolation: 1008,
  TooBig: 1009,
  InternalError: 1011,
} as const;

/** The codes a protocol error closes with: 1002 protocol error, 1007 invalid UTF-8, 1009 too big. */
export type ProtocolErrorCode = 1002 | 1007 | 1009;

/** The peer broke the protocol: close with `closeCode` and a reason of `message` (ASCII, under 123 bytes). */
export class WebSocketProtocolError extends Error {
  override readonly name = "WebSocketProtocolError";
  readonly closeCode: ProtocolErrorCode;

  constructor(closeCode: ProtocolErrorCode, message: string) {
    super(message);
    this.closeCode = closeCode;
  }
}

export interface Frame {
  readonly fin: boolean;
  readonly opcode: Opcode;
  /** Unmasked. */
  readonly payload: Uint8Array;
}

/** Largest payload of a control frame (close, ping, pong). */
export const MAX_CONTROL_PAYLOAD = 125;

const KNOWN_OPCODES: ReadonlySet<number> = new Set(Object.values(Opcode));

export interface FrameParserOptions {
  /**
   * True where frames come from a client (the server side): each must be masked. False where they come from
   * a server (the client side): none may be.
   */
  readonly masked: boolean;
  /** The largest data frame payload taken; a longer one is refused (1009) from its header alone. */
  readonly maxPayloadBytes: number;
}

export interface ParseResult {
  /** Every frame completed by the bytes fed, in order (also those before an error). */
  readonly frames: readonly Frame[];
  /** Set once the bytes broke the protocol; the parser then keeps returning it and takes nothing more. */
  readonly error?: WebSocketProtocolError;
}

/**
 * Bytes in, frames out. Headers are checked as soon as their first two bytes are in, so a frame that is too
 * big or malformed is refused before its payload is buffered. Lengths need not be in their minimal encoding
 * (RFC 6455 asks senders for it; receivers commonly accept either, and so does this one).
 */
export class FrameParser {
  readonly #options: FrameParserOptions;
  readonly #queue = new ByteQueue();
  #error: WebSocketProtocolError | undefined;

  constructor(options: FrameParserOptions) {
    this.#options = options;
  }

  feed(bytes: Uint8Array): ParseResult {
    if (this.#error !== undefined) return { frames: [], error: this.#error };
    this.#queue.push(bytes);
    const frames: Frame[] = [];
    for (;;) {
      const next = this.#next();
      if (next === undefined) break;
      if (next instanceof WebSocketProtocolError) {
        this.#error = next;
        this.#queue.clear();
        return { frames, error: next };
      }
      frames.push(next);
    }
    return { frames };
  }

  /** The next whole frame, an error, or undefined when more bytes are needed. */
  #next(): Frame | WebSocketProtocolError | undefined {
    const queue = this.#queue;
    if (queue.length < 2) return undefined;
    const start = queue.peek(2);
    const b0 = start[0]!;
    const b1 = start[1]!;
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    const masked = (b1 & 0x80) !== 0;
    const short = b1 & 0x7f;
    if ((b0 & 0x70) !== 0) return protocolError("reserved bits set without an extension");
    if (!KNOWN_OPCODES.has(opcode)) return protocolError(`unknown opcode ${opcode}`);
    const control = (opcode & 0x08) !== 0;
    if (control && !fin) return protocolError("fragmented control frame");
    if (control && short > MAX_CONTROL_PAYLOAD) return protocolError("control frame over 125 bytes");
    if (masked !== this.#options.masked) {
      return protocolError(
        this.#options.masked ? "unmasked frame from a client" : "masked frame from a server",
      );
    }
    const extended = short === 126 ? 2 : short === 127 ? 8 : 0;
    const headerLength = 2 + extended + (masked ? 4 : 0);
    if (queue.length < headerLength) return undefined;
    const header = queue.peek(headerLength);
    let length = short;
    if (short === 126) {
      length = (header[2]! << 8) | header[3]!;
    } else if (short === 127) {
      const high = ((header[2]! << 24) >>> 0) + (header[3]! << 16) + (header[4]! << 8) + header[5]!;
      const low = ((header[6]! << 24) >>> 0) + (header[7]! << 16) + (header[8]! << 8) + header[9]!;
      if (high >= 0x80000000) return protocolError("frame length with its most significant bit set");
      // Beyond 2^53 the number is not exact, but it is far over any limit either way.
      length = high * 0x100000000 + low;
    }
    if (!control && length > this.#options.maxPayloadBytes) {
      return new WebSocketProtocolError(
        CloseCode.TooBig,
        `message larger than ${this.#options.maxPayloadBytes} bytes`,
      );
    }
    if (queue.length < headerLength + length) return undefined;
    queue.skip(headerLength);
    const payload = queue.take(length);
    if (masked) unmask(payload, header.subarray(headerLength - 4, headerLength));
    return { fin, opcode: opcode as Opcode, payload };
  }
}

function protocolError(message: string): WebSocketProtocolError {
  return new WebSocketProtocolError(CloseCode.ProtocolError, message);
}

/** XORs `data` in place with the 4-byte `mask` (the same operation masks and unmasks). */
export function unmask(data: Uint8Array, mask: Uint8Array): void {
  for (let i = 0; i < data.length; i++) data[i] = data[i]! ^ mask[i & 3]!;
}

export interface EncodeOptions {
  /** False for every fragment of a message but the last. Default true. */
  readonly fin?: boolean;
  /** A client's frame: 4 random bytes. A server's frames are never masked (leave it out). */
  readonly mask?: Uint8Array;
}

/** One frame on the wire. The payload is copied (and masked in the copy), never changed. */
export function encodeFrame(opcode: Opcode, payload: Uint8Array, options: EncodeOptions = {}): Uint8Array {
  const fin = options.fin ?? true;
  const mask = options.mask;
  if ((opcode & 0x08) !== 0 && (payload.length > MAX_CONTROL_PAYLOAD || !fin)) {
    throw new RangeError("a control frame is one frame of at most 125 bytes");
  }
  if (mask !== undefined && mask.length !== 4) throw new RangeError("a frame mask is 4 bytes");
  const extended = payload.length < 126 ? 0 : payload.length < 0x10000 ? 2 : 8;
  const headerLength = 2 + extended + (mask === undefined ? 0 : 4);
  const out = new Uint8Array(headerLength + payload.length);
  out[0] = (fin ? 0x80 : 0) | opcode;
  const maskBit = mask === undefined ? 0 : 0x80;
  if (extended === 0) {
    out[1] = maskBit | payload.length;
  } else if (extended === 2) {
    out[1] = maskBit | 126;
    out[2] = payload.length >>> 8;
    out[3] = payload.length & 0xff;
  } else {
    out[1] = maskBit | 127;
    const high = Math.floor(payload.length / 0x100000000);
    const low = payload.length >>> 0;
    out[2] = high >>> 24;
    out[3] = (high >>> 16) & 0xff;
    out[4] = (high >>> 8) & 0xff;
    out[5] = high & 0xff;
    out[6] = low >>> 24;
    out[7] = (low >>> 16) & 0xff;
    out[8] = (low >>> 8) & 0xff;
    out[9] = low & 0xff;
  }
  out.set(payload, headerLength);
  if (mask !== undefined) {
    out.set(mask, headerLength - 4);
    unmask(out.subarray(headerLength), mask);
  }
  return out;
}

// ---- close frames ----

/** Whether `code` may travel in a close frame (RFC 6455 section 7.4: the IANA registry and 3000-4999). */
export function isSendableCloseCode(code: number): boolean {
  if (!Number.isInteger(code)) return false;
  if (code >= 3000 && code <= 4999) return true;
  return code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006;
}

export interface ClosePayload {
  /** 1005 (NoStatus) when the frame carried none. */
  readonly code: number;
  readonly reason: string;
}

/** A received close frame's code and reason; 1002 for a bad code or a 1-byte payload, 1007 for bad UTF-8. */
export function parseClosePayload(payload: Uint8Array): ClosePayload | WebSocketProtocolError {
  if (payload.length === 0) return { code: CloseCode.NoStatus, reason: "" };
  if (payload.length === 1) return protocolError("close frame with a 1-byte payload");
  const code = (payload[0]! << 8) | payload[1]!;
  if (!isSendableCloseCode(code)) return protocolError(`close code ${code} is not allowed`);
  try {
    return { code, reason: new TextDecoder("utf-8", { fatal: true }).decode(payload.subarray(2)) };
  } catch {
    return new WebSocketProtocolError(CloseCode.InvalidPayload, "close reason is not UTF-8");
  }
}

/**
 * A close frame's payload: the code, then the reason in UTF-8 cut (on a character boundary) to fit the
 * 125-byte control frame. Throws a RangeError for a code that may not be sent (1005, 1006, ...).
 */
export function encodeClosePayload(code: number, reason: string): Uint8Array {
  if (!isSendableCloseCode(code)) throw new RangeError(`close code ${code} may not be sent`);
  const text = utf8Prefix(reason, MAX_CONTROL_PAYLOAD - 2);
  const out = new Uint8Array(2 + text.length);
  out[0] = code >>> 8;
  out[1] = code & 0xff;
  out.set(text, 2);
  return out;
}

/** The UTF-8 of `text`, cut to at most `max` bytes without splitting a character. */
function utf8Prefix(text: string, max: number): Uint8Array {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length <= max) return bytes;
  let end = max;
  // Back off continuation bytes (10xxxxxx) so the cut falls before a character's first byte.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

// ---- messages ----

export type Message =
  | { readonly type: "text"; readonly text: string }
  | { readonly type: "binary"; readonly data: Uint8Array };

/**
 * Data frames in, whole messages out: a text or binary frame starts a message, continuation frames extend
 * it, the one with `fin` ends it. Text is checked as UTF-8 fragment by fragment (a character may be split
 * across frames), so invalid text fails at the first bad fragment (1007). A message whose fragments together
 * exceed `maxMessageBytes` fails with 1009. Control frames never reach it (see MessageReader).
 */
export class MessageAssembler {
  readonly #maxMessageBytes: number;
  #type: "text" | "binary" | undefined;
  #parts: Uint8Array[] = [];
  #size = 0;
  #decoder: TextDecoder | undefined;
  #text = "";

  constructor(maxMessageBytes: number) {
    this.#maxMessageBytes = maxMessageBytes;
  }

  /** The message `frame` completes, undefined while one is incomplete, or the protocol error. */
  push(frame: Frame): Message | undefined | WebSocketProtocolError {
    if (frame.opcode === Opcode.Continuation) {
      if (this.#type === undefined) return protocolError("continuation frame without a message to continue");
    } else if (frame.opcode === Opcode.Text || frame.opcode === Opcode.Binary) {
      if (this.#type !== undefined) return protocolError("new message before the previous one ended");
      this.#type = frame.opcode === Opcode.Text ? "text" : "binary";
      if (this.#type === "text") this.#decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
    } else {
      return protocolError("control frame given as data");
    }
    this.#size += frame.payload.length;
    if (this.#size > this.#maxMessageBytes) {
      return new WebSocketProtocolError(
        CloseCode.TooBig,
        `message larger than ${this.#maxMessageBytes} bytes`,
      );
    }
    if (this.#type === "text") {
      try {
        this.#text += this.#decoder!.decode(frame.payload, { stream: !frame.fin });
      } catch {
        return new WebSocketProtocolError(CloseCode.InvalidPayload, "text message is not UTF-8");
      }
    } else {
      this.#parts.push(frame.payload);
    }
    if (!frame.fin) return undefined;
    const message: Message = this.#type === "text"
      ? { type: "text", text: this.#text }
      : { type: "binary", data: joinBytes(this.#parts, this.#size) };
    this.#type = undefined;
    this.#parts = [];
    this.#size = 0;
    this.#decoder = undefined;
    this.#text = "";
    return message;
  }
}

export type WebSocketEvent =
  | Message
  | { readonly type: "ping"; readonly payload: Uint8Array }
  | { readonly type: "pong"; readonly payload: Uint8Array }
  | { readonly type: "close"; readonly code: number; readonly reason: string };

export interface ReadResult {
  readonly events: readonly WebSocketEvent[];
  /** As ParseResult.error: the connection is to be failed with its close code; nothing more is read. */
  readonly error?: WebSocketProtocolError;
}

export interface MessageReaderOptions {
  /** As FrameParserOptions.masked: true on the server side. */
  readonly masked: boolean;
  /** The largest message (all its fragments together). */
  readonly maxMessageBytes: number;
}

/** Bytes in, messages and control events out: one side's whole receive path. Nothing comes after a close. */
export class MessageReader {
  readonly #parser: FrameParser;
  readonly #assembler: MessageAssembler;
  #error: WebSocketProtocolError | undefined;
  #closed = false;

  constructor(options: MessageReaderOptions) {
    this.#parser = new FrameParser({ masked: options.masked, maxPayloadBytes: options.maxMessageBytes });
    this.#assembler = new MessageAssembler(options.maxMessageBytes);
  }

  feed(bytes: Uint8Array): ReadResult {
    if (this.#error !== undefined) return { events: [], error: this.#error };
    if (this.#closed) return { events: [] };
    const parsed = this.#parser.feed(bytes);
    const events: WebSocketEvent[] = [];
    for (const frame of parsed.frames) {
      const event = this.#event(frame);
      if (event instanceof WebSocketProtocolError) {
        this.#error = event;
        return { events, error: event };
      }
      if (event === undefined) continue;
      events.push(event);
      if (event.type === "close") {
        // The peer sends nothing after its close frame (RFC 6455 section 5.5.1): the rest is ignored.
        this.#closed = true;
        return { events };
      }
    }
    if (parsed.error !== undefined) this.#error = parsed.error;
    return parsed.error === undefined ? { events } : { events, error: parsed.error };
  }

  #event(frame: Frame): WebSocketEvent | undefined | WebSocketProtocolError {
    switch (frame.opcode) {
      case Opcode.Ping:
        return { type: "ping", payload: frame.payload };
      case Opcode.Pong:
        return { type: "pong", payload: frame.payload };
      case Opcode.Close: {
        const close = parseClosePayload(frame.payload);
        return close instanceof WebSocketProtocolError ? close : { type: "close", ...close };
      }
      default:
        return this.#assembler.push(frame);
    }
  }
}

/** A FIFO of byte chunks: append without copying, take a contiguous copy of the front. */
class ByteQueue {
  #chunks: Uint8Array[] = [];
  /** Bytes of the first chunk already taken. */
  #offset = 0;
  #length = 0;

  get length(): number {
    return this.#length;
  }

  push(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.#chunks.push(bytes);
    this.#length += bytes.length;
  }

  clear(): void {
    this.#chunks = [];
    this.#offset = 0;
    this.#length = 0;
  }

  /** The first `n` bytes (n <= length), without removing them: a view when they lie in one chunk. */
  peek(n: number): Uint8Array {
    const first = this.#chunks[0]!;
    if (first.length - this.#offset >= n) return first.subarray(this.#offset, this.#offset + n);
    return this.#copy(n, false);
  }

  /** Removes and returns the first `n` bytes (n <= length), always a copy the caller may change. */
  take(n: number): Uint8Array {
    return this.#copy(n, true);
  }

  skip(n: number): void {
    this.#copy(n, true, false);
  }

  #copy(n: number, consume: boolean, keep = true): Uint8Array {
    const out = new Uint8Array(keep ? n : 0);
    let filled = 0;
    let index = 0;
    let offset = this.#offset;
    while (filled < n) {
      const chunk = this.#chunks[index]!;
      const count = Math.min(chunk.length - offset, n - filled);
      if (keep) out.set(chunk.subarray(offset, offset + count), filled);
      filled += count;
      offset += count;
      if (offset === chunk.length) {
        index++;
        offset = 0;
      }
    }
    if (consume) {
      this.#chunks.splice(0, index);
      this.#offset = offset;
      this.#length -= n;
    }
    return out;
  }
}
