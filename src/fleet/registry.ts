/**
 * The node registry: each agent keeps a record of itself under nodes/<name>, tied to a lease, so a host that
 * stops or is cut off drops out of the list by itself. The record says what it runs and which state revision
 * it has applied; it is rewritten only when that changes (every agent watches the prefix, so a heartbeat in
 * the value would wake every host every few seconds).
 */
import type { Clock } from "../ports.ts";
import type { EtcdClient } from "./etcd.ts";
import type { FleetKeys } from "./keys.ts";

export interface NodeRecord {
  readonly name: string;
  readonly addresses: readonly string[];
  readonly agentVersion: string;
  readonly startedAt: string;
  /** The last revision of shared state this agent applied. */
  readonly stateRevision: number;
  /** The HTTPS listener's address, when it has one. */
  readonly listen?: string;
  /** What its dockerd reported (GET /info), once it answered. */
  readonly docker?: DockerSummary;
}

/** The node fields of Docker Cloud's node resource that come from dockerd (api/node.ts). */
export interface DockerSummary {
  readonly uuid: string;
  readonly docker_version: string;
  readonly docker_graphdriver: string;
  readonly cpu: number;
  readonly memory: number;
}

function dockerOf(value: unknown): DockerSummary | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const d = value as Record<string, unknown>;
  const text = (k: string) => (typeof d[k] === "string" ? (d[k] as string).slice(0, 128) : "");
  const count = (
    k: string,
  ) => (typeof d[k] === "number" && Number.isFinite(d[k]) && (d[k] as number) >= 0 ? d[k] as number : 0);
  if (!/^[0-9a-f-]{36}$/.test(text("uuid"))) return undefined;
  return {
    uuid: text("uuid"),
    docker_version: text("docker_version"),
    docker_graphdriver: text("docker_graphdriver"),
    cpu: count("cpu"),
    memory: count("memory"),
  };
}

export interface RegistryDeps {
  readonly client: EtcdClient;
  readonly keys: FleetKeys;
  readonly record: () => NodeRecord;
  readonly clock: Clock;
  readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly log: (message: string) => void;
  /** Lease time to live (default 10 s); kept alive every third of it. */
  readonly ttlSeconds?: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeNode(record: NodeRecord): Uint8Array {
  return encoder.encode(JSON.stringify({ version: 1, ...record }));
}

/** A record from etcd, or undefined when it is not one (a hostile or broken value is skipped). */
export function decodeNode(name: string, value: Uint8Array): NodeRecord | undefined {
  if (value.length > 8192) return undefined;
  try {
    const raw = JSON.parse(decoder.decode(value)) as Record<string, unknown>;
    const addresses = raw["addresses"];
    if (
      raw["version"] !== 1 || raw["name"] !== name ||
      !Array.isArray(addresses) || !addresses.every((a) => typeof a === "string") ||
      typeof raw["startedAt"] !== "string" || typeof raw["stateRevision"] !== "number"
    ) return undefined;
    const agentVersion = raw["agentVersion"];
    return {
      name,
      addresses: addresses.slice(0, 16) as string[],
      agentVersion: typeof agentVersion === "string" ? agentVersion : "",
      startedAt: raw["startedAt"],
      stateRevision: raw["stateRevision"],
      ...(typeof raw["listen"] === "string" ? { listen: raw["listen"] } : {}),
      ...(dockerOf(raw["docker"]) === undefined ? {} : { docker: dockerOf(raw["docker"])! }),
    };
  } catch {
    return undefined;
  }
}

export class NodeRegistration {
  readonly #deps: RegistryDeps;
  #running = false;
  #stopping = new AbortController();
  #loop: Promise<void> | undefined;
  #lease: string | undefined;
  #written: string | undefined;
  #failing = false;
  #wake = new AbortController();

  constructor(deps: RegistryDeps) {
    this.#deps = deps;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  /** Leaves the registry at once (revokes the lease) rather than when it expires. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#stopping.abort();
    await this.#loop;
    if (this.#lease !== undefined) await this.#deps.client.revokeLease(this.#lease).catch(() => undefined);
  }

  /** The record may have changed (a new revision applied): write it now rather than at the next tick. */
  nudge(): void {
    this.#wake.abort();
  }

  async #run(): Promise<void> {
    const ttl = this.#deps.ttlSeconds ?? 10;
    const tickMs = Math.max(500, Math.floor((ttl * 1000) / 3));
    const key = `${this.#deps.keys.nodes}${this.#deps.record().name}`;
    while (this.#running) {
      try {
        if (this.#lease === undefined) {
          this.#lease = await this.#deps.client.grantLease(ttl);
          this.#written = undefined;
        } else if (!(await this.#deps.client.keepAlive(this.#lease))) {
          this.#lease = await this.#deps.client.grantLease(ttl);
          this.#written = undefined;
        }
        const value = encodeNode(this.#deps.record());
        const text = decoder.decode(value);
        if (text !== this.#written) {
          await this.#deps.client.put(key, value, { lease: this.#lease });
          this.#written = text;
        }
        if (this.#failing) this.#deps.log("fleet: registered in the node registry again");
        this.#failing = false;
      } catch (err) {
        if (!this.#failing) {
          this.#deps.log(
            `fleet: cannot keep this node in the registry: ${
              err instanceof Error ? err.message : String(err)
            }`,
          );
        }
        this.#failing = true;
        this.#written = undefined;
      }
      await this.#deps.sleep(tickMs, AbortSignal.any([this.#stopping.signal, this.#wake.signal]));
      if (this.#wake.signal.aborted) this.#wake = new AbortController();
    }
  }
}
