/**
 * The members a client talks to: one gRPC channel per endpoint (made when first used), tried in order from
 * the one that last answered. A member that failed (refused, reset, TLS, deadline, a watch gone quiet) hands
 * the turn to the next one.
 */
import * as grpc from "@grpc/grpc-js";
import { fromJSON } from "@grpc/proto-loader";
import { isIP } from "node:net";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import { EtcdError } from "../fleet/etcd.ts";
import { ETCD_DESCRIPTOR } from "./etcd-proto.ts";

export type ServiceName = "KV" | "Watch" | "Lease" | "Auth";
/** A loaded service client: its methods by the proto's names (Range, Put, Watch, ...). */
export type ServiceClient = grpc.Client & Partial<Record<string, (...args: unknown[]) => unknown>>;

/** `client`'s method `name`, bound (every name used is in ETCD_DESCRIPTOR). */
export function method(client: ServiceClient, name: string): (...args: unknown[]) => unknown {
  const fn = client[name];
  if (typeof fn !== "function") throw new EtcdError("other", `the etcd descriptor has no method ${name}`);
  return fn.bind(client);
}

export interface TlsMaterial {
  readonly caPem?: string;
  readonly certPem?: string;
  readonly keyPem?: string;
}

let services: Record<ServiceName, grpc.ServiceClientConstructor> | undefined;

/** The descriptor loaded once per process (keepCase: etcd's snake_case names; int64 as strings). */
function serviceConstructors(): Record<ServiceName, grpc.ServiceClientConstructor> {
  if (!services) {
    const definition = fromJSON(ETCD_DESCRIPTOR, {
      keepCase: true,
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
    });
    const pkg = grpc.loadPackageDefinition(definition).etcdserverpb as grpc.GrpcObject;
    const get = (name: ServiceName) => pkg[name] as grpc.ServiceClientConstructor;
    services = { KV: get("KV"), Watch: get("Watch"), Lease: get("Lease"), Auth: get("Auth") };
  }
  return services;
}

/** Channel options: reconnect soon after a member comes back; keepalive finds a dead connection under a call. */
const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  "grpc.max_receive_message_length": 256 * 1024 * 1024,
  "grpc.initial_reconnect_backoff_ms": 200,
  "grpc.max_reconnect_backoff_ms": 2_000,
  // etcd's server allows pings every 5 s (--grpc-keepalive-min-time); only while calls are active.
  "grpc.keepalive_time_ms": 10_000,
  "grpc.keepalive_timeout_ms": 5_000,
};

/**
 * TLS names for an endpoint. grpc-js on Bun and Deno refuses an IP address as the TLS server name (SNI), so
 * for an IP endpoint the name sent is a placeholder and the certificate is checked against the IP itself
 * (its subjectAltName must hold that IP address, as for any TLS client).
 */
const IP_SNI_PLACEHOLDER = "etcd.invalid";

export class Endpoint {
  readonly url: string;
  readonly #target: string;
  readonly #credentials: grpc.ChannelCredentials;
  readonly #options: grpc.ChannelOptions;
  #channel: grpc.Channel | undefined;
  readonly #clients = new Map<ServiceName, ServiceClient>();

  constructor(url: string, tls: TlsMaterial) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new EtcdError("other", `an etcd endpoint is not a URL (expected https://host:port)`);
    }
    if (parsed.protocol !== "https:" && parsed.protocol !== "http:") {
      throw new EtcdError("other", `an etcd endpoint must be https:// or http:// (got ${parsed.protocol})`);
    }
    this.url = url;
    const port = parsed.port || "2379";
    this.#target = `${parsed.hostname}:${port}`;
    this.#options = { ...CHANNEL_OPTIONS };
    if (parsed.protocol === "http:") {
      this.#credentials = grpc.credentials.createInsecure();
      return;
    }
    const host = parsed.hostname.replace(/^\[|\]$/g, "");
    const ip = isIP(host) !== 0;
    if (ip) this.#options["grpc.ssl_target_name_override"] = IP_SNI_PLACEHOLDER;
    this.#credentials = grpc.credentials.createSsl(
      tls.caPem === undefined ? null : Buffer.from(tls.caPem),
      tls.keyPem === undefined ? null : Buffer.from(tls.keyPem),
      tls.certPem === undefined ? null : Buffer.from(tls.certPem),
      ip
        ? { checkServerIdentity: (_name: string, cert: PeerCertificate) => checkServerIdentity(host, cert) }
        : {},
    );
  }

  client(service: ServiceName): ServiceClient {
    let client = this.#clients.get(service);
    if (!client) {
      this.#channel ??= new grpc.Channel(this.#target, this.#credentials, this.#options);
      const Service = serviceConstructors()[service];
      client = new Service(this.#target, this.#credentials, {
        channelOverride: this.#channel,
      }) as ServiceClient;
      this.#clients.set(service, client);
    }
    return client;
  }

  close(): void {
    // The clients share the channel (channelOverride): closing it ends their calls.
    this.#clients.clear();
    this.#channel?.close();
    this.#channel = undefined;
  }
}

export class EndpointPool {
  readonly endpoints: readonly Endpoint[];
  #current = 0;

  constructor(urls: readonly string[], tls: TlsMaterial) {
    if (urls.length === 0) throw new EtcdError("other", "no etcd endpoint given");
    this.endpoints = urls.map((url) => new Endpoint(url, tls));
  }

  get current(): Endpoint {
    return this.endpoints[this.#current] as Endpoint;
  }

  /** The endpoints in the order a call tries them: the current one first, each once. */
  order(): Endpoint[] {
    const n = this.endpoints.length;
    return Array.from({ length: n }, (_, i) => this.endpoints[(this.#current + i) % n] as Endpoint);
  }

  /** `endpoint` answered: later calls start there. */
  succeeded(endpoint: Endpoint): void {
    this.#current = this.endpoints.indexOf(endpoint);
  }

  /** `endpoint` failed: if it is the current one, the next one becomes current. */
  failed(endpoint: Endpoint): void {
    const i = this.endpoints.indexOf(endpoint);
    if (i === this.#current) this.#current = (i + 1) % this.endpoints.length;
  }

  close(): void {
    for (const endpoint of this.endpoints) endpoint.close();
  }
}
