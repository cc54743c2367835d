/**
 * The websocket codec (src/ws/): RFC 6455's own examples (tests/vectors/ws/rfc6455-examples.json, sources
 * named there), fragmentation, every protocol error with its close code, masking, close payloads, UTF-8 split
 * across frames, the opening handshake's checks, and fuzzing: random and mutated bytes never throw, they
 * only ever give typed errors.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  acceptKey,
  checkUpgradeRequest,
  CloseCode,
  encodeClosePayload,
  encodeFrame,
  type Frame,
  FrameParser,
  hasToken,
  isSendableCloseCode,
  isWebSocketKey,
  MessageAssembler,
  MessageReader,
  newWebSocketKey,
  Opcode,
  parseClosePayload,
  unmask,
  upgradeResponseProblem,
  type WebSocketEvent,
  WebSocketProtocolError,
} from "../../../src/ws/index.ts";
import { seededRandom } from "../../helpers/fixtures.ts";

interface FrameVector {
  readonly name: string;
  readonly from: "client" | "server";
  readonly mask?: string;
  readonly hex?: string[];
  readonly headerHex?: string;
  readonly payloadLength?: number;
  readonly frames: { fin: boolean; opcode: number; text?: string }[];
  readonly message?: { type: "text"; text: string };
}

const VECTORS = JSON.parse(
  readFileSync(join(import.meta.dir, "../../vectors/ws/rfc6455-examples.json"), "utf8"),
) as { source: string; handshake: { key: string; accept: string }[]; frames: FrameVector[] };

const hex = (text: string) => Uint8Array.from(text.match(/../g) ?? [], (h) => parseInt(h, 16));
const utf8 = (text: string) => new TextEncoder().encode(text);
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};
const MASK = hex("0a0b0c0d");

/** A client frame (masked), as a server receives it. */
const c = (opcode: number, payload: Uint8Array | string, fin = true) =>
  encodeFrame(opcode as Opcode, typeof payload === "string" ? utf8(payload) : payload, { fin, mask: MASK });

/** The bytes of vector `v`: its frames, or its header followed by a generated payload. */
function vectorBytes(v: FrameVector): { chunks: Uint8Array[]; payload?: Uint8Array } {
  if (v.hex !== undefined) return { chunks: v.hex.map(hex) };
  const payload = Uint8Array.from({ length: v.payloadLength! }, (_, i) => (i * 7) & 0xff);
  return { chunks: [concat(hex(v.headerHex!), payload)], payload };
}

function parseAll(bytes: Uint8Array, masked: boolean, max = 1 << 20) {
  return new FrameParser({ masked, maxPayloadBytes: max }).feed(bytes);
}

function read(bytes: Uint8Array, options: { masked?: boolean; max?: number } = {}) {
  return new MessageReader({ masked: options.masked ?? true, maxMessageBytes: options.max ?? 1 << 20 }).feed(
    bytes,
  );
}

