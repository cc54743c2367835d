/**
 * Keeps this host's state directory in step with the fleet's state in etcd: list the prefix, apply it, then
 * watch from the next revision and apply every change in order. Decisions never wait for etcd; they are made
 * from the local files the running agent loads (fleet/materialize.ts writes them).
 *
 * When the watch ends - its member died, hung (no message, not even a progress answer, within the idle
 * timeout) or etcd compacted the revision - the follower watches again from the next revision on the next
 * endpoint (nothing missed, nothing twice), or lists again after a compaction. While no member answers it
 * keeps the last snapshot, says how stale it is, and retries with a capped backoff.
 */
import { isAgentError } from "../errors.ts";
import type { Clock } from "../ports.ts";
import type { EtcdClient, EtcdError, EtcdEvent } from "./etcd.ts";
import type { FleetKeys } from "./keys.ts";
import { applyPiece, applyRevocations, type MaterializeDeps } from "./materialize.ts";
import { type FleetFiles, saveSnapshotRecord, type SnapshotRecord } from "./membership.ts";
import { publishRevocations } from "./publish.ts";
import { applyEvents, emptySnapshot, type FleetSnapshot, snapshotOf, type Touched } from "./snapshot.ts";
import { decodeRevoked, pieceTitle, type RevokedEntry } from "./values.ts";

export interface FollowerDeps {
  readonly client: EtcdClient;
  readonly keys: FleetKeys;
  readonly files: FleetFiles;
  readonly materialize: MaterializeDeps;
  /** This node's name: what its queued revocations are published as. */
  readonly name: string;
  readonly clock: Clock;
  readonly monotonicMs: () => number;
  readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly log: (message: string) => void;
  /** Called after local files changed: the agent reloads at once instead of at its next poll. */
  readonly applied: (revision: number) => void | Promise<void>;
  /** The record left by the last run (its applied versions and last contact), if any. */
  readonly previous?: SnapshotRecord;
  readonly watch?: { readonly progressIntervalMs?: number; readonly idleTimeoutMs?: number };
}

export interface FollowerStatus {
  readonly endpoint: string;
  readonly connected: boolean;
  /** The revision this host's state is complete up to. */
  readonly revision: number;
  /** The last revision that changed shared state (not the node registry). */
  readonly stateRevision: number;
  /** When etcd was last heard from (RFC 3339), or null when never. */
  readonly contactAt: string | null;
  /** Seconds since then, while not connected (0 while connected; null when etcd was never heard from). */
  readonly staleSeconds: number | null;
  /** Pieces whose newest value in etcd was refused, and why. */
  readonly refused: Readonly<Record<string, string>>;
}

const MAX_BACKOFF_MS = 2_000;
const RECORD_EVERY_MS = 30_000;

export class FleetFollower {
  readonly #deps: FollowerDeps;
  #snapshot: FleetSnapshot = emptySnapshot();
  #applied: Record<string, number>;
  #refused: Record<string, string> = {};
  #queue: Promise<void> = Promise.resolve();
  #running = false;
  #stopping = new AbortController();
  #watch: { close(): void } | undefined;
  #loop: Promise<void> | undefined;
  #connected = false;
  #contactWallMs: number | undefined;
  #contactMonoMs: number | undefined;
  #recordedMs = -Infinity;
  #stateRevision = 0;
  #unknownLogged = new Set<string>();
  #firstSync: { resolve: () => void; promise: Promise<void> };

  constructor(deps: FollowerDeps) {
    this.#deps = deps;
    this.#applied = { ...(deps.previous?.applied ?? {}) };
    const contact = deps.previous ? Date.parse(deps.previous.contactAt) : NaN;
    this.#contactWallMs = Number.isNaN(contact) ? undefined : contact;
    this.#snapshot.revision = deps.previous?.revision ?? 0;
    let resolve = () => {};
    const promise = new Promise<void>((r) => (resolve = r));
    this.#firstSync = { resolve, promise };
  }

  /** Starts following; resolves at once (the first sync runs in the background: see firstSync). */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  /** Resolves after the first complete list has been applied (or never, while etcd is away). */
  get firstSync(): Promise<void> {
    return this.#firstSync.promise;
  }

