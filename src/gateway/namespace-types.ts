/**
 * The types namespace enforcement speaks in, shared by the gateway (src/gateway/namespaces.ts), the plugin
 * socket's namespace gate (src/decide/namespace-gate.ts) and the dockerd lookups behind both
 * (src/docker/object-lookup.ts).
 */

/** The Docker objects that belong to namespaces. Images are host-wide and belong to none. */
export type NamespacedKind = "container" | "volume" | "network";

export interface ObjectInfo {
  /** The full id (a volume's is its name: volumes have no other id). */
  readonly id: string;
  /** The name without dockerd's leading "/" for containers. */
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** Looks objects up in dockerd (implemented by the caller, e.g. with proofs). */
export interface EngineLookup {
  /** By name, short id or full id; undefined when dockerd has none (404). */
  find(kind: NamespacedKind, ref: string): Promise<ObjectInfo | undefined>;
  /** Full id of the container an exec instance belongs to; undefined when unknown. */
  containerOfExec(execId: string): Promise<string | undefined>;
  /**
   * An image's labels (`Config.Labels`), undefined when dockerd has no such image. Optional: the plugin gate
   * uses it to refuse a container that would inherit another namespace's label from its image.
   */
  imageLabels?(ref: string): Promise<Readonly<Record<string, string>> | undefined>;
}

export interface NamespaceCaller {
  /** Where the caller's new objects go (its own name, or an API role's namespace). */
  readonly namespace: string;
  readonly mayAddress: (namespace: string) => boolean;
  readonly administrator: boolean;
}

export type NamespaceVerdict =
  | {
    readonly ok: true;
    /** The body to forward instead of the client's (creates: stamped with the namespace label). */
    readonly body?: unknown;
    /** The request target to forward instead of the client's (prunes: limited to the namespace). */
    readonly target?: string;
    /** Named volumes to create (with the namespace label) before forwarding, so dockerd never makes them. */
    readonly createVolumes?: readonly string[];
  }
  | { readonly ok: false; readonly status: 400 | 403 | 404 | 409; readonly message: string };
