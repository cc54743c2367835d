/**
 * An in-memory etcd for the fleet's unit tests: one store (revisions, mod and create revisions, history,
 * compaction, leases, auth) and any number of clients on it (src/fleet/etcd.ts), each acting as one etcd user.
 * The store starts at revision 1, as etcd does. Watch events are delivered asynchronously (microtasks), in
 * revision order: first the history from the start revision, then live changes. The test drives what a
 * real cluster does by itself: `setAvailable(false)` (every call rejects with "unavailable", every watch
 * ends), `compact(rev)`, `endWatches(code)` (a member going away), `progress()` (a progress answer) and
 * `tick(seconds)` (lease expiry).
 */
import {
  type EtcdClient,
  EtcdError,
  type EtcdErrorCode,
  type EtcdEvent,
  type EtcdKeyValue,
  type EtcdPermission,
  type EtcdWatch,
  type WatchHandlers,
} from "../../../src/fleet/etcd.ts";

interface Stored {
  readonly value: Uint8Array;
  readonly modRevision: number;
  readonly createRevision: number;
  readonly lease: string | undefined;
}

interface Change {
  readonly revision: number;
  readonly event: EtcdEvent;
}

interface LiveWatch {
  readonly prefix: string;
  readonly handlers: WatchHandlers;
  readonly user: string;
  ended: boolean;
}

interface Lease {
  readonly ttl: number;
  remaining: number;
}

const encoder = new TextEncoder();

export class MemoryEtcd {
  #revision = 1;
  #compacted = 0;
  readonly #data = new Map<string, Stored>();
  readonly #history: Change[] = [];
  readonly #watches = new Set<LiveWatch>();
  readonly #leases = new Map<string, Lease>();
  #nextLease = 0x1000;
  #available = true;
  /** Auth: users and their roles, roles and their permissions, whether auth is on. */
  readonly users = new Map<string, Set<string>>();
  readonly roles = new Map<string, EtcdPermission[]>();
  authEnabled = false;
  /** Every watch a client opened: its prefix, start revision and user, in order. */
  readonly watchStarts: { prefix: string; startRevision: number; user: string }[] = [];
  /** Calls per client operation (list, get, put, ...), for "rewritten only when it changes". */
  readonly calls: string[] = [];

  get revision(): number {
    return this.#revision;
  }

  get compactRevision(): number {
    return this.#compacted;
  }

  get available(): boolean {
    return this.#available;
  }

