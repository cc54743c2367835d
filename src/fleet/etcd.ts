/**
 * The slice of etcd v3 the fleet uses, as the fleet code sees it. Implemented over gRPC (the etcd user is the
 * client certificate's CN, so per-prefix roles need no passwords) in src/runtime/etcd-grpc.ts; tests may
 * implement it in memory. Keys and values are bytes on the wire; keys here are UTF-8 strings.
 */

export interface EtcdKeyValue {
  readonly key: string;
  readonly value: Uint8Array;
  /** The revision of the last change to this key. */
  readonly modRevision: number;
  readonly createRevision: number;
}

export interface EtcdEvent {
  readonly type: "put" | "delete";
  readonly kv: EtcdKeyValue;
}

/** Stable reasons an etcd call failed; `message` never holds a value, a key's secret or a credential. */
export type EtcdErrorCode =
  /** No endpoint answered (refused, reset, TLS failure, deadline). */
  | "unavailable"
  /** The member answered but the call timed out (a hung member, a leaderless cluster). */
  | "timeout"
  /** etcd's auth refused the credential for this key range or operation. */
  | "permission_denied"
  /** The credential is not an etcd user (auth on, unknown CN). */
  | "unauthenticated"
  /** A watch or range asked for a revision compacted away: re-list. */
  | "compacted"
  /** A compare-and-swap lost: the key changed since the revision given. */
  | "conflict"
  /** A value over the size etcd accepts. */
  | "too_large"
  | "other";

export class EtcdError extends Error {
  readonly code: EtcdErrorCode;
  /** With "compacted": the oldest revision still kept. */
  readonly compactRevision: number | undefined;
  constructor(code: EtcdErrorCode, message: string, compactRevision?: number) {
    super(message);
    this.name = "EtcdError";
    this.code = code;
    this.compactRevision = compactRevision;
  }
}

export interface EtcdConnectOptions {
  /** `https://host:port` (or `http://` without TLS), tried in order; the next one on failure. */
  readonly endpoints: readonly string[];
  /** PEM: the CA that signed the members' certificates; the client's certificate and key (CN = etcd user). */
  readonly caPem?: string;
  readonly certPem?: string;
  readonly keyPem?: string;
  /** Deadline of each unary call (default 3,000 ms). */
  readonly callTimeoutMs?: number;
}

export interface WatchHandlers {
  /** Events in revision order; `revision` is the header's (the store's revision when sent). */
  onEvents(events: readonly EtcdEvent[], revision: number): void;
  /** A progress notification: everything up to `revision` has been delivered. */
  onProgress?(revision: number): void;
  /**
   * The watch ended and will not deliver more: the member went away or hung (no message within the idle
   * timeout), the revision was compacted ("compacted", with compactRevision), or close() was called (no error).
   * The caller starts a new watch (the client moves on to the next endpoint).
   */
  onEnd(error: EtcdError | undefined): void;
}

export interface WatchOptions {
  /** Ask the member for progress this often (default 1,000 ms): a quiet, healthy watch still speaks. */
  readonly progressIntervalMs?: number;
  /** No message at all for this long ends the watch with "timeout" (default 3,000 ms). */
  readonly idleTimeoutMs?: number;
}

export interface EtcdWatch {
  close(): void;
}

export interface EtcdPermission {
  /** A key, or with `prefix` every key that starts with it. */
  readonly key: string;
  readonly prefix: boolean;
  readonly type: "read" | "write" | "readwrite";
}

export interface EtcdClient {
  /** The endpoint the client talks to now (for logs). */
  readonly endpoint: string;
  /** Every key under `prefix`, and the store's revision at that moment (linearizable read). */
  list(prefix: string): Promise<{ readonly kvs: readonly EtcdKeyValue[]; readonly revision: number }>;
  /** One key, or undefined; with the store's revision. */
  get(key: string): Promise<{ readonly kv: EtcdKeyValue | undefined; readonly revision: number }>;
  /**
   * Writes `value`. With `ifModRevision` it is a compare-and-swap (0 = the key must not exist): a lost race is
   * EtcdError "conflict". With `lease`, the key goes when the lease expires. Returns the new revision.
   */
  put(
    key: string,
    value: Uint8Array,
    options?: { readonly ifModRevision?: number; readonly lease?: string },
  ): Promise<number>;
  /** Deletes one key; returns the new revision. */
  delete(key: string): Promise<number>;
  /** Watches every key under `prefix` from `startRevision` (inclusive). */
  watch(prefix: string, startRevision: number, handlers: WatchHandlers, options?: WatchOptions): EtcdWatch;
  /** A lease of `ttlSeconds`, kept alive until revoked or the client closes; its id as a decimal string. */
  grantLease(ttlSeconds: number): Promise<string>;
  /** Keeps the lease alive (one keep-alive); false when the lease is gone (expired: grant a new one). */
  keepAlive(lease: string): Promise<boolean>;
  revokeLease(lease: string): Promise<void>;
  /** Auth management (needs the root user): users without passwords (certificate CN), roles, auth on. */
  readonly auth: {
    addUser(name: string): Promise<void>;
    addRole(name: string): Promise<void>;
    grantPermission(role: string, permission: EtcdPermission): Promise<void>;
    grantRole(user: string, role: string): Promise<void>;
    enable(): Promise<void>;
    /** The users and roles that exist (for idempotent setup). */
    users(): Promise<readonly string[]>;
    roles(): Promise<readonly string[]>;
  };
  close(): void;
}
