/**
 * Test reference: decodeV1Binary of src/macaroon/codec/v1-binary.ts as written before the speed rewrite
 * (from the git history), for the differential tests in fast-path.test.ts.
 */
import { utf8Text } from "../../../../src/macaroon/bytes.ts";
import { formatError, limitError } from "../../../../src/macaroon/failures.ts";
import type { MacaroonLimits } from "../../../../src/macaroon/limits.ts";
import type { Caveat, Macaroon } from "../../../../src/macaroon/types.ts";

const HEADER_BYTES = 4;
const SPACE = 0x20;
const NEWLINE = 0x0a;
const KEYS = ["location", "identifier", "cid", "vid", "cl", "signature"];
const MAX_KEY = 10;

interface Packet {
  readonly key: string;
  readonly value: Uint8Array;
}

function hexDigit(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x61 && b <= 0x66) return b - 0x61 + 10;
  return -1;
}

function readPackets(bytes: Uint8Array, limits: MacaroonLimits): Packet[] {
  const packets: Packet[] = [];
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
    const body = bytes.subarray(pos + HEADER_BYTES, pos + length);
    if (body[body.length - 1] !== NEWLINE) throw formatError("v1: packet does not end in a newline");
    const space = body.indexOf(SPACE);
    if (space <= 0 || space === body.length - 1) throw formatError("v1: packet without a key");
    const key = space <= MAX_KEY ? String.fromCharCode(...body.subarray(0, space)) : "";
    if (!KEYS.includes(key)) throw formatError("v1: unknown packet key");
    const value = body.subarray(space + 1, body.length - 1);
    if (value.length > limits.maxFieldBytes) throw limitError("v1: field too long");
    packets.push({ key, value });
    pos += length;
  }
  return packets;
}

function text(value: Uint8Array, what: string): string {
  const s = utf8Text(value);
  if (s === undefined) throw formatError(`v1: ${what} is not UTF-8`);
  return s;
}

export function decodeV1Binary(bytes: Uint8Array, limits: MacaroonLimits): Macaroon {
  const packets = readPackets(bytes, limits);
  let i = 0;
  const next = (key: string): Uint8Array | undefined => {
    const p = packets[i];
    if (p === undefined || p.key !== key) return undefined;
    i++;
    return p.value;
  };
  const loc = next("location");
  const identifier = next("identifier");
  if (identifier === undefined) throw formatError("v1: missing identifier");
  const caveats: Caveat[] = [];
  for (let cid = next("cid"); cid !== undefined; cid = next("cid")) {
    if (caveats.length >= limits.maxCaveats) throw limitError("v1: too many caveats");
    const vid = next("vid");
    const cl = next("cl");
    const location = cl === undefined ? "" : text(cl, "caveat location");
    if (vid === undefined) {
      if (location !== "") throw formatError("v1: location on a first-party caveat");
      caveats.push({ identifier: cid.slice() });
    } else if (location === "") {
      caveats.push({ identifier: cid.slice(), verificationId: vid.slice() });
    } else {
      caveats.push({ identifier: cid.slice(), location, verificationId: vid.slice() });
    }
  }
  const signature = next("signature");
  if (signature === undefined) throw formatError("v1: missing signature or unexpected packet");
  if (signature.length !== 32) throw formatError("v1: signature is not 32 bytes");
  if (i !== packets.length) throw formatError("v1: packets after the signature");
  const location = loc === undefined ? "" : text(loc, "location");
  const m: Macaroon = { identifier: identifier.slice(), caveats, signature: signature.slice() };
  return location === "" ? m : { ...m, location };
}