describe("RFC 6455 section 5.7 examples", () => {
  test("the vector file names its source", () => {
    expect(VECTORS.source).toContain("RFC 6455");
    expect(VECTORS.source).toContain("5.7");
    expect(VECTORS.frames.length).toBe(7);
  });

  for (const v of VECTORS.frames) {
    test(`${v.name}: parsed whole and byte by byte, and encoded back`, () => {
      const { chunks, payload } = vectorBytes(v);
      const all = concat(...chunks);
      const masked = v.from === "client";
      const expectFrames = (frames: readonly Frame[]) => {
        expect(frames.map((f): { fin: boolean; opcode: number } => ({ fin: f.fin, opcode: f.opcode })))
          .toEqual(
            v.frames.map((f) => ({ fin: f.fin, opcode: f.opcode })),
          );
        frames.forEach((f, i) => {
          const text = v.frames[i]!.text;
          expect(f.payload).toEqual(text === undefined ? payload! : utf8(text));
        });
      };
      const whole = parseAll(all, masked);
      expect(whole.error).toBeUndefined();
      expectFrames(whole.frames);

      const parser = new FrameParser({ masked, maxPayloadBytes: 1 << 20 });
      const oneByOne: Frame[] = [];
      for (const byte of all) oneByOne.push(...parser.feed(Uint8Array.of(byte)).frames);
      expectFrames(oneByOne);

      // The encoder writes the same bytes (a server's unmasked, a client's with the vector's mask).
      const mask = v.mask === undefined ? undefined : hex(v.mask);
      const encoded = whole.frames.map((f) =>
        encodeFrame(f.opcode, f.payload, { fin: f.fin, ...(mask === undefined ? {} : { mask }) })
      );
      expect(concat(...encoded)).toEqual(all);

      if (v.message !== undefined) {
        const events = read(all, { masked }).events;
        expect(events).toEqual([v.message]);
      }
    });
  }

  test("section 1.3: the accept key of the sample nonce", () => {
    for (const h of VECTORS.handshake) {
      expect(isWebSocketKey(h.key)).toBe(true);
      expect(acceptKey(h.key)).toBe(h.accept);
    }
  });
});

describe("fragmentation and messages", () => {
  test("a text message in many fragments with a ping between them: the ping comes first", () => {
    const bytes = concat(
      c(Opcode.Text, "one ", false),
      c(Opcode.Continuation, "two ", false),
      c(Opcode.Ping, "p"),
      c(Opcode.Continuation, "three", true),
      c(Opcode.Binary, Uint8Array.of(1, 2), false),
      c(Opcode.Continuation, Uint8Array.of(3), true),
    );
    const result = read(bytes);
    expect(result.error).toBeUndefined();
    expect(result.events).toEqual([
      { type: "ping", payload: utf8("p") },
      { type: "text", text: "one two three" },
      { type: "binary", data: Uint8Array.of(1, 2, 3) },
    ]);
  });

  test("empty messages and empty fragments", () => {
    const result = read(concat(
      c(Opcode.Text, ""),
      c(Opcode.Binary, "", false),
      c(Opcode.Continuation, "", true),
    ));
    expect(result.events).toEqual([{ type: "text", text: "" }, { type: "binary", data: new Uint8Array(0) }]);
  });

  test("UTF-8 characters split across frames reassemble; a byte order mark is kept", () => {
    const euro = utf8("\u20ac"); // e2 82 ac
    const smile = utf8("\u{1f600}"); // f0 9f 98 80
    const bom = utf8("\ufeffx");
    const result = read(concat(
      c(Opcode.Text, euro.subarray(0, 1), false),
      c(Opcode.Continuation, euro.subarray(1), false),
      c(Opcode.Continuation, smile.subarray(0, 1), false),
      c(Opcode.Continuation, smile.subarray(1, 3), false),
      c(Opcode.Continuation, smile.subarray(3), true),
      c(Opcode.Text, bom),
    ));
    expect(result.error).toBeUndefined();
    expect(result.events).toEqual([
      { type: "text", text: "\u20ac\u{1f600}" },
      { type: "text", text: "\ufeffx" },
    ]);
  });

  test("lengths at the encoding boundaries round-trip (7-bit, 16-bit, 64-bit)", () => {
    for (const n of [0, 1, 125, 126, 127, 65535, 65536, 70_000]) {
      const payload = Uint8Array.from({ length: n }, (_, i) => i & 0xff);
      const frame = encodeFrame(Opcode.Binary, payload);
      expect(frame.length).toBe(n + (n < 126 ? 2 : n < 65536 ? 4 : 10));
      const parsed = parseAll(frame, false);
      expect(parsed.frames[0]!.payload).toEqual(payload);
      const masked = parseAll(encodeFrame(Opcode.Binary, payload, { mask: MASK }), true);
      expect(masked.frames[0]!.payload).toEqual(payload);
    }
  });

  test("a length in a longer encoding than needed is accepted", () => {
    expect(parseAll(concat(hex("817e0002"), utf8("hi")), false).frames[0]!.payload).toEqual(utf8("hi"));
    expect(parseAll(concat(hex("817f0000000000000002"), utf8("hi")), false).frames[0]!.payload).toEqual(
      utf8("hi"),
    );
  });

  test("frames split anywhere across feeds give the same events", () => {
    const bytes = concat(
      c(Opcode.Text, "x".repeat(300), false),
      c(Opcode.Ping, "ping"),
      c(Opcode.Continuation, "y".repeat(70_000), true),
      c(Opcode.Close, encodeClosePayload(1000, "bye")),
    );
    const expected = [...read(bytes).events];
    expect(expected.map((e) => e.type)).toEqual(["ping", "text", "close"]);
    const random = seededRandom("ws-split");
    for (let round = 0; round < 20; round++) {
      const reader = new MessageReader({ masked: true, maxMessageBytes: 1 << 20 });
      const events: WebSocketEvent[] = [];
      for (let at = 0; at < bytes.length;) {
        const step = 1 + (random(2)[0]! % (round < 10 ? 7 : 5000));
        const r = reader.feed(bytes.subarray(at, at + step));
        expect(r.error).toBeUndefined();
        events.push(...r.events);
        at += step;
      }
      expect(events).toEqual(expected);
    }
  });

  test("nothing is read after a close frame", () => {
    const result = read(
      concat(c(Opcode.Close, encodeClosePayload(1000, "")), c(Opcode.Text, "late"), hex("ff")),
    );
    expect(result.error).toBeUndefined();
    expect(result.events).toEqual([{ type: "close", code: 1000, reason: "" }]);
  });
});

