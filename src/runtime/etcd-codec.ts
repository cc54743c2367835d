/**
 * etcd's wire shapes as the fleet's: UTF-8 keys, prefixes as [key, range_end), int64 decimal strings as
 * numbers. Revisions stay far below 2^53, so a JS number holds them exactly.
 */
import type { EtcdEvent, EtcdKeyValue } from "../fleet/etcd.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Bytes for protobuf (protobufjs writes Buffers fastest; Buffer is a Uint8Array on Bun, Deno and Node). */
export function bytes(value: string | Uint8Array): Buffer {
  const raw = typeof value === "string" ? encoder.encode(value) : value;
  return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
}

/** The range_end that makes [prefix, range_end) every key starting with prefix (etcd's GetPrefixRangeEnd). */
export function prefixEnd(prefix: Uint8Array): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] ?? 0) < 0xff) {
      end[i] = (end[i] ?? 0) + 1;
      return end.subarray(0, i + 1);
    }
  }
  // Only 0xff bytes (or empty): every key from prefix on; "\0" as range_end means "to the end".
  return Buffer.from([0]);
}

/** [key, range_end] for every key under `prefix` ("" = every key: etcd's "\0", "\0"). */
export function prefixRange(prefix: string): { key: Buffer; range_end: Buffer } {
  const key = prefix === "" ? Buffer.from([0]) : bytes(prefix);
  return { key, range_end: prefix === "" ? Buffer.from([0]) : prefixEnd(key) };
}

export function revision(value: unknown): number {
  const n = typeof value === "string" ? Number(value) : typeof value === "number" ? value : 0;
  return Number.isSafeInteger(n) ? n : 0;
}

export interface WireKeyValue {
  readonly key?: Uint8Array;
  readonly value?: Uint8Array;
  readonly mod_revision?: string;
  readonly create_revision?: string;
}

export interface WireEvent {
  readonly type?: string;
  readonly kv?: WireKeyValue;
}

export function keyValue(kv: WireKeyValue): EtcdKeyValue {
  return {
    key: decoder.decode(kv.key ?? new Uint8Array()),
    // A copy: the decoder's Buffers are views of the whole message, which they would keep alive.
    value: new Uint8Array(kv.value ?? new Uint8Array()),
    modRevision: revision(kv.mod_revision),
    createRevision: revision(kv.create_revision),
  };
}

export function event(e: WireEvent): EtcdEvent {
  return { type: e.type === "DELETE" ? "delete" : "put", kv: keyValue(e.kv ?? {}) };
}