  /**
   * Lists the whole prefix and applies it (the first sync of `fleet join`, and every re-list); returns the
   * revision. Throws the etcd error when no member answers.
   */
  async syncOnce(): Promise<number> {
    const { kvs, revision } = await this.#deps.client.list(this.#deps.keys.prefix);
    this.#contact();
    const { snapshot, touched } = snapshotOf(this.#deps.keys, kvs, revision);
    this.#snapshot = snapshot;
    await this.#enqueue(() => this.#apply(touched, true));
    this.#firstSync.resolve();
    return revision;
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#stopping.abort();
    this.#watch?.close();
    await this.#loop;
    await this.#queue;
    await this.#record(true).catch(() => undefined);
  }

  status(): FollowerStatus {
    const now = this.#deps.clock().getTime();
    const connected = this.#isConnected();
    return {
      endpoint: this.#deps.client.endpoint,
      connected,
      revision: this.#snapshot.revision,
      stateRevision: this.#stateRevision,
      contactAt: this.#contactWallMs === undefined ? null : new Date(this.#contactWallMs).toISOString(),
      staleSeconds: connected
        ? 0
        : this.#contactWallMs === undefined
        ? null
        : Math.max(0, Math.round((now - this.#contactWallMs) / 1000)),
      refused: { ...this.#refused },
    };
  }

  /** The node registry as last seen: name -> raw record. */
  nodes(): ReadonlyMap<string, Uint8Array> {
    return new Map([...this.#snapshot.nodes].map(([name, raw]) => [name, raw.value]));
  }

  #isConnected(): boolean {
    const idle = this.#deps.watch?.idleTimeoutMs ?? 3_000;
    return this.#connected && this.#contactMonoMs !== undefined &&
      this.#deps.monotonicMs() - this.#contactMonoMs <= idle + 1_000;
  }

  #contact(): void {
    this.#contactWallMs = this.#deps.clock().getTime();
    this.#contactMonoMs = this.#deps.monotonicMs();
    if (!this.#connected) {
      this.#connected = true;
    }
  }

  #disconnected(why: string): void {
    if (this.#connected) {
      this.#deps.log(
        `fleet: lost etcd (${why}); deciding from the snapshot at revision ${this.#snapshot.revision}, retrying`,
      );
    }
    this.#connected = false;
  }

  async #run(): Promise<void> {
    let needList = true;
    let backoff = 0;
    let failures = 0;
    while (this.#running) {
      try {
        if (needList) {
          const wasConnected = this.#connected;
          const before = this.#snapshot.revision;
          const revision = await this.syncOnce();
          needList = false;
          if (!wasConnected) {
            this.#deps.log(
              `fleet: in sync with etcd at ${this.#deps.client.endpoint}, revision ${revision}` +
                (before > 0 && before !== revision ? ` (was ${before})` : ""),
            );
          }
        }
        // Resume after the last event applied, not the last one delivered: events still queued would be
        // replayed (a replayed delete would undo a later put). And a stop() during the list opens no watch.
        await this.#queue;
        if (!this.#running) break;
        const ended = await this.#watchOnce(this.#snapshot.revision + 1, () => {
          backoff = 0;
          failures = 0;
        });
        if (!this.#running) break;
        if (ended?.code === "compacted") {
          this.#deps.log(
            `fleet: revision ${this.#snapshot.revision + 1} was compacted in etcd (oldest kept ${
              ended.compactRevision ?? "?"
            }): listing everything again`,
          );
          needList = true;
          continue;
        }
        if (ended !== undefined) throw ended;
      } catch (err) {
        if (!this.#running) break;
        failures++;
        this.#disconnected(describe(err));
        // The first retry goes straight to the next endpoint; then back off, capped.
        backoff = failures <= 1 ? 0 : Math.min(MAX_BACKOFF_MS, Math.max(100, backoff * 2));
        if (backoff > 0) await this.#deps.sleep(backoff, this.#stopping.signal);
      }
    }
  }

  /** One watch, until it ends; resolves with why (undefined when closed by stop()). */
  #watchOnce(from: number, heard: () => void): Promise<EtcdError | undefined> {
    return new Promise((resolve) => {
      this.#watch = this.#deps.client.watch(this.#deps.keys.prefix, from, {
        onEvents: (events) => {
          void this.#enqueue(() => this.#onEvents(events));
          this.#watchHeard(heard);
        },
        onProgress: (revision) => {
          void this.#enqueue(async () => {
            if (revision > this.#snapshot.revision) this.#snapshot.revision = revision;
            await this.#record(false);
          });
          this.#watchHeard(heard);
        },
        onEnd: (error) => resolve(error),
      }, this.#deps.watch ?? {});
    });
  }

  /**
   * The watch spoke. Back after an outage (a new watch, no list), revocations made here meanwhile are
   * published now (#applyRevoked), as they are after a list.
   */
  #watchHeard(heard: () => void): void {
    const back = !this.#connected;
    this.#contact();
    heard();
    if (back) {
      void this.#enqueue(() =>
        this.#apply({ pieces: new Set(), revoked: true, nodes: false, unknown: [] }, false)
      );
    }
  }

  #enqueue(task: () => Promise<void>): Promise<void> {
    const next = this.#queue.then(task).catch((err) =>
      this.#deps.log(`fleet: cannot apply a change: ${describe(err)}`)
    );
    this.#queue = next;
    return next;
  }

  async #onEvents(events: readonly EtcdEvent[]): Promise<void> {
    const touched = applyEvents(this.#deps.keys, this.#snapshot, events);
    await this.#apply(touched, false);
  }

  async #apply(touched: Touched, listed: boolean): Promise<void> {
    const { materialize, log } = this.#deps;
    let changed = false;
    let recordNow = listed;
    for (const key of touched.unknown) {
      if (this.#unknownLogged.has(key) || this.#unknownLogged.size > 100) continue;
      this.#unknownLogged.add(key);
      log(`fleet: ignoring ${JSON.stringify(key.slice(0, 120))}: not a key the agent knows`);
    }
    for (
      const piece of touched.pieces.size > 0 || listed ? ["policy", "ca", "keyring", "apikeys"] as const : []
    ) {
      const raw = this.#snapshot.pieces.get(piece);
      if (!listed && !touched.pieces.has(piece)) continue;
      const version = raw?.modRevision ?? 0;
      if (this.#applied[piece] === version) continue;
      if (raw === undefined && this.#applied[piece] === undefined) continue;
      const result = await applyPiece(materialize, piece, raw?.value);
      this.#applied[piece] = version;
      recordNow = true;
      this.#stateRevision = Math.max(this.#stateRevision, version);
      if (result.outcome === "refused") {
        this.#refused[piece] = result.error.message;
        log(`fleet: refusing revision ${version}: ${result.error.message}; keeping the last good version`);
        continue;
      }
      delete this.#refused[piece];
      if (result.outcome === "applied") {
        changed = true;
        log(`fleet: applied ${pieceTitle(piece)} (revision ${version})`);
      }
    }
    if (touched.revoked) changed = (await this.#applyRevoked()) || changed;
    for (const raw of this.#snapshot.pieces.values()) {
      this.#stateRevision = Math.max(this.#stateRevision, raw.modRevision);
    }
    await this.#record(changed || recordNow);
    if (changed) await this.#deps.applied(this.#snapshot.revision);
  }

  async #applyRevoked(): Promise<boolean> {
    const entries = new Map<string, RevokedEntry>();
    for (const [nonce, raw] of this.#snapshot.revoked) {
      this.#stateRevision = Math.max(this.#stateRevision, raw.modRevision);
      try {
        entries.set(nonce, decodeRevoked(nonce, raw.value));
      } catch (err) {
        const key = `revoked:${nonce}:${raw.modRevision}`;
        if (!this.#unknownLogged.has(key)) {
          this.#unknownLogged.add(key);
          this.#deps.log(`fleet: refusing a revocation at revision ${raw.modRevision}: ${describe(err)}`);
        }
      }
    }
    const outcome = await applyRevocations(this.#deps.materialize, entries);
    if (outcome.wrote) {
      this.#deps.log(`fleet: applied the macaroon revocations (${entries.size} in the fleet)`);
    }
    // Revoked here while etcd was away (or before this host joined): the fleet gets them now.
    if (outcome.localOnly.length > 0 && this.#connected) {
      const by = this.#deps.name;
      try {
        await publishRevocations(
          this.#deps.client,
          this.#deps.keys,
          outcome.localOnly.map((r) => ({ nonce: r.nonce, revokedAt: r.revokedAt, by })),
        );
        this.#deps.log(`fleet: published ${outcome.localOnly.length} revocation(s) made on this host`);
      } catch (err) {
        this.#deps.log(`fleet: cannot publish this host's revocations yet: ${describe(err)}`);
      }
    }
    return outcome.wrote;
  }

  async #record(force: boolean): Promise<void> {
    const now = this.#deps.monotonicMs();
    if (!force && now - this.#recordedMs < RECORD_EVERY_MS) return;
    if (this.#contactWallMs === undefined) return;
    this.#recordedMs = now;
    await saveSnapshotRecord(this.#deps.materialize.fs, this.#deps.files, {
      revision: this.#snapshot.revision,
      contactAt: new Date(this.#contactWallMs).toISOString(),
      applied: this.#applied,
    });
  }
}

function describe(err: unknown): string {
  if (isAgentError(err)) return `${err.message} [${err.code}]`;
  if (err instanceof Error && err.name === "EtcdError") return `${(err as EtcdError).code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}