describe("protocol errors and their close codes", () => {
  const cases: [string, Uint8Array, number, { masked?: boolean; max?: number }?][] = [
    ["RSV1 set (no extension negotiated)", hex("c1800a0b0c0d"), 1002],
    ["RSV2 set", hex("a1800a0b0c0d"), 1002],
    ["RSV3 set", hex("91800a0b0c0d"), 1002],
    ...[3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf].map((op): [string, Uint8Array, number] => [
      `unknown opcode ${op}`,
      Uint8Array.of(0x80 | op, 0x80, 1, 2, 3, 4),
      1002,
    ]),
    ["an unmasked frame from a client", encodeFrame(Opcode.Text, utf8("hi")), 1002],
    ["a masked frame from a server", c(Opcode.Text, "hi"), 1002, { masked: false }],
    ["a fragmented ping", hex("09810a0b0c0d7a"), 1002],
    ["a fragmented close", hex("08800a0b0c0d"), 1002],
    ["a ping of 126 bytes (16-bit length)", hex("897e007e0a0b0c0d"), 1002],
    ["a pong with a 64-bit length", hex("8a7f00000000000000050a0b0c0d"), 1002],
    ["a 64-bit length with its top bit set", hex("82ff80000000000000000a0b0c0d"), 1002],
    ["a continuation with nothing to continue", c(Opcode.Continuation, "x"), 1002],
    [
      "a text frame inside a fragmented message",
      concat(c(Opcode.Text, "a", false), c(Opcode.Text, "b")),
      1002,
    ],
    [
      "a binary frame inside a fragmented message",
      concat(c(Opcode.Text, "a", false), c(Opcode.Binary, "b")),
      1002,
    ],
    ["a close payload of 1 byte", c(Opcode.Close, Uint8Array.of(3)), 1002],
    ...[0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535].map((code): [string, Uint8Array, number] => [
      `close code ${code}`,
      c(Opcode.Close, Uint8Array.of(code >> 8, code & 0xff)),
      1002,
    ]),
    ["a frame over the message limit (refused from its header)", hex("82fe00650a0b0c0d"), 1009, { max: 100 }],
    ["a 64-bit length over any limit", hex("82ff00000001000000000a0b0c0d"), 1009],
    [
      "fragments together over the message limit",
      concat(c(Opcode.Binary, new Uint8Array(60), false), c(Opcode.Continuation, new Uint8Array(60))),
      1009,
      { max: 100 },
    ],
    ["a text frame that is not UTF-8", c(Opcode.Text, hex("c328")), 1007],
    ["text with a UTF-16 surrogate encoded", c(Opcode.Text, hex("eda080")), 1007],
    ["text with an overlong encoding", c(Opcode.Text, hex("c0af")), 1007],
    ["text ending inside a character", c(Opcode.Text, hex("e282")), 1007],
    [
      "a fragmented text ending inside a character",
      concat(c(Opcode.Text, hex("41e2"), false), c(Opcode.Continuation, hex("82"))),
      1007,
    ],
    ["a close reason that is not UTF-8", c(Opcode.Close, hex("03e8ff")), 1007],
  ];

  for (const [name, bytes, code, options] of cases) {
    test(`${name}: ${code}`, () => {
      const result = read(bytes, options);
      expect(result.error).toBeInstanceOf(WebSocketProtocolError);
      expect(result.error!.closeCode).toBe(code as 1002);
      expect(result.error!.message.length).toBeLessThanOrEqual(123);
      expect(result.error!.message).toMatch(/^[\x20-\x7e]+$/);
    });
  }

  test("invalid text fails at the bad fragment, before the message ends", () => {
    const reader = new MessageReader({ masked: true, maxMessageBytes: 1000 });
    expect(reader.feed(c(Opcode.Text, "ok", false)).error).toBeUndefined();
    expect(reader.feed(c(Opcode.Continuation, hex("ff"), false)).error?.closeCode).toBe(1007);
  });

  test("an oversized frame fails on its header, before the payload arrives", () => {
    const parser = new FrameParser({ masked: false, maxPayloadBytes: 1000 });
    expect(parser.feed(hex("827f0000000100000000")).error?.closeCode).toBe(1009);
  });

  test("frames before the error are given; after it the parser takes nothing more", () => {
    const parser = new FrameParser({ masked: true, maxPayloadBytes: 1000 });
    const first = parser.feed(concat(c(Opcode.Text, "a"), c(Opcode.Ping, ""), hex("f080")));
    expect(first.frames.length).toBe(2);
    expect(first.error?.closeCode).toBe(1002);
    const again = parser.feed(c(Opcode.Text, "b"));
    expect(again.frames).toEqual([]);
    expect(again.error).toBe(first.error!);

    const reader = new MessageReader({ masked: true, maxMessageBytes: 1000 });
    const r = reader.feed(concat(c(Opcode.Text, "a"), hex("f080")));
    expect(r.events).toEqual([{ type: "text", text: "a" }]);
    expect(r.error?.closeCode).toBe(1002);
    expect(reader.feed(c(Opcode.Text, "b")).events).toEqual([]);
  });

  test("the assembler refuses control frames given as data", () => {
    expect(new MessageAssembler(10).push({ fin: true, opcode: Opcode.Ping, payload: new Uint8Array(0) }))
      .toBeInstanceOf(WebSocketProtocolError);
  });
});

