/**
 * Test reference: decodeV2Binary of src/macaroon/codec/v2-binary.ts as written before the speed rewrite
 * (from the git history), for the differential tests in fast-path.test.ts.
 */
import { utf8Text } from "../../../../src/macaroon/bytes.ts";
import { formatError, limitError } from "../../../../src/macaroon/failures.ts";
import type { MacaroonLimits } from "../../../../src/macaroon/limits.ts";
import type { Caveat, Macaroon } from "../../../../src/macaroon/types.ts";

const VERSION = 2;
const EOS = 0;
const LOCATION = 1;
const IDENTIFIER = 2;
const VID = 4;
const SIGNATURE = 6;
const SIGNATURE_BYTES = 32;

interface Field {
  readonly type: number;
  readonly data: Uint8Array;
}

class Cursor {
  pos = 1; // after the version byte
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

  /** Reads one field; `undefined` for EOS. */
  field(): Field | undefined {
    const type = this.uvarint();
    if (type === EOS) return undefined;
    const length = this.uvarint();
    if (this.pos + length > this.bytes.length) throw formatError("v2: field extends past the end");
    if (length > this.limits.maxFieldBytes) throw limitError("v2: field too long");
    const data = this.bytes.subarray(this.pos, this.pos + length);
    this.pos += length;
    return { type, data };
  }

  /** Reads fields up to EOS, requiring known types in strictly increasing order. */
  section(allowed: readonly number[]): Field[] {
    const fields: Field[] = [];
    let last = EOS;
    for (;;) {
      const f = this.field();
      if (f === undefined) return fields;
      if (!allowed.includes(f.type)) throw formatError("v2: unexpected field type");
      if (f.type <= last) throw formatError("v2: fields out of order");
      last = f.type;
      fields.push(f);
    }
  }
}

function text(data: Uint8Array): string {
  const s = utf8Text(data);
  if (s === undefined) throw formatError("v2: location is not UTF-8");
  return s;
}

const HEADER_FIELDS = [LOCATION, IDENTIFIER];
const CAVEAT_FIELDS = [LOCATION, IDENTIFIER, VID];

export function decodeV2Binary(bytes: Uint8Array, limits: MacaroonLimits): Macaroon {
  if (bytes[0] !== VERSION) throw formatError("v2: bad version byte");
  const c = new Cursor(bytes, limits);
  const header = c.section(HEADER_FIELDS);
  const id = header.find((f) => f.type === IDENTIFIER);
  if (id === undefined) throw formatError("v2: missing identifier");
  const loc = header.find((f) => f.type === LOCATION);
  const caveats: Caveat[] = [];
  for (;;) {
    const fields = c.section(CAVEAT_FIELDS);
    if (fields.length === 0) break;
    if (caveats.length >= limits.maxCaveats) throw limitError("v2: too many caveats");
    caveats.push(caveatFrom(fields));
  }
  const sig = c.field();
  if (sig === undefined || sig.type !== SIGNATURE) throw formatError("v2: missing signature");
  if (sig.data.length !== SIGNATURE_BYTES) throw formatError("v2: signature is not 32 bytes");
  if (c.pos !== bytes.length) throw formatError("v2: trailing bytes");
  const location = loc === undefined ? "" : text(loc.data);
  const m: Macaroon = { identifier: id.data.slice(), caveats, signature: sig.data.slice() };
  return location === "" ? m : { ...m, location };
}

function caveatFrom(fields: Field[]): Caveat {
  let identifier: Uint8Array | undefined;
  let location = "";
  let verificationId: Uint8Array | undefined;
  for (const f of fields) {
    if (f.type === IDENTIFIER) identifier = f.data.slice();
    else if (f.type === LOCATION) location = text(f.data);
    else verificationId = f.data.slice();
  }
  if (identifier === undefined) throw formatError("v2: caveat without identifier");
  if (verificationId === undefined) {
    if (location !== "") throw formatError("v2: location on a first-party caveat");
    return { identifier };
  }
  return location === "" ? { identifier, verificationId } : { identifier, location, verificationId };
}
