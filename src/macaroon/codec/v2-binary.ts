/**
 * V2 binary (libmacaroons doc/format.txt):
 *   0x02 [LOCATION] IDENTIFIER EOS ( [LOCATION] IDENTIFIER [VID] EOS )* EOS SIGNATURE
 * field = type:uvarint length:uvarint data; LOCATION=1 IDENTIFIER=2 VID=4 SIGNATURE=6; EOS = 0x00.
 * Decoding is strict: known field types in increasing order, minimal varints, nothing after the signature.
 */
import { utf8, utf8Text } from "../bytes.ts";
import { formatError, limitError } from "../failures.ts";
import type { MacaroonLimits } from "../limits.ts";
import type { Caveat, Macaroon } from "../types.ts";

const VERSION = 2;
const EOS = 0;
const LOCATION = 1;
const IDENTIFIER = 2;
const VID = 4;
const SIGNATURE = 6;
const SIGNATURE_BYTES = 32;

/**
 * Reads fields without allocating: `field()` returns the type and leaves the data's bounds in `start`/`end`.
 * Every check runs in the order a field is read, so each malformed token fails with one fixed detail.
 */
class Cursor {
  pos = 1; // after the version byte
  start = 0;
  end = 0;
  constructor(readonly bytes: Uint8Array, readonly limits: MacaroonLimits) {}

  uvarint(): number {
    let value = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      if (this.pos >= this.bytes.length) throw formatError("v2: truncated varint");
      const b = this.bytes[this.pos++]!;
      value |= (b & 0x7f) << shift;
      if (b < 0x80) {
        if (b === 0 && shift > 0) throw formatError("v2: non-minimal varint");
        return value;
      }
    }
    throw formatError("v2: varint too large");
  }

  /** Reads one field: its type (EOS at the end of a section), its data between `start` and `end`. */
  field(): number {
    const type = this.uvarint();
    if (type === EOS) return EOS;
    const length = this.uvarint();
    if (this.pos + length > this.bytes.length) throw formatError("v2: field extends past the end");
    if (length > this.limits.maxFieldBytes) throw limitError("v2: field too long");
    this.start = this.pos;
    this.pos += length;
    this.end = this.pos;
    return type;
  }

  /** The next field of a section, which must be a known type above `last` (or EOS). */
  sectionField(last: number, caveat: boolean): number {
    const type = this.field();
    if (type === EOS) return EOS;
    if (type !== LOCATION && type !== IDENTIFIER && !(caveat && type === VID)) {
      throw formatError("v2: unexpected field type");
    }
    if (type <= last) throw formatError("v2: fields out of order");
    return type;
  }
}

function text(data: Uint8Array): string {
  const s = utf8Text(data);
  if (s === undefined) throw formatError("v2: location is not UTF-8");
  return s;
}

/** Decodes V2 binary; the fields are views into `bytes`, which the caller hands over (a fresh base64 decode). */
export function decodeV2Binary(bytes: Uint8Array, limits: MacaroonLimits): Macaroon {
  if (bytes[0] !== VERSION) throw formatError("v2: bad version byte");
  const c = new Cursor(bytes, limits);
  // Header section: [LOCATION] IDENTIFIER EOS, each at most once (types strictly increase).
  let idStart = -1;
  let idEnd = -1;
  let locStart = -1;
  let locEnd = -1;
  for (let type = c.sectionField(EOS, false); type !== EOS; type = c.sectionField(type, false)) {
    if (type === IDENTIFIER) {
      idStart = c.start;
      idEnd = c.end;
    } else {
      locStart = c.start;
      locEnd = c.end;
    }
  }
  if (idStart < 0) throw formatError("v2: missing identifier");
  const caveats: Caveat[] = [];
  for (;;) {
    // Caveat section: [LOCATION] [IDENTIFIER] [VID] EOS, read whole before it is judged; empty ends the list.
    let cidStart = -1;
    let cidEnd = -1;
    let clStart = -1;
    let clEnd = -1;
    let vidStart = -1;
    let vidEnd = -1;
    let count = 0;
    for (let type = c.sectionField(EOS, true); type !== EOS; type = c.sectionField(type, true)) {
      count++;
      if (type === IDENTIFIER) {
        cidStart = c.start;
        cidEnd = c.end;
      } else if (type === LOCATION) {
        clStart = c.start;
        clEnd = c.end;
      } else {
        vidStart = c.start;
        vidEnd = c.end;
      }
    }
    if (count === 0) break;
    if (caveats.length >= limits.maxCaveats) throw limitError("v2: too many caveats");
    const location = clStart < 0 ? "" : text(bytes.subarray(clStart, clEnd));
    if (cidStart < 0) throw formatError("v2: caveat without identifier");
    const identifier = bytes.subarray(cidStart, cidEnd);
    if (vidStart < 0) {
      if (location !== "") throw formatError("v2: location on a first-party caveat");
      caveats.push({ identifier });
    } else {
      const verificationId = bytes.subarray(vidStart, vidEnd);
      caveats.push(
        location === "" ? { identifier, verificationId } : { identifier, location, verificationId },
      );
    }
  }
  if (c.field() !== SIGNATURE) throw formatError("v2: missing signature");
  if (c.end - c.start !== SIGNATURE_BYTES) throw formatError("v2: signature is not 32 bytes");
  if (c.pos !== bytes.length) throw formatError("v2: trailing bytes");
  const location = locStart < 0 ? "" : text(bytes.subarray(locStart, locEnd));
  const m: Macaroon = {
    identifier: bytes.subarray(idStart, idEnd),
    caveats,
    signature: bytes.subarray(c.start, c.end),
  };
  return location === "" ? m : { ...m, location };
}

// ---- encoding ----

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n >>>= 7;
    size++;
  }
  return size;
}

function fieldSize(data: Uint8Array): number {
  return 1 + varintSize(data.length) + data.length;
}

class Writer {
  pos = 0;
  constructor(readonly out: Uint8Array) {}
  byte(b: number): void {
    this.out[this.pos++] = b;
  }
  varint(n: number): void {
    while (n >= 0x80) {
      this.byte((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    this.byte(n);
  }
  field(type: number, data: Uint8Array): void {
    this.byte(type);
    this.varint(data.length);
    this.out.set(data, this.pos);
    this.pos += data.length;
  }
}

export function encodeV2Binary(m: Macaroon): Uint8Array {
  const location = m.location ? utf8(m.location) : undefined;
  // Only third-party caveats carry a location (our decoder refuses one on a first-party caveat).
  const caveatLocations = m.caveats.map((
    c,
  ) => (c.location && c.verificationId ? utf8(c.location) : undefined));
  let size = 1 + (location ? fieldSize(location) : 0) + fieldSize(m.identifier) + 1;
  m.caveats.forEach((c, i) => {
    const cl = caveatLocations[i];
    size += (cl ? fieldSize(cl) : 0) + fieldSize(c.identifier) +
      (c.verificationId ? fieldSize(c.verificationId) : 0) + 1;
  });
  size += 1 + fieldSize(m.signature);
  const w = new Writer(new Uint8Array(size));
  w.byte(VERSION);
  if (location) w.field(LOCATION, location);
  w.field(IDENTIFIER, m.identifier);
  w.byte(EOS);
  m.caveats.forEach((c, i) => {
    const cl = caveatLocations[i];
    if (cl) w.field(LOCATION, cl);
    w.field(IDENTIFIER, c.identifier);
    if (c.verificationId) w.field(VID, c.verificationId);
    w.byte(EOS);
  });
  w.byte(EOS);
  w.field(SIGNATURE, m.signature);
  return w.out;
}
