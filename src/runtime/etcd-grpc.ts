/**
 * EtcdClient over etcd's gRPC API (@grpc/grpc-js). gRPC rather than the JSON gateway because with mTLS the
 * client certificate's CN is the etcd user, so per-prefix roles need no passwords or tokens (the gateway
 * ignores the CN: shared/design/fleet.md). Each call tries the endpoints in order from the one that last
 * answered, each at most once; only an endpoint's failure (unavailable, deadline, a leaderless member) moves
 * on, a refusal (permission, conflict, size) does not.
 */
import type * as grpc from "@grpc/grpc-js";
import {
  type EtcdClient,
  type EtcdConnectOptions,
  EtcdError,
  type EtcdKeyValue,
  type EtcdPermission,
  type EtcdWatch,
  type WatchHandlers,
  type WatchOptions,
} from "../fleet/etcd.ts";
import { bytes, keyValue, prefixEnd, prefixRange, revision, type WireKeyValue } from "./etcd-codec.ts";
import { type Endpoint, EndpointPool, method, type ServiceName } from "./etcd-endpoints.ts";
import { combineEndpointFailures, isEndpointFailure, toEtcdError } from "./etcd-errors.ts";
import { GrpcWatch } from "./etcd-watch.ts";

const DEFAULT_CALL_TIMEOUT_MS = 3_000;

interface Header {
  readonly header?: { readonly revision?: string };
}

interface RangeResponse extends Header {
  readonly kvs?: readonly WireKeyValue[];
}

interface TxnResponse extends Header {
  readonly succeeded?: boolean;
}

type Attempt<T> = (endpoint: Endpoint, deadline: Date) => Promise<T>;

export function connectEtcd(options: EtcdConnectOptions): EtcdClient {
  return new GrpcEtcdClient(options);
}

/** Compacts the store up to `revision` (physically, so it is done when this returns): for tests and operators. */
export async function compactEtcd(options: EtcdConnectOptions, compactRevision: number): Promise<void> {
  const client = new GrpcEtcdClient(options);
  try {
    await client.unary("KV", "Compact", { revision: String(compactRevision), physical: true });
  } finally {
    client.close();
  }
}

class GrpcEtcdClient implements EtcdClient {
  readonly #pool: EndpointPool;
  readonly #timeoutMs: number;
  readonly #watches = new Set<EtcdWatch>();
  #closed = false;

  constructor(options: EtcdConnectOptions) {
    this.#pool = new EndpointPool(options.endpoints, options);
    this.#timeoutMs = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
  }

  get endpoint(): string {
    return this.#pool.current.url;
  }

