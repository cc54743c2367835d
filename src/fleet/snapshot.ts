/**
 * The fleet's state as this agent last saw it in etcd: each whole piece's raw value and mod revision, the
 * revocations and the node registry, and the revision it is complete up to. Built from a list, then kept
 * current by watch events in revision order (fleet/follower.ts). Values are checked when applied, not here.
 */
import type { EtcdEvent, EtcdKeyValue } from "./etcd.ts";
import { classifyKey, type FleetKeys, type WholePiece } from "./keys.ts";

export interface RawValue {
  readonly value: Uint8Array;
  readonly modRevision: number;
}

export interface FleetSnapshot {
  /** Everything up to this revision is in. */
  revision: number;
  readonly pieces: Map<WholePiece, RawValue>;
  readonly revoked: Map<string, RawValue>;
  readonly nodes: Map<string, RawValue>;
}

export function emptySnapshot(): FleetSnapshot {
  return { revision: 0, pieces: new Map(), revoked: new Map(), nodes: new Map() };
}

/** What a batch of events touched, so only those are applied. */
export interface Touched {
  readonly pieces: Set<WholePiece>;
  revoked: boolean;
  nodes: boolean;
  /** Keys under the prefix that hold nothing the agent knows (logged once). */
  readonly unknown: string[];
}

function noneTouched(): Touched {
  return { pieces: new Set(), revoked: false, nodes: false, unknown: [] };
}

function put(
  keys: FleetKeys,
  snapshot: FleetSnapshot,
  kv: EtcdKeyValue,
  deleted: boolean,
  touched: Touched,
): void {
  const kind = classifyKey(keys, kv.key);
  const raw = { value: kv.value, modRevision: kv.modRevision };
  switch (kind.kind) {
    case "piece":
      if (deleted) snapshot.pieces.delete(kind.piece);
      else snapshot.pieces.set(kind.piece, raw);
      touched.pieces.add(kind.piece);
      return;
    case "revoked":
      if (deleted) snapshot.revoked.delete(kind.nonce);
      else snapshot.revoked.set(kind.nonce, raw);
      touched.revoked = true;
      return;
    case "node":
      if (deleted) snapshot.nodes.delete(kind.name);
      else snapshot.nodes.set(kind.name, raw);
      touched.nodes = true;
      return;
    case "unknown":
      touched.unknown.push(kv.key);
  }
}

/** A snapshot from a full list at `revision`; everything counts as touched. */
export function snapshotOf(keys: FleetKeys, kvs: readonly EtcdKeyValue[], revision: number): {
  snapshot: FleetSnapshot;
  touched: Touched;
} {
  const snapshot = emptySnapshot();
  const touched = noneTouched();
  for (const kv of kvs) put(keys, snapshot, kv, false, touched);
  snapshot.revision = revision;
  touched.revoked = true;
  touched.nodes = true;
  return { snapshot, touched };
}

/**
 * Applies watch events (in order); puts at or below the snapshot's revision are already in and skipped. The
 * snapshot's revision moves to the last event's (a response header's revision may be ahead of the events a
 * catching-up watch has sent; only a progress notification vouches for it).
 */
export function applyEvents(keys: FleetKeys, snapshot: FleetSnapshot, events: readonly EtcdEvent[]): Touched {
  const touched = noneTouched();
  for (const event of events) {
    if (event.kv.modRevision <= snapshot.revision && event.type === "put") continue;
    put(keys, snapshot, event.kv, event.type === "delete", touched);
  }
  const last = events.length === 0 ? 0 : Math.max(...events.map((e) => e.kv.modRevision));
  snapshot.revision = Math.max(snapshot.revision, last);
  return touched;
}
