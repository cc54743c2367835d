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

/** What one Engine API call does, as far as the method, path and query tell. */
export interface RouteMatch {
  /** "noun:verb", e.g. "container:create". */
  readonly action: string;
  /** Ids, names and references taken from the path (and from the query where the API puts them there). */
  readonly resources: Resources;
  /** True for POST, PUT and DELETE. */
  readonly write: boolean;
}

/** One registered route, for listings (`agent policy actions`). */
export interface RouteInfo {
  readonly method: string;
  /** moby's path template, e.g. "/images/{name:.*}/json" (`.*` spans slashes, a bare `{id}` does not). */
  readonly pattern: string;
  readonly action: string;
  readonly description: string;
}
