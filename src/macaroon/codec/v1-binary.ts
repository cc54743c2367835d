/**
 * V1 binary (libmacaroons' original format): a sequence of packets `LLLL key value\n`, where LLLL is four
 * lowercase hex digits giving the whole packet length. Order: [location] identifier (cid [vid] [cl])* signature,
 * with the signature as 32 raw bytes. Decoding is strict about that order and refuses anything after it.
 */
import { utf8, utf8Text } from "../bytes.ts";
import { formatError, limitError } from "../failures.ts";
import type { MacaroonLimits } from "../limits.ts";
import type { Caveat, Macaroon } from "../types.ts";

const HEADER_BYTES = 4;
const MAX_PACKET = 0xffff;
const SPACE = 0x20;
const NEWLINE = 0x0a;
const KEYS = ["location", "identifier", "cid", "vid", "cl", "signature"];
const KEY_BYTES = KEYS.map((k) => Array.from(k, (ch) => ch.charCodeAt(0)));
const LOCATION = 0;
const IDENTIFIER = 1;
const CID = 2;
const VID = 3;
const CL = 4;
const SIGNATURE = 5;
const NONE = -1;
const MAX_KEY = 10;

function hexDigit(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x61 && b <= 0x66) return b - 0x61 + 10;
  return -1;
}

/** Index in KEYS of the key spelled by bytes[start, end), or NONE. */
function keyIndex(bytes: Uint8Array, start: number, end: number): number {
  outer: for (let k = 0; k < KEY_BYTES.length; k++) {
    const key = KEY_BYTES[k]!;
    if (key.length !== end - start) continue;
    for (let i = 0; i < key.length; i++) if (bytes[start + i] !== key[i]) continue outer;
    return k;
  }
  return NONE;
}

/**
 * The packets, as parallel lists of key index and value bounds in `bytes` (no object per packet). Every
 * packet is read and checked before the order of keys is judged.
 */
interface Packets {
  readonly keys: number[];
  readonly starts: number[];
  readonly ends: number[];
}

function readPackets(bytes: Uint8Array, limits: MacaroonLimits): Packets {
  const packets: Packets = { keys: [], starts: [], ends: [] };
  let pos = 0;
  while (pos < bytes.length) {
    if (pos + HEADER_BYTES > bytes.length) throw formatError("v1: truncated packet header");
    let length = 0;
    for (let i = 0; i < HEADER_BYTES; i++) {
      const d = hexDigit(bytes[pos + i]!);
      if (d < 0) throw formatError("v1: bad packet length");
      length = length * 16 + d;
    }
    if (length < HEADER_BYTES + 2 || pos + length > bytes.length) throw formatError("v1: bad packet length");
    const bodyStart = pos + HEADER_BYTES;
    const bodyEnd = pos + length;
    if (bytes[bodyEnd - 1] !== NEWLINE) throw formatError("v1: packet does not end in a newline");
    let space = bodyStart;
    while (space < bodyEnd && bytes[space] !== SPACE) space++;
    if (space === bodyEnd || space === bodyStart || space === bodyEnd - 1) {
      throw formatError("v1: packet without a key");
    }
    const key = space - bodyStart <= MAX_KEY ? keyIndex(bytes, bodyStart, space) : NONE;
    if (key === NONE) throw formatError("v1: unknown packet key");
    if (bodyEnd - 1 - (space + 1) > limits.maxFieldBytes) throw limitError("v1: field too long");
    packets.keys.push(key);
    packets.starts.push(space + 1);
    packets.ends.push(bodyEnd - 1);
    pos = bodyEnd;
  }
  return packets;
}

function text(value: Uint8Array, what: string): string {
  const s = utf8Text(value);
  if (s === undefined) throw formatError(`v1: ${what} is not UTF-8`);
  return s;
}

export function decodeV1Binary(bytes: Uint8Array, limits: MacaroonLimits): Macaroon {
  const { keys, starts, ends } = readPackets(bytes, limits);
  let i = 0;
  /** The index of the next packet when it has `key` (and moves past it), else NONE. */
  const next = (key: number): number => (keys[i] === key ? i++ : NONE);
  // Fields are views into `bytes`, not copies: the caller hands the bytes over (a fresh base64 decode).
  const field = (p: number): Uint8Array => bytes.subarray(starts[p], ends[p]);
  const loc = next(LOCATION);
  const identifier = next(IDENTIFIER);
  if (identifier === NONE) throw formatError("v1: missing identifier");
  const caveats: Caveat[] = [];
  for (let cid = next(CID); cid !== NONE; cid = next(CID)) {
    if (caveats.length >= limits.maxCaveats) throw limitError("v1: too many caveats");
    const vid = next(VID);
    const cl = next(CL);
    const location = cl === NONE ? "" : text(bytes.subarray(starts[cl], ends[cl]), "caveat location");
    if (vid === NONE) {
      if (location !== "") throw formatError("v1: location on a first-party caveat");
      caveats.push({ identifier: field(cid) });
    } else if (location === "") {
      caveats.push({ identifier: field(cid), verificationId: field(vid) });
    } else {
      caveats.push({ identifier: field(cid), location, verificationId: field(vid) });
    }
  }
  const signature = next(SIGNATURE);
  if (signature === NONE) throw formatError("v1: missing signature or unexpected packet");
  if (ends[signature]! - starts[signature]! !== 32) throw formatError("v1: signature is not 32 bytes");
  if (i !== keys.length) throw formatError("v1: packets after the signature");
  const location = loc === NONE ? "" : text(bytes.subarray(starts[loc], ends[loc]), "location");
  const m: Macaroon = { identifier: field(identifier), caveats, signature: field(signature) };
  return location === "" ? m : { ...m, location };
}

const encoder = new TextEncoder();

function packet(key: string, value: Uint8Array): Uint8Array {
  const length = HEADER_BYTES + key.length + 1 + value.length + 1;
  if (length > MAX_PACKET) throw limitError("v1: field too long for a v1 packet");
  const out = new Uint8Array(length);
  out.set(encoder.encode(length.toString(16).padStart(4, "0") + key + " "), 0);
  out.set(value, HEADER_BYTES + key.length + 1);
  out[length - 1] = NEWLINE;
  return out;
}

export function encodeV1Binary(m: Macaroon): Uint8Array {
  const packets: Uint8Array[] = [];
  // libmacaroons and pymacaroons always write a location packet, so peers can parse ours.
  packets.push(packet("location", utf8(m.location ?? "")));
  packets.push(packet("identifier", m.identifier));
  for (const c of m.caveats) {
    packets.push(packet("cid", c.identifier));
    if (c.verificationId) {
      packets.push(packet("vid", c.verificationId));
      if (c.location) packets.push(packet("cl", utf8(c.location)));
    }
  }
  packets.push(packet("signature", m.signature));
  const out = new Uint8Array(packets.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of packets) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}
