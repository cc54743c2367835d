/** Docker's multiplexed stream and log lines: split headers, every stream byte, faults, random chunking. */
import { describe, expect, test } from "bun:test";
import {
  demultiplex,
  Demultiplexer,
  type Frame,
  LineSplitter,
  logLines,
  MultiplexedStreamError,
  rawLogLines,
  splitTimestamp,
  type StreamType,
} from "../../../src/docker/multiplexed.ts";
import { AgentError } from "../../../src/errors.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function frame(stream: number, payload: Uint8Array | string): Uint8Array {
  const data = typeof payload === "string" ? enc.encode(payload) : payload;
  const out = new Uint8Array(8 + data.length);
  out[0] = stream;
  new DataView(out.buffer).setUint32(4, data.length);
  out.set(data, 8);
  return out;
}

function join(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function text(frames: readonly Frame[]): [StreamType, string][] {
  return frames.map((f) => [f.stream, dec.decode(f.data)]);
}

/** A seeded generator (xorshift32), so a failing fuzz case can be replayed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

function fault(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(MultiplexedStreamError);
    expect(err).toBeInstanceOf(AgentError);
    expect((err as AgentError).code).toBe("ERR_DOCKER_RESPONSE");
    return (err as MultiplexedStreamError).fault;
  }
  return "no fault";
}

async function* chunks(...parts: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield p;
}

async function collect<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of source) out.push(item);
  return out;
}

describe("Demultiplexer", () => {
  test("every stream byte: 0 stdin, 1 stdout, 2 stderr", () => {
    const d = new Demultiplexer();
    const frames = d.push(join(frame(0, "in"), frame(1, "out"), frame(2, "err")));
    expect(text(frames)).toEqual([["stdin", "in"], ["stdout", "out"], ["stderr", "err"]]);
    d.end();
  });

  test("a header split at every position, and one byte at a time", () => {
    const whole = join(frame(1, "hello"), frame(2, "world!"));
    for (let cut = 1; cut < whole.length; cut++) {
      const d = new Demultiplexer();
      const frames = [...d.push(whole.subarray(0, cut)), ...d.push(whole.subarray(cut))];
      expect(text(frames)).toEqual([["stdout", "hello"], ["stderr", "world!"]]);
      d.end();
    }
    const d = new Demultiplexer();
    const frames: Frame[] = [];
    for (const byte of whole) frames.push(...d.push(Uint8Array.of(byte)));
    expect(text(frames)).toEqual([["stdout", "hello"], ["stderr", "world!"]]);
  });

  test("payloads are copies: the caller may reuse its chunk buffer", () => {
    const buffer = join(frame(1, "abc"), frame(1, "def").subarray(0, 10));
    const d = new Demultiplexer();
    const first = d.push(buffer);
    const rest = frame(1, "def").subarray(10);
    buffer.fill(0x7a);
    const second = d.push(rest);
    expect(text([...first, ...second])).toEqual([["stdout", "abc"], ["stdout", "def"]]);
    // node:net hands out Buffers, whose slice() shares memory: frames are still copies, plain Uint8Arrays.
    const nodeChunk = Buffer.from(join(frame(2, "ghi"), frame(1, "jk")));
    const frames = new Demultiplexer().push(nodeChunk);
    nodeChunk.fill(0x7a);
    expect(text(frames)).toEqual([["stderr", "ghi"], ["stdout", "jk"]]);
    expect(frames.every((f) => f.data.constructor === Uint8Array)).toBe(true);
  });

  test("zero-length frames are dropped; a length uses all 32 bits big-endian", () => {
    const d = new Demultiplexer({ maxFrameBytes: 0x10000 });
    const big = new Uint8Array(0x1_02_03).fill(0x41);
    const frames = d.push(join(frame(1, ""), frame(2, big.subarray(0, 0x102)), frame(1, "")));
    expect(frames.length).toBe(1);
    expect(frames[0]!.data.length).toBe(0x102);
    expect(fault(() => new Demultiplexer({ maxFrameBytes: 0x10000 }).push(frame(1, big)))).toBe(
      "frame-too-large",
    );
  });

  test("an oversized frame is refused from its header alone (default 1 MiB)", () => {
    const header = Uint8Array.of(1, 0, 0, 0, 0, 0x10, 0, 1); // 1 MiB + 1
    expect(fault(() => new Demultiplexer().push(header))).toBe("frame-too-large");
    const exactly = Uint8Array.of(1, 0, 0, 0, 0, 0x10, 0, 0);
    expect(new Demultiplexer().push(exactly)).toEqual([]);
    expect(fault(() => new Demultiplexer({ maxFrameBytes: 4 }).push(frame(1, "12345")))).toBe(
      "frame-too-large",
    );
    expect(fault(() => new Demultiplexer().push(Uint8Array.of(2, 0, 0, 0, 0xff, 0xff, 0xff, 0xff)))).toBe(
      "frame-too-large",
    );
  });

  test("a bad stream byte or non-zero padding is bad-header; so is plain text", () => {
    for (const stream of [4, 5, 0x7f, 0xff]) {
      expect(fault(() => new Demultiplexer().push(frame(stream, "x")))).toBe("bad-header");
    }
    for (const pad of [1, 2, 3]) {
      const f = frame(1, "x");
      f[pad] = 1;
      expect(fault(() => new Demultiplexer().push(f))).toBe("bad-header");
    }
    expect(fault(() => new Demultiplexer().push(enc.encode("hello world\n")))).toBe("bad-header");
  });

  test("frames before a fault in the same chunk come out; then every call fails the same way", () => {
    const d = new Demultiplexer();
    const frames = d.push(join(frame(1, "ok"), enc.encode("garbage!")));
    expect(text(frames)).toEqual([["stdout", "ok"]]);
    expect(fault(() => d.push(frame(1, "more")))).toBe("bad-header");
    expect(fault(() => d.end())).toBe("bad-header");
  });

  test("stream 3 is the daemon's own error, with its text", () => {
    const d = new Demultiplexer();
    let err: unknown;
    try {
      d.push(join(frame(3, "exec failed: no such file\n")));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MultiplexedStreamError);
    expect((err as MultiplexedStreamError).fault).toBe("daemon-error");
    expect((err as MultiplexedStreamError).daemonMessage).toBe("exec failed: no such file");
    expect(fault(() => new Demultiplexer().push(frame(3, "")))).toBe("daemon-error");
  });

  test("ending inside a header or a payload is truncated; ending between frames is fine", () => {
    const d1 = new Demultiplexer();
    d1.push(frame(1, "abc").subarray(0, 5));
    expect(fault(() => d1.end())).toBe("truncated");
    const d2 = new Demultiplexer();
    d2.push(frame(1, "abc").subarray(0, 9));
    expect(fault(() => d2.end())).toBe("truncated");
    const d3 = new Demultiplexer();
    d3.push(frame(1, "abc"));
    d3.end();
  });

  test("a bad limit is refused up front", () => {
    for (const limit of [0, -1, 1.5, 2 ** 32]) {
      expect(() => new Demultiplexer({ maxFrameBytes: limit })).toThrow(AgentError);
    }
  });

  test("fuzz: random frames, random chunking, reassembled exactly", () => {
    for (let seed = 1; seed <= 300; seed++) {
      const random = rng(seed);
      const expected: { stream: StreamType; bytes: number[] }[] = [];
      const parts: Uint8Array[] = [];
      const count = Math.floor(random() * 20);
      for (let i = 0; i < count; i++) {
        const stream = Math.floor(random() * 3);
        const length = random() < 0.1 ? 0 : Math.floor(random() * (random() < 0.2 ? 5000 : 40));
        const payload = new Uint8Array(length);
        for (let j = 0; j < length; j++) payload[j] = Math.floor(random() * 256);
        parts.push(frame(stream, payload));
        if (length > 0) {
          expected.push({ stream: (["stdin", "stdout", "stderr"] as const)[stream]!, bytes: [...payload] });
        }
      }
      const whole = join(...parts);
      const d = new Demultiplexer();
      const got: Frame[] = [];
      for (let at = 0; at < whole.length;) {
        const size = random() < 0.3 ? 1 + Math.floor(random() * 3) : 1 + Math.floor(random() * 700);
        got.push(...d.push(whole.subarray(at, at + size)));
        at += size;
      }
      d.end();
      expect(got.map((f) => ({ stream: f.stream, bytes: [...f.data] }))).toEqual(expected);
    }
  });

  test("fuzz: random bytes only ever fail with a MultiplexedStreamError", () => {
    for (let seed = 1; seed <= 300; seed++) {
      const random = rng(seed * 7919);
      const d = new Demultiplexer({ maxFrameBytes: 1000 });
      try {
        for (let n = 0; n < 50; n++) {
          const chunk = new Uint8Array(Math.floor(random() * 30));
          for (let j = 0; j < chunk.length; j++) {
            // Mostly bytes that look like headers, so some frames get through before the fault.
            chunk[j] = random() < 0.6 ? Math.floor(random() * 4) : Math.floor(random() * 256);
          }
          d.push(chunk);
        }
        d.end();
      } catch (err) {
        expect(err).toBeInstanceOf(MultiplexedStreamError);
      }
    }
  });

  test("demultiplex() over an async source, and its end check", async () => {
    const whole = join(frame(1, "a"), frame(2, "b"));
    const frames = await collect(demultiplex(chunks(whole.subarray(0, 3), whole.subarray(3))));
    expect(text(frames)).toEqual([["stdout", "a"], ["stderr", "b"]]);
    await expect(collect(demultiplex(chunks(whole.subarray(0, 12))))).rejects.toBeInstanceOf(
      MultiplexedStreamError,
    );
  });
});

describe("timestamps", () => {
  test("dockerd's nine digits become ISO milliseconds", () => {
    expect(splitTimestamp("2026-12-01T10:00:00.123456789Z message")).toEqual({
      timestamp: "2026-12-01T10:00:00.123Z",
      rest: "message",
    });
  });

  test("fewer digits, none, and zone offsets", () => {
    expect(splitTimestamp("2026-12-01T10:00:00Z x").timestamp).toBe("2026-12-01T10:00:00.000Z");
    expect(splitTimestamp("2026-12-01T10:00:00.5Z x").timestamp).toBe("2026-12-01T10:00:00.500Z");
    expect(splitTimestamp("2026-12-01T10:00:00.123+02:00 x").timestamp).toBe("2026-12-01T08:00:00.123Z");
    expect(splitTimestamp("2026-12-01T23:30:00-01:30 x").timestamp).toBe("2026-12-02T01:00:00.000Z");
    expect(splitTimestamp("0001-01-01T00:00:00Z zero time").timestamp).toBe("0001-01-01T00:00:00.000Z");
    expect(splitTimestamp("0099-03-04T00:00:00Z x").timestamp).toBe("0099-03-04T00:00:00.000Z");
  });

  test("a timestamp-shaped token that is no real date is kept as given", () => {
    expect(splitTimestamp("2026-02-31T10:00:00.1Z x")).toEqual({
      timestamp: "2026-02-31T10:00:00.1Z",
      rest: "x",
    });
    expect(splitTimestamp("2026-13-01T10:00:00Z x").timestamp).toBe("2026-13-01T10:00:00Z");
    expect(splitTimestamp("2026-12-01T25:00:00Z x").timestamp).toBe("2026-12-01T25:00:00Z");
  });

  test("no timestamp: the whole text", () => {
    for (const line of ["hello", "2026-12-01 10:00:00 x", "2026-12-01T10:00:00Zx", ""]) {
      expect(splitTimestamp(line)).toEqual({ timestamp: undefined, rest: line });
    }
  });
});

describe("LineSplitter and logLines", () => {
  const f = (stream: StreamType, s: string): Frame => ({ stream, data: enc.encode(s) });

  test("lines per stream; a partial line waits for its stream's next frame", () => {
    const s = new LineSplitter();
    expect(s.push(f("stdout", "a1\na"))).toEqual([{ streamType: "stdout", line: "a1" }]);
    expect(s.push(f("stderr", "b"))).toEqual([]);
    expect(s.push(f("stdout", "2\n\n"))).toEqual([
      { streamType: "stdout", line: "a2" },
      { streamType: "stdout", line: "" },
    ]);
    expect(s.push(f("stderr", "1\r\nb2"))).toEqual([{ streamType: "stderr", line: "b1" }]);
    expect(s.end()).toEqual([{ streamType: "stderr", line: "b2" }]);
    expect(s.end()).toEqual([]);
  });

  test("UTF-8 split across frames decodes whole", () => {
    const bytes = enc.encode("caf\u00e9 \u{1f600}\n");
    const s = new LineSplitter();
    const out = [];
    for (const byte of bytes) out.push(...s.push({ stream: "stdout", data: Uint8Array.of(byte) }));
    expect(out).toEqual([{ streamType: "stdout", line: "caf\u00e9 \u{1f600}" }]);
  });

  test("timestamps are split off each line", () => {
    const s = new LineSplitter({ timestamps: true });
    expect(s.push(f("stdout", "2026-12-01T10:00:00.123456789Z hello world\n"))).toEqual([
      { streamType: "stdout", line: "hello world", timestamp: "2026-12-01T10:00:00.123Z" },
    ]);
    expect(s.push(f("stderr", "2026-12-01T10:00:01.000000000Z \n"))).toEqual([
      { streamType: "stderr", line: "", timestamp: "2026-12-01T10:00:01.000Z" },
    ]);
    expect(s.push(f("stdout", "no stamp\n"))).toEqual([{ streamType: "stdout", line: "no stamp" }]);
  });

  test("dockerd's partial messages of a long line: one line with the first timestamp", () => {
    const s = new LineSplitter({ timestamps: true, framesAreMessages: true });
    expect(s.push(f("stdout", "2026-12-01T10:00:00.100000000Z aaaa"))).toEqual([]);
    expect(s.push(f("stderr", "2026-12-01T10:00:00.150000000Z other\n"))).toEqual([
      { streamType: "stderr", line: "other", timestamp: "2026-12-01T10:00:00.150Z" },
    ]);
    expect(s.push(f("stdout", "2026-12-01T10:00:00.200000000Z bbbb\n"))).toEqual([
      { streamType: "stdout", line: "aaaabbbb", timestamp: "2026-12-01T10:00:00.100Z" },
    ]);
    // Raw (TTY) chunks are cut anywhere: nothing is stripped from a continuation.
    const raw = new LineSplitter({ timestamps: true });
    raw.push(f("stdout", "2026-12-01T10:00:00.100000000Z aa"));
    expect(raw.push(f("stdout", "2026-12-01T10:00:00.200000000Z b\n"))[0]!.line).toBe(
      "aa2026-12-01T10:00:00.200000000Z b",
    );
  });

  test("a line over the limit comes out in pieces, cut on a character boundary, one timestamp", () => {
    const s = new LineSplitter({ maxLineBytes: 64, timestamps: true });
    const long = "x".repeat(63) + "\u00e9" + "y".repeat(100);
    const out = [
      ...s.push(f("stdout", "2026-12-01T10:00:00.123456789Z ")),
      ...s.push(f("stdout", long.slice(0, 70))),
      ...s.push(f("stdout", long.slice(70) + "\n")),
    ];
    expect(out.length).toBe(3);
    expect(out[0]!.line).toBe("x".repeat(63));
    expect(out.map((l) => l.line).join("")).toBe(long);
    expect(out.every((l) => l.timestamp === "2026-12-01T10:00:00.123Z")).toBe(true);
    expect(out.every((l) => !l.line.includes("\ufffd"))).toBe(true);
    expect(() => new LineSplitter({ maxLineBytes: 63 })).toThrow(AgentError);
  });

  test("without newlines the buffered line stays under the limit", () => {
    const s = new LineSplitter({ maxLineBytes: 100 });
    let total = "";
    for (let i = 0; i < 50; i++) total += s.push(f("stderr", "abcdefghij")).map((l) => l.line).join("");
    total += s.end().map((l) => l.line).join("");
    expect(total).toBe("abcdefghij".repeat(50));
  });

  test("fuzz: lines of random frames reassemble per stream", () => {
    for (let seed = 1; seed <= 200; seed++) {
      const random = rng(seed * 31);
      const words = ["a", "bc", "\u00e9", "\u{1f600}", " ", "\n", "\n", "xyz"];
      const written: Record<StreamType, string> = { stdin: "", stdout: "", stderr: "" };
      const s = new LineSplitter();
      const lines: Record<StreamType, string[]> = { stdin: [], stdout: [], stderr: [] };
      for (let i = 0; i < 40; i++) {
        const stream = random() < 0.5 ? "stdout" : "stderr";
        let piece = "";
        for (let n = Math.floor(random() * 6); n > 0; n--) {
          piece += words[Math.floor(random() * words.length)];
        }
        if (piece === "") continue;
        written[stream] += piece;
        for (const l of s.push(f(stream, piece))) lines[l.streamType].push(l.line);
      }
      for (const l of s.end()) lines[l.streamType].push(l.line);
      for (const stream of ["stdout", "stderr"] as const) {
        const expected = written[stream].split("\n");
        if (expected[expected.length - 1] === "") expected.pop();
        expect(lines[stream]).toEqual(expected);
      }
    }
  });

  test("logLines over frames, rawLogLines over a TTY's raw chunks (all stdout)", async () => {
    async function* frames(): AsyncGenerator<Frame> {
      yield f("stdout", "one\ntw");
      yield f("stderr", "err\n");
      yield f("stdout", "o");
    }
    expect(await collect(logLines(frames()))).toEqual([
      { streamType: "stdout", line: "one" },
      { streamType: "stderr", line: "err" },
      { streamType: "stdout", line: "two" },
    ]);
    const raw = rawLogLines(
      chunks(enc.encode("2026-12-01T10:00:00.5Z $ ls\r\n2026-12-01T10:0"), enc.encode("0:01Z x")),
      {
        timestamps: true,
      },
    );
    expect(await collect(raw)).toEqual([
      { streamType: "stdout", line: "$ ls", timestamp: "2026-12-01T10:00:00.500Z" },
      { streamType: "stdout", line: "x", timestamp: "2026-12-01T10:00:01.000Z" },
    ]);
  });
});