  /** Runs `attempt` on each endpoint in turn until one answers or refuses. */
  async #withEndpoints<T>(attempt: Attempt<T>): Promise<T> {
    if (this.#closed) throw new EtcdError("other", "the etcd client is closed");
    const failures: EtcdError[] = [];
    const tried: string[] = [];
    for (const endpoint of this.#pool.order()) {
      tried.push(endpoint.url);
      try {
        const result = await attempt(endpoint, new Date(Date.now() + this.#timeoutMs));
        this.#pool.succeeded(endpoint);
        return result;
      } catch (error) {
        const etcdError = toEtcdError(error);
        if (!isEndpointFailure(error) && !isEndpointFailure(etcdError)) throw etcdError;
        this.#pool.failed(endpoint);
        failures.push(etcdError);
      }
    }
    throw combineEndpointFailures(failures, tried);
  }

  /** One unary call, with the endpoint rotation. */
  unary<T>(service: ServiceName, name: string, request: object): Promise<T> {
    return this.#withEndpoints((endpoint, deadline) =>
      new Promise<T>((resolve, reject) => {
        const fn = method(endpoint.client(service), name) as (
          request: object,
          options: grpc.CallOptions,
          callback: (error: grpc.ServiceError | null, response: T) => void,
        ) => unknown;
        fn(request, { deadline }, (error, response) => error ? reject(error) : resolve(response));
      })
    );
  }

  async list(prefix: string): Promise<{ kvs: EtcdKeyValue[]; revision: number }> {
    const response = await this.unary<RangeResponse>("KV", "Range", prefixRange(prefix));
    return { kvs: (response.kvs ?? []).map(keyValue), revision: revision(response.header?.revision) };
  }

  async get(key: string): Promise<{ kv: EtcdKeyValue | undefined; revision: number }> {
    const response = await this.unary<RangeResponse>("KV", "Range", { key: bytes(key) });
    const kv = response.kvs?.[0];
    return { kv: kv ? keyValue(kv) : undefined, revision: revision(response.header?.revision) };
  }

  async put(
    key: string,
    value: Uint8Array,
    options: { readonly ifModRevision?: number; readonly lease?: string } = {},
  ): Promise<number> {
    const request = { key: bytes(key), value: bytes(value), lease: options.lease ?? "0" };
    if (options.ifModRevision === undefined) {
      const response = await this.unary<Header>("KV", "Put", request);
      return revision(response.header?.revision);
    }
    // A compare-and-swap: mod_revision 0 is what etcd compares for a key that does not exist.
    const response = await this.unary<TxnResponse>("KV", "Txn", {
      compare: [{
        result: "EQUAL",
        target: "MOD",
        key: bytes(key),
        mod_revision: String(options.ifModRevision),
      }],
      success: [{ request_put: request }],
      failure: [],
    });
    if (!response.succeeded) {
      throw new EtcdError("conflict", "the key changed since the revision given (compare-and-swap lost)");
    }
    return revision(response.header?.revision);
  }

  async delete(key: string): Promise<number> {
    const response = await this.unary<Header>("KV", "DeleteRange", { key: bytes(key) });
    return revision(response.header?.revision);
  }

  watch(prefix: string, startRevision: number, handlers: WatchHandlers, options?: WatchOptions): EtcdWatch {
    if (this.#closed) {
      handlers.onEnd(new EtcdError("other", "the etcd client is closed"));
      return { close() {} };
    }
    const watches = this.#watches;
    let watch: GrpcWatch | undefined = undefined;
    const tracked: WatchHandlers = {
      onEvents: (events, rev) => handlers.onEvents(events, rev),
      onEnd: (error) => {
        if (watch) watches.delete(watch);
        handlers.onEnd(error);
      },
      ...(handlers.onProgress ? { onProgress: (rev: number) => handlers.onProgress?.(rev) } : {}),
    };
    watch = new GrpcWatch(this.#pool, prefix, startRevision, tracked, options);
    watches.add(watch);
    return watch;
  }

  async grantLease(ttlSeconds: number): Promise<string> {
    const response = await this.unary<{ ID?: string; error?: string }>("Lease", "LeaseGrant", {
      TTL: String(Math.max(1, Math.ceil(ttlSeconds))),
      ID: "0",
    });
    if (response.error) throw new EtcdError("other", `etcd did not grant the lease (${response.error})`);
    return response.ID ?? "0";
  }

  keepAlive(lease: string): Promise<boolean> {
    return this.#withEndpoints((endpoint, deadline) =>
      new Promise<boolean>((resolve, reject) => {
        const stream = method(endpoint.client("Lease"), "LeaseKeepAlive")({
          deadline,
        }) as grpc.ClientDuplexStream<
          { ID: string },
          { TTL?: string }
        >;
        let settled = false;
        const settle = (fn: () => void) => {
          if (settled) return;
          settled = true;
          fn();
          stream.cancel();
        };
        stream.on("data", (response: { TTL?: string }) => settle(() => resolve(revision(response.TTL) > 0)));
        stream.on("error", (error: unknown) => settle(() => reject(error)));
        stream.on("end", () => settle(() => reject({ code: 14, details: "the keep-alive stream ended" })));
        stream.write({ ID: lease });
      })
    );
  }

  async revokeLease(lease: string): Promise<void> {
    try {
      await this.unary("Lease", "LeaseRevoke", { ID: lease });
    } catch (error) {
      // Revoking a lease that is already gone (expired, revoked) leaves what the caller wanted.
      if (/lease not found/.test((error as Error).message)) return;
      throw error;
    }
  }

  readonly auth = {
    addUser: async (name: string): Promise<void> => {
      await this.unary("Auth", "UserAdd", { name, password: "", options: { no_password: true } });
    },
    addRole: async (name: string): Promise<void> => {
      await this.unary("Auth", "RoleAdd", { name });
    },
    grantPermission: async (role: string, permission: EtcdPermission): Promise<void> => {
      const key = bytes(permission.key);
      const perm = {
        permType: permission.type.toUpperCase(),
        key,
        range_end: permission.prefix ? prefixEnd(key) : Buffer.alloc(0),
      };
      await this.unary("Auth", "RoleGrantPermission", { name: role, perm });
    },
    grantRole: async (user: string, role: string): Promise<void> => {
      await this.unary("Auth", "UserGrantRole", { user, role });
    },
    enable: async (): Promise<void> => {
      await this.unary("Auth", "AuthEnable", {});
    },
    users: async (): Promise<readonly string[]> =>
      (await this.unary<{ users?: string[] }>("Auth", "UserList", {})).users ?? [],
    roles: async (): Promise<readonly string[]> =>
      (await this.unary<{ roles?: string[] }>("Auth", "RoleList", {})).roles ?? [],
  };

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const watch of [...this.#watches]) watch.close();
    this.#pool.close();
  }
}
