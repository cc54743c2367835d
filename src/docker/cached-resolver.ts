/**
 * Resolves names and short ids to full ids through the Engine API, with a cache that the daemon's event
 * stream keeps correct: any container or image event that can change a name-to-id mapping (create,
 * destroy, rename, tag, untag, delete) clears that kind's cache, so a removed "web" never resolves to the
 * id of an older "web". Full ids are answered without a lookup only when cached as existing.
 */
import type { DockerResolver, ResolverKind } from "./resolver.ts";
import type { EngineClient } from "./engine-client.ts";

const MAX_ENTRIES = 4096;
const CONTAINER_EVENTS = new Set(["create", "destroy", "rename"]);
const IMAGE_EVENTS = new Set(["tag", "untag", "delete", "import", "load", "pull"]);

export interface CachedResolver extends DockerResolver {
  cached(kind: ResolverKind, ref: string): { readonly id: string | undefined } | undefined;
  /** Applies one event from GET /events (exposed for tests). */
  onEvent(event: unknown): void;
  /** Forget everything (e.g. the event stream broke, so the cache may be stale). */
  clear(): void;
}

function boundedSet<K, V>(map: Map<K, V>, key: K, value: V): void {
  if (map.size >= MAX_ENTRIES) map.clear();
  map.set(key, value);
}

export function cachedResolver(client: EngineClient): CachedResolver {
  const containers = new Map<string, string | undefined>();
  const images = new Map<string, string | undefined>();
  const execs = new Map<string, string | undefined>();

  async function lookup(
    cache: Map<string, string | undefined>,
    ref: string,
    path: string,
    pick: (doc: Record<string, unknown>) => unknown,
  ) {
    if (cache.has(ref)) return cache.get(ref);
    const doc = await client.getJson(path);
    const id = doc && typeof doc === "object" ? pick(doc as Record<string, unknown>) : undefined;
    const result = typeof id === "string" && id.length > 0 ? id : undefined;
    boundedSet(cache, ref, result);
    return result;
  }

  return {
    resolveContainer: (ref) =>
      lookup(containers, ref, `/containers/${encodeURIComponent(ref)}/json`, (d) => d["Id"]),
    resolveImage: (ref) => lookup(images, ref, `/images/${encodeURIComponent(ref)}/json`, (d) => d["Id"]),
    containerOfExec: (execId) =>
      lookup(execs, execId, `/exec/${encodeURIComponent(execId)}/json`, (d) => d["ContainerID"]),
    cached(kind, ref) {
      const cache = kind === "container" ? containers : kind === "image" ? images : execs;
      return cache.has(ref) ? { id: cache.get(ref) } : undefined;
    },
    onEvent(event) {
      if (typeof event !== "object" || event === null) return;
      const e = event as Record<string, unknown>;
      const type = e["Type"];
      const action = typeof e["Action"] === "string" ? e["Action"].split(":")[0]! : "";
      if (type === "container" && CONTAINER_EVENTS.has(action)) {
        containers.clear();
        if (action === "destroy") execs.clear();
      } else if (type === "image" && IMAGE_EVENTS.has(action)) {
        images.clear();
      }
    },
    clear() {
      containers.clear();
      images.clear();
      execs.clear();
    },
  };
}