  /** The number of watches still open. */
  get openWatches(): number {
    return [...this.#watches].filter((w) => !w.ended).length;
  }

  /** A client acting as `user` (the certificate's CN); "root" may do anything. */
  client(user = "root", endpoint = "memory://etcd"): EtcdClient & { readonly closed: boolean } {
    return new MemoryClient(this, user, endpoint);
  }

  // ---- the store, without availability or auth (what another member or an operator does) ----

  /** The current value of a key. */
  kv(key: string): EtcdKeyValue | undefined {
    const stored = this.#data.get(key);
    return stored === undefined ? undefined : this.#kvOf(key, stored);
  }

  text(key: string): string | undefined {
    const kv = this.kv(key);
    return kv === undefined ? undefined : new TextDecoder().decode(kv.value);
  }

  keys(prefix = ""): string[] {
    return [...this.#data.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  leaseOf(key: string): string | undefined {
    return this.#data.get(key)?.lease;
  }

  hasLease(lease: string): boolean {
    return this.#leases.has(lease);
  }

  /** Writes a key (a string is UTF-8); returns the new revision. */
  put(key: string, value: Uint8Array | string, lease?: string): number {
    const bytes = typeof value === "string" ? encoder.encode(value) : new Uint8Array(value);
    if (lease !== undefined && !this.#leases.has(lease)) {
      throw new EtcdError("other", "etcdserver: requested lease not found");
    }
    const revision = ++this.#revision;
    const before = this.#data.get(key);
    const stored: Stored = {
      value: bytes,
      modRevision: revision,
      createRevision: before?.createRevision ?? revision,
      lease,
    };
    this.#data.set(key, stored);
    this.#emit(revision, [{ type: "put", kv: this.#kvOf(key, stored) }]);
    return revision;
  }

  /** Deletes keys (one revision for all of them, as a transaction); returns the revision (unchanged when none existed). */
  delete(...keys: string[]): number {
    const present = keys.filter((k) => this.#data.has(k));
    if (present.length === 0) return this.#revision;
    const revision = ++this.#revision;
    const events: EtcdEvent[] = present.map((key) => {
      this.#data.delete(key);
      return {
        type: "delete",
        kv: { key, value: new Uint8Array(), modRevision: revision, createRevision: 0 },
      };
    });
    this.#emit(revision, events);
    return revision;
  }

  /** Forgets the history below `revision`: a watch from an older revision then ends with "compacted". */
  compact(revision = this.#revision): void {
    if (revision > this.#revision) throw new Error(`cannot compact the future (${revision})`);
    this.#compacted = Math.max(this.#compacted, revision);
    const keep = this.#history.filter((c) => c.revision >= this.#compacted);
    this.#history.splice(0, this.#history.length, ...keep);
  }

  /** While unavailable every client call rejects with "unavailable"; going unavailable ends every watch. */
  setAvailable(available: boolean): void {
    this.#available = available;
    if (!available) this.endWatches("unavailable");
  }

  /** Ends every open watch, as a member that dies or hangs does (`code` undefined: a clean close). */
  endWatches(code: EtcdErrorCode | undefined = "unavailable"): void {
    for (const watch of [...this.#watches]) {
      this.#end(watch, code === undefined ? undefined : new EtcdError(code, `the watch ended (${code})`));
    }
  }

  /** A progress answer on every open watch: everything up to the store's revision was delivered. */
  progress(): void {
    const revision = this.#revision;
    for (const watch of this.#watches) {
      queueMicrotask(() => {
        if (!watch.ended) watch.handlers.onProgress?.(revision);
      });
    }
  }

  /** Lets `seconds` pass for the leases: those not kept alive expire and their keys go (one revision). */
  tick(seconds: number): void {
    const expired: string[] = [];
    for (const [id, lease] of this.#leases) {
      lease.remaining -= seconds;
      if (lease.remaining <= 0) expired.push(id);
    }
    for (const id of expired) this.#dropLease(id);
  }

  // ---- what clients call (checked for availability and auth) ----

  /** @internal */
  guard(user: string, op: string, check?: { key: string; prefix: boolean; write: boolean }): void {
    this.calls.push(op);
    if (!this.#available) throw new EtcdError("unavailable", "no etcd endpoint answered (memory etcd)");
    if (this.authEnabled && !this.users.has(user)) {
      throw new EtcdError("unauthenticated", "etcdserver: user name not found");
    }
    if (check !== undefined && !this.allowed(user, check.key, check.prefix, check.write)) {
      throw new EtcdError("permission_denied", "etcdserver: permission denied");
    }
  }

  /** Whether `user` may read (or write) `key` (with `prefix`: every key under it). */
  allowed(user: string, key: string, prefix: boolean, write: boolean): boolean {
    if (!this.authEnabled || user === "root") return true;
    const roles = this.users.get(user);
    if (roles === undefined) return false;
    if (roles.has("root")) return true;
    for (const role of roles) {
      for (const p of this.roles.get(role) ?? []) {
        if (write ? p.type === "read" : p.type === "write") continue;
        const covers = p.prefix ? key.startsWith(p.key) : !prefix && key === p.key;
        if (covers) return true;
      }
    }
    return false;
  }

  /** @internal */
  list(prefix: string): { kvs: EtcdKeyValue[]; revision: number } {
    const kvs = this.keys(prefix).map((k) => this.kv(k)!);
    return { kvs, revision: this.#revision };
  }

  /** @internal */
  casPut(key: string, value: Uint8Array, options: { ifModRevision?: number; lease?: string }): number {
    if (options.ifModRevision !== undefined) {
      const current = this.#data.get(key)?.modRevision ?? 0;
      if (current !== options.ifModRevision) {
        throw new EtcdError("conflict", "the key changed since the revision given (compare-and-swap lost)");
      }
    }
    if (value.length > 1.5 * 1024 * 1024) {
      throw new EtcdError("too_large", "etcdserver: request is too large");
    }
    return this.put(key, value, options.lease);
  }

  /** @internal */
  openWatch(user: string, prefix: string, startRevision: number, handlers: WatchHandlers): EtcdWatch {
    const watch: LiveWatch = { prefix, handlers, user, ended: false };
    this.watchStarts.push({ prefix, startRevision, user });
    const fail = (error: EtcdError) => {
      this.#watches.add(watch);
      queueMicrotask(() => this.#end(watch, error));
      return { close: () => this.#end(watch, undefined) };
    };
    if (!this.#available) {
      return fail(new EtcdError("unavailable", "no etcd endpoint answered (memory etcd)"));
    }
    if (!this.allowed(user, prefix, true, false)) {
      return fail(new EtcdError("permission_denied", "etcdserver: permission denied"));
    }
    if (startRevision > 0 && startRevision < this.#compacted) {
      return fail(
        new EtcdError("compacted", "etcd compacted the watch's start revision away", this.#compacted),
      );
    }
    this.#watches.add(watch);
    if (startRevision > 0) {
      const events = this.#history.filter((c) =>
        c.revision >= startRevision && c.event.kv.key.startsWith(prefix)
      )
        .map((c) => c.event);
      const revision = this.#revision;
      if (events.length > 0) {
        queueMicrotask(() => {
          if (!watch.ended) watch.handlers.onEvents(events, revision);
        });
      }
    }
    return { close: () => this.#end(watch, undefined) };
  }

  /** @internal */
  grantLease(ttl: number): string {
    const id = String(this.#nextLease++);
    this.#leases.set(id, { ttl, remaining: ttl });
    return id;
  }

  /** @internal */
  keepAlive(lease: string): boolean {
    const found = this.#leases.get(lease);
    if (found === undefined) return false;
    found.remaining = found.ttl;
    return true;
  }

  /** @internal */
  revokeLease(lease: string): void {
    this.#dropLease(lease);
  }

  // ---- internals ----

  #kvOf(key: string, stored: Stored): EtcdKeyValue {
    return {
      key,
      value: new Uint8Array(stored.value),
      modRevision: stored.modRevision,
      createRevision: stored.createRevision,
    };
  }

  #dropLease(id: string): void {
    if (!this.#leases.delete(id)) return;
    this.delete(...[...this.#data].filter(([, s]) => s.lease === id).map(([k]) => k));
  }

  #emit(revision: number, events: EtcdEvent[]): void {
    for (const event of events) this.#history.push({ revision, event });
    for (const watch of this.#watches) {
      const mine = events.filter((e) => e.kv.key.startsWith(watch.prefix));
      if (mine.length === 0) continue;
      queueMicrotask(() => {
        if (!watch.ended) watch.handlers.onEvents(mine, revision);
      });
    }
  }

  #end(watch: LiveWatch, error: EtcdError | undefined): void {
    if (watch.ended) return;
    watch.ended = true;
    this.#watches.delete(watch);
    watch.handlers.onEnd(error);
  }
}

class MemoryClient implements EtcdClient {
  readonly #etcd: MemoryEtcd;
  readonly #user: string;
  readonly endpoint: string;
  #closed = false;
  readonly #watches = new Set<EtcdWatch>();

  constructor(etcd: MemoryEtcd, user: string, endpoint: string) {
    this.#etcd = etcd;
    this.#user = user;
    this.endpoint = endpoint;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Runs `fn` as an etcd call: asynchronously, rejecting with an EtcdError like the real client. */
  async #call<T>(
    op: string,
    fn: () => T,
    check?: { key: string; prefix: boolean; write: boolean },
  ): Promise<T> {
    await Promise.resolve();
    if (this.#closed) throw new EtcdError("other", "the etcd client is closed");
    this.#etcd.guard(this.#user, op, check);
    return fn();
  }

  list(prefix: string) {
    return this.#call("list", () => this.#etcd.list(prefix), { key: prefix, prefix: true, write: false });
  }

  get(key: string) {
    return this.#call(
      "get",
      () => ({ kv: this.#etcd.kv(key), revision: this.#etcd.revision }),
      { key, prefix: false, write: false },
    );
  }

  put(
    key: string,
    value: Uint8Array,
    options: { readonly ifModRevision?: number; readonly lease?: string } = {},
  ) {
    return this.#call("put", () => this.#etcd.casPut(key, value, options), {
      key,
      prefix: false,
      write: true,
    });
  }

  delete(key: string) {
    return this.#call("delete", () => this.#etcd.delete(key), { key, prefix: false, write: true });
  }

  watch(prefix: string, startRevision: number, handlers: WatchHandlers): EtcdWatch {
    if (this.#closed) {
      handlers.onEnd(new EtcdError("other", "the etcd client is closed"));
      return { close() {} };
    }
    let watch: EtcdWatch | undefined = undefined;
    const tracked: WatchHandlers = {
      ...handlers,
      onEnd: (error) => {
        if (watch !== undefined) this.#watches.delete(watch);
        handlers.onEnd(error);
      },
    };
    watch = this.#etcd.openWatch(this.#user, prefix, startRevision, tracked);
    this.#watches.add(watch);
    return watch;
  }

  grantLease(ttlSeconds: number) {
    return this.#call("grantLease", () => this.#etcd.grantLease(ttlSeconds));
  }

  keepAlive(lease: string) {
    return this.#call("keepAlive", () => this.#etcd.keepAlive(lease));
  }

  revokeLease(lease: string) {
    return this.#call("revokeLease", () => this.#etcd.revokeLease(lease));
  }

  readonly auth = {
    addUser: (name: string) =>
      this.#root("auth.addUser", () => {
        if (this.#etcd.users.has(name)) throw new EtcdError("other", "etcdserver: user name already exists");
        this.#etcd.users.set(name, new Set());
      }),
    addRole: (name: string) =>
      this.#root("auth.addRole", () => {
        if (this.#etcd.roles.has(name)) throw new EtcdError("other", "etcdserver: role name already exists");
        this.#etcd.roles.set(name, []);
      }),
    grantPermission: (role: string, permission: EtcdPermission) =>
      this.#root("auth.grantPermission", () => {
        const list = this.#etcd.roles.get(role);
        if (list === undefined) throw new EtcdError("other", "etcdserver: role name not found");
        // etcd merges a permission on the same range (the new type replaces the old).
        const at = list.findIndex((p) => p.key === permission.key && p.prefix === permission.prefix);
        if (at >= 0) list.splice(at, 1, { ...permission });
        else list.push({ ...permission });
      }),
    grantRole: (user: string, role: string) =>
      this.#root("auth.grantRole", () => {
        const roles = this.#etcd.users.get(user);
        if (roles === undefined) throw new EtcdError("other", "etcdserver: user name not found");
        if (!this.#etcd.roles.has(role)) throw new EtcdError("other", "etcdserver: role name not found");
        roles.add(role);
      }),
    enable: () =>
      this.#root("auth.enable", () => {
        if (!this.#etcd.users.get("root")?.has("root")) {
          throw new EtcdError("other", "etcdserver: root user does not have root role");
        }
        this.#etcd.authEnabled = true;
      }),
    users: () => this.#root("auth.users", () => [...this.#etcd.users.keys()].sort()),
    roles: () => this.#root("auth.roles", () => [...this.#etcd.roles.keys()].sort()),
  };

  #root<T>(op: string, fn: () => T): Promise<T> {
    return this.#call(op, () => {
      if (this.#etcd.authEnabled && this.#user !== "root" && !this.#etcd.users.get(this.#user)?.has("root")) {
        throw new EtcdError("permission_denied", "etcdserver: permission denied");
      }
      return fn();
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const watch of [...this.#watches]) watch.close();
  }
}

/** Bytes of a string (UTF-8). */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}
