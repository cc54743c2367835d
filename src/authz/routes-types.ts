/** The kinds of Docker objects a route can name; a policy or caveat matches resources by kind. */
export type ResourceKind =
  | "container"
  | "exec"
  | "image"
  | "network"
  | "volume"
  | "node"
  | "service"
  | "task"
  | "secret"
  | "config"
  | "plugin";

export type Resources = Readonly<Partial<Record<ResourceKind, string>>>;

/**
 * Whether a call only reads ("read": it cannot change the daemon, a container, an image or anything else) or
 * may change state ("write"). Declared per route in the route table; a websocket upgrade is a GET that writes.
 */
export type RouteEffect = "read" | "write";

/** What one Engine API call does, as far as the method, path and query tell. */
export interface RouteMatch {
  /** "noun:verb", e.g. "container:create". */
  readonly action: string;
  /** Ids, names and references taken from the path (and from the query where the API puts them there). */
  readonly resources: Resources;
  /** The route's declared effect (the route table's `effect`), never guessed from the method. */
  readonly effect: RouteEffect;
}

/** One registered route, for listings (`agent policy actions`). */
export interface RouteInfo {
  readonly method: string;
  /** moby's path template, e.g. "/images/{name:.*}/json" (`.*` spans slashes, a bare `{id}` does not). */
  readonly pattern: string;
  readonly action: string;
  readonly effect: RouteEffect;
  readonly description: string;
}
