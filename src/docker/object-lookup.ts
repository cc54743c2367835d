/**
 * Looks containers, volumes, networks and exec instances up in dockerd for namespace enforcement (the
 * gateway, src/gateway/namespaces.ts, and the plugin socket's gate, src/decide/namespace-gate.ts):
 * GET /containers/REF/json, /volumes/REF, /networks/REF, /exec/ID/json, /images/REF/json.
 *
 * Each call passes dockerd's authorization chain - this agent - as the anonymous unix-socket user, so it
 * carries a one-time proof of its own (decide/decision-proof.ts) when `proofs` is given: a fresh decision id
 * per call, withdrawn when the call returns. No proof left (too many pending) is an error, never a call
 * without one: the namespace gate would judge that anonymous lookup again, and again.
 *
 * Cached by full id only: an object's labels never change after it is created and full ids are never
 * reused, but a name (and a short id) may name another object tomorrow, so lookups by name always ask
 * dockerd. Volumes are not cached at all: a volume's only id is its name. A cached object that has since been
 * removed still answers (the caller forwards, and dockerd answers 404 itself). The cache is bounded; the
 * least recently used entry goes first.
 */
import type { DecisionProofs } from "../decide/decision-proof.ts";
import { AgentError } from "../errors.ts";
import { isObject } from "../policy/go-json.ts";
import type { EngineLookup, NamespacedKind, ObjectInfo } from "../gateway/namespace-types.ts";
import type { EngineClient } from "./engine-client.ts";

export const DEFAULT_LOOKUP_CACHE_ENTRIES = 4096;
/**
 * Lookups in flight at once. A lookup that reached the plugin without a valid proof would be judged by the
 * namespace gate, which looks up again: past this many the lookups fail (and the requests are denied)
 * instead of recursing without end.
 */
export const MAX_LOOKUPS_IN_FLIGHT = 128;

const FULL_ID = /^[0-9a-f]{64}$/;

export interface ObjectLookupOptions {
  readonly client: EngineClient;
  /** One-time proofs for each call (required when the plugin judges the calls: always, in `agent serve`). */
  readonly proofs?: DecisionProofs;
  /** A fresh hex decision id (at most 32 characters) for each call's proof; required with `proofs`. */
  readonly newId?: () => string;
  readonly maxEntries?: number;
  readonly maxInFlight?: number;
}

export interface ObjectLookup extends EngineLookup {
  imageLabels(ref: string): Promise<Readonly<Record<string, string>> | undefined>;
  /** Cached entries (for tests and diagnostics). */
  readonly size: number;
}

/** A small least-recently-used map. */
class Bounded<V> {
  readonly #map = new Map<string, V>();

  constructor(readonly max: number) {}

  get size(): number {
    return this.#map.size;
  }

  get(key: string): V | undefined {
    const value = this.#map.get(key);
    if (value !== undefined) {
      this.#map.delete(key);
      this.#map.set(key, value);
    }
    return value;
  }

  set(key: string, value: V): void {
    this.#map.delete(key);
    if (this.#map.size >= this.max) {
      const oldest = this.#map.keys().next();
      if (oldest.done !== true) this.#map.delete(oldest.value);
    }
    this.#map.set(key, value);
  }
}

function unreadable(what: string): AgentError {
  return new AgentError("ERR_DOCKER_RESPONSE", `the Docker daemon sent an unreadable ${what}`);
}

/** Labels as dockerd shows them (null when none); anything but strings is an unreadable answer. */
function labelsOf(value: unknown, what: string): Readonly<Record<string, string>> {
  if (value === undefined || value === null) return {};
  if (!isObject(value)) throw unreadable(what);
  const out: Record<string, string> = {};
  for (const [key, label] of Object.entries(value)) {
    if (typeof label !== "string") throw unreadable(what);
    out[key] = label;
  }
  return out;
}

function stringOf(value: unknown, what: string): string {
  if (typeof value !== "string" || value === "") throw unreadable(what);
  return value;
}