describe("masking and encoding", () => {
  test("a client frame is masked with the given bytes; the payload given is not changed", () => {
    const payload = utf8("Hello");
    const frame = encodeFrame(Opcode.Text, payload, { mask: hex("37fa213d") });
    expect(frame).toEqual(hex("818537fa213d7f9f4d5158"));
    expect(payload).toEqual(utf8("Hello"));
    const copy = frame.slice(6);
    unmask(copy, hex("37fa213d"));
    expect(copy).toEqual(payload);
  });

  test("a mask from a RandomBytes, different per frame, still parses", () => {
    const random = seededRandom("ws-mask");
    const frames = [0, 1, 2].map(() => encodeFrame(Opcode.Text, utf8("same"), { mask: random(4) }));
    expect(new Set(frames.map((f) => Array.from(f).join())).size).toBe(3);
    expect(read(concat(...frames)).events).toEqual([0, 1, 2].map(() => ({ type: "text", text: "same" })));
  });

  test("the encoder refuses what it may not send", () => {
    expect(() => encodeFrame(Opcode.Ping, new Uint8Array(126))).toThrow(RangeError);
    expect(() => encodeFrame(Opcode.Close, new Uint8Array(0), { fin: false })).toThrow(RangeError);
    expect(() => encodeFrame(Opcode.Text, new Uint8Array(1), { mask: new Uint8Array(3) })).toThrow(
      RangeError,
    );
    expect(encodeFrame(Opcode.Ping, new Uint8Array(125)).length).toBe(127);
  });
});