/** dockerd's inspect document as an ObjectInfo; a document without an id or name is unreadable. */
function infoOf(kind: NamespacedKind, doc: unknown): ObjectInfo {
  const what = `${kind} inspect answer`;
  if (!isObject(doc)) throw unreadable(what);
  switch (kind) {
    case "container": {
      const config = isObject(doc["Config"]) ? doc["Config"] : {};
      return {
        id: stringOf(doc["Id"], what),
        name: stringOf(doc["Name"], what).replace(/^\//, ""),
        labels: labelsOf(config["Labels"], what),
      };
    }
    case "volume": {
      const name = stringOf(doc["Name"], what);
      return { id: name, name, labels: labelsOf(doc["Labels"], what) };
    }
    case "network":
      return {
        id: stringOf(doc["Id"], what),
        name: stringOf(doc["Name"], what),
        labels: labelsOf(doc["Labels"], what),
      };
  }
}

const PATHS: Readonly<Record<NamespacedKind, (ref: string) => string>> = {
  container: (ref) => `/containers/${encodeURIComponent(ref)}/json`,
  volume: (ref) => `/volumes/${encodeURIComponent(ref)}`,
  network: (ref) => `/networks/${encodeURIComponent(ref)}`,
};

export function objectLookup(options: ObjectLookupOptions): ObjectLookup {
  const { client, proofs } = options;
  if (proofs !== undefined && options.newId === undefined) {
    throw new AgentError("ERR_INTERNAL", "internal error", "objectLookup: proofs need newId");
  }
  const maxEntries = options.maxEntries ?? DEFAULT_LOOKUP_CACHE_ENTRIES;
  const maxInFlight = options.maxInFlight ?? MAX_LOOKUPS_IN_FLIGHT;
  const objects = new Bounded<ObjectInfo>(maxEntries);
  const execs = new Bounded<string>(maxEntries);
  let inFlight = 0;

  /** One GET with its own proof; undefined on 404. */
  async function get(path: string): Promise<unknown | undefined> {
    if (inFlight >= maxInFlight) {
      throw new AgentError("ERR_DOCKER_RESPONSE", "too many lookups in progress", `lookup ${path}`);
    }
    const id = proofs === undefined ? undefined : options.newId!();
    let headers: Readonly<Record<string, string>> = {};
    if (proofs !== undefined) {
      const proof = proofs.issue(id!, "GET", path, { by: "agent" });
      if (proof === undefined) {
        throw new AgentError(
          "ERR_API_BUSY",
          "too many calls to the Docker daemon in progress",
          `lookup ${path}`,
        );
      }
      headers = proof;
    }
    inFlight++;
    try {
      return await client.getJson(path, headers);
    } finally {
      inFlight--;
      if (id !== undefined) proofs?.withdraw(id);
    }
  }

  return {
    get size() {
      return objects.size + execs.size;
    },
    async find(kind, ref) {
      if (ref === "") return undefined;
      const cacheable = kind !== "volume";
      if (cacheable && FULL_ID.test(ref)) {
        const cached = objects.get(`${kind}:${ref}`);
        if (cached !== undefined) return cached;
      }
      const doc = await get(PATHS[kind](ref));
      if (doc === undefined) return undefined;
      const info = infoOf(kind, doc);
      if (cacheable && FULL_ID.test(info.id)) objects.set(`${kind}:${info.id}`, info);
      return info;
    },
    async containerOfExec(execId) {
      if (execId === "") return undefined;
      const cached = FULL_ID.test(execId) ? execs.get(execId) : undefined;
      if (cached !== undefined) return cached;
      const doc = await get(`/exec/${encodeURIComponent(execId)}/json`);
      if (doc === undefined) return undefined;
      if (!isObject(doc)) throw unreadable("exec inspect answer");
      const container = stringOf(doc["ContainerID"], "exec inspect answer");
      const id = typeof doc["ID"] === "string" ? doc["ID"] : execId;
      if (FULL_ID.test(id)) execs.set(id, container);
      return container;
    },
    async imageLabels(ref) {
      if (ref === "") return undefined;
      const doc = await get(`/images/${encodeURIComponent(ref)}/json`);
      if (doc === undefined) return undefined;
      if (!isObject(doc)) throw unreadable("image inspect answer");
      const config = isObject(doc["Config"]) ? doc["Config"] : {};
      return labelsOf(config["Labels"], "image inspect answer");
    },
  };
}