describe("close frames", () => {
  test("code and reason, both ways", () => {
    const payload = encodeClosePayload(1001, "going away");
    expect(payload).toEqual(concat(hex("03e9"), utf8("going away")));
    expect(parseClosePayload(payload)).toEqual({ code: 1001, reason: "going away" });
    expect(parseClosePayload(new Uint8Array(0))).toEqual({ code: CloseCode.NoStatus, reason: "" });
  });

  test("a long reason is cut to fit 125 bytes without splitting a character", () => {
    const payload = encodeClosePayload(4000, "\u00e9".repeat(100));
    expect(payload.length).toBe(2 + 122);
    expect(parseClosePayload(payload)).toEqual({ code: 4000, reason: "\u00e9".repeat(61) });
    expect(encodeClosePayload(1000, "a".repeat(200)).length).toBe(125);
  });

  test("which codes may be sent", () => {
    for (const ok of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999]) {
      expect(isSendableCloseCode(ok)).toBe(true);
    }
    for (const bad of [0, 999, 1004, 1005, 1006, 1015, 2000, 2999, 5000, 1000.5]) {
      expect(isSendableCloseCode(bad)).toBe(false);
    }
    expect(() => encodeClosePayload(1006, "")).toThrow(RangeError);
  });
});

describe("the opening handshake", () => {
  const upgrade = (extra: Record<string, string> = {}, method = "GET") =>
    checkUpgradeRequest(
      method,
      new Headers({
        host: "x",
        upgrade: "websocket",
        connection: "keep-alive, Upgrade",
        "sec-websocket-version": "13",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        ...extra,
      }),
    );

  test("a valid upgrade gives its key", () => {
    expect(upgrade()).toEqual({ ok: true, key: "dGhlIHNhbXBsZSBub25jZQ==" });
    expect(upgrade({ upgrade: "WebSocket", connection: "upgrade" }).ok).toBe(true);
  });

  test("anything else is a 400 with a reason (and the version we speak)", () => {
    expect(upgrade({ "sec-websocket-version": "8" })).toEqual({
      ok: false,
      status: 400,
      message: "only websocket version 13 is supported",
      headers: { "sec-websocket-version": "13" },
    });
    for (
      const bad of [
        upgrade({ "sec-websocket-key": "short" }),
        upgrade({ "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ" }),
        upgrade({ "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZSE=" }),
        upgrade({ upgrade: "h2c" }),
        upgrade({ connection: "keep-alive" }),
        upgrade({ "content-length": "3" }),
        upgrade({ "transfer-encoding": "chunked" }),
        upgrade({}, "POST"),
      ]
    ) {
      expect(bad.ok).toBe(false);
      if (!bad.ok) expect(bad.status).toBe(400);
    }
    const twoKeys = new Headers({
      upgrade: "websocket",
      connection: "upgrade",
      "sec-websocket-version": "13",
    });
    twoKeys.append("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
    twoKeys.append("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
    expect(checkUpgradeRequest("GET", twoKeys).ok).toBe(false);
  });

  test("header tokens are matched whole and case-insensitively", () => {
    expect(hasToken("keep-alive, Upgrade", "upgrade")).toBe(true);
    expect(hasToken("upgraded", "upgrade")).toBe(false);
    expect(hasToken(null, "upgrade")).toBe(false);
  });

  test("a fresh key is 16 random bytes; the server's 101 is checked against it", () => {
    const key = newWebSocketKey(seededRandom("ws-key"));
    expect(isWebSocketKey(key)).toBe(true);
    expect(atob(key).length).toBe(16);
    const good = new Headers({
      upgrade: "websocket",
      connection: "Upgrade",
      "sec-websocket-accept": acceptKey(key),
    });
    expect(upgradeResponseProblem(good, key)).toBeUndefined();
    expect(
      upgradeResponseProblem(
        new Headers({ upgrade: "websocket", connection: "Upgrade", "sec-websocket-accept": "x" }),
        key,
      ),
    )
      .toBe("wrong Sec-WebSocket-Accept");
    expect(upgradeResponseProblem(new Headers({ connection: "Upgrade" }), key)).toBeDefined();
    const extension = new Headers(good);
    extension.set("sec-websocket-extensions", "permessage-deflate");
    expect(upgradeResponseProblem(extension, key)).toBeDefined();
  });
});

describe("fuzz: bytes from the network never throw", () => {
  const expectTyped = (error: WebSocketProtocolError | undefined) => {
    if (error === undefined) return;
    expect(error).toBeInstanceOf(WebSocketProtocolError);
    expect([1002, 1007, 1009]).toContain(error.closeCode);
  };

  test("random bytes, in random pieces, to both sides", () => {
    const random = seededRandom("ws-fuzz-random");
    const codes = new Set<number>();
    for (let round = 0; round < 3000; round++) {
      const [a, b] = random(2);
      const bytes = random(a! % 64 === 0 ? 2000 : (a! % 40) + 1);
      const reader = new MessageReader({ masked: (b! & 1) === 1, maxMessageBytes: 1 + (b! % 200) });
      for (let at = 0; at < bytes.length;) {
        const step = 1 + (random(1)[0]! % 17);
        let result;
        try {
          result = reader.feed(bytes.subarray(at, at + step));
        } catch (err) {
          throw new Error(`round ${round} threw ${String(err)}`);
        }
        expectTyped(result.error);
        if (result.error !== undefined) codes.add(result.error.closeCode);
        at += step;
      }
    }
    // Random bytes are nearly always a protocol error at once; the other codes come from the mutations.
    expect(codes.has(1002)).toBe(true);
  });

  test("valid traffic with bytes flipped: only typed errors, and every code is reached", () => {
    const random = seededRandom("ws-fuzz-mutate");
    const valid = concat(
      c(Opcode.Text, "h\u00e9llo w\u00f6rld", false),
      c(Opcode.Ping, "p"),
      c(Opcode.Continuation, "!"),
      c(Opcode.Binary, new Uint8Array(300)),
      c(Opcode.Text, "\u{1f600}"),
      c(Opcode.Close, encodeClosePayload(1000, "bye")),
    );
    const codes = new Set<number>();
    for (let round = 0; round < 4000; round++) {
      const bytes = valid.slice();
      const flips = 1 + (random(1)[0]! % 3);
      for (let i = 0; i < flips; i++) {
        const [p1, p2, bit] = random(3);
        const at = ((p1! << 8) | p2!) % bytes.length;
        bytes[at] = bytes[at]! ^ (1 << (bit! % 8));
      }
      let result;
      try {
        result = read(bytes, { max: 280 + (round % 40) });
      } catch (err) {
        throw new Error(`round ${round} threw ${String(err)}`);
      }
      expectTyped(result.error);
      if (result.error !== undefined) codes.add(result.error.closeCode);
    }
    expect([...codes].sort()).toEqual([1002, 1007, 1009]);
  });
});
