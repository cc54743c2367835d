/**
 * Every Docker Engine API route from API 1.41 (Engine 20.10) to the current one, in the order moby registers
 * them: gorilla/mux takes the first registered route whose method and path match, so order decides between
 * overlapping templates (the checkpoint router comes before the container router precisely so that
 * DELETE /containers/{name}/checkpoints/{checkpoint} is not read as removing a container).
 *
 * Sources: moby daemon/server/router/<router>/<router>.go (api/server/router/... before v29), the router order
 * in daemon/command/daemon.go buildRouters, and api/swagger.yaml.
 */
import type { ResourceKind, RouteEffect } from "./routes-types.ts";
import { pulledReference, withTagOrDigest } from "./routes-image-reference.ts";

export type RouteMethod = "GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "OPTIONS";

type MutableResources = Partial<Record<ResourceKind, string>>;

export interface RouteSpec {
  readonly method: RouteMethod;
  readonly pattern: string;
  readonly action: string;
  /**
   * What the call does to the daemon, containers or images: "read" only for calls that cannot change any
   * state (checked against moby's handler for every GET and HEAD route); "write" for everything else, including
   * every POST, PUT, DELETE and OPTIONS route and the GET routes that act, such as the websocket attach, which
   * writes to the container's stdin. Every read-only notion (the macaroon `op` caveat, a seed rule's GET,
   * plugin changes) is derived from this field, never from the HTTP method.
   */
  readonly effect: RouteEffect;
  readonly description: string;
  /** The resource kind each path parameter names; parameters left out (checkpoint, pprof profile) are dropped. */
  readonly params?: Readonly<Record<string, ResourceKind>>;
  /** The route applies only when this holds for the query (POST /images/create is a pull or an import). */
  readonly when?: (query: URLSearchParams) => boolean;
  /** Adds the resources the API takes from the query, after the path's. */
  readonly query?: (query: URLSearchParams, resources: MutableResources) => void;
}

/** A query value as moby's `r.Form.Get` reads it: the first one; absent and empty are alike. */
function value(query: URLSearchParams, key: string): string {
  return query.get(key) ?? "";
}

function route(
  method: RouteMethod,
  pattern: string,
  action: string,
  effect: RouteEffect,
  description: string,
  extra: Omit<RouteSpec, "method" | "pattern" | "action" | "effect" | "description"> = {},
): RouteSpec {
  return { method, pattern, action, effect, description, ...extra };
}

const container = { params: { name: "container" } } as const;
const exec = { params: { id: "exec" } } as const;
const execByName = { params: { name: "exec" } } as const;
const image = { params: { name: "image" } } as const;
const network = { params: { id: "network" } } as const;
const volume = { params: { name: "volume" } } as const;
const plugin = { params: { name: "plugin" } } as const;
const byId = (kind: ResourceKind) => ({ params: { id: kind } }) as const;

/** Resource from one query parameter (container create's `name`, plugin pull's `remote`). */
function fromQuery(kind: ResourceKind, key: string): Pick<RouteSpec, "query"> {
  return {
    query: (query, resources) => {
      const found = value(query, key);
      if (found !== "") resources[kind] = found;
    },
  };
}

/** The image a commit or import creates: `repo` with `tag` applied (moby's RepoTagReference). */
function targetImage(query: URLSearchParams, resources: MutableResources): void {
  const repo = value(query, "repo");
  if (repo !== "") resources.image = withTagOrDigest(repo, value(query, "tag"));
}

const isPull = (query: URLSearchParams): boolean => value(query, "fromImage") !== "";

export const ROUTES: readonly RouteSpec[] = [
  // checkpoint router (experimental routes are registered even when disabled; they then answer 501)
  route(
    "GET",
    "/containers/{name:.*}/checkpoints",
    "container:checkpoint-list",
    "read",
    "List a container's checkpoints",
    container,
  ),
  route(
    "POST",
    "/containers/{name:.*}/checkpoints",
    "container:checkpoint-create",
    "write",
    "Checkpoint a container",
    container,
  ),
  route(
    "DELETE",
    "/containers/{name}/checkpoints/{checkpoint}",
    "container:checkpoint-remove",
    "write",
    "Remove a container checkpoint",
    container,
  ),

  // container router
  route(
    "HEAD",
    "/containers/{name:.*}/archive",
    "container:archive",
    "read",
    "Stat a path in a container",
    container,
  ),
  route("GET", "/containers/json", "container:list", "read", "List containers"),
  route(
    "GET",
    "/containers/{name:.*}/export",
    "container:export",
    "read",
    "Export a container's filesystem",
    container,
  ),
  route(
    "GET",
    "/containers/{name:.*}/changes",
    "container:changes",
    "read",
    "List a container's filesystem changes",
    container,
  ),
  route("GET", "/containers/{name:.*}/json", "container:inspect", "read", "Inspect a container", container),
  route(
    "GET",
    "/containers/{name:.*}/top",
    "container:top",
    "read",
    "List a container's processes",
    container,
  ),
  route("GET", "/containers/{name:.*}/logs", "container:logs", "read", "Read a container's logs", container),
  route(
    "GET",
    "/containers/{name:.*}/stats",
    "container:stats",
    "read",
    "Read a container's resource usage",
    container,
  ),
  route(
    "GET",
    "/containers/{name:.*}/attach/ws",
    "container:attach",
    // A GET, but it writes: with stdin=1 the websocket carries the client's bytes to the container's stdin.
    "write",
    "Attach to a container (websocket; writes to its stdin)",
    container,
  ),
  route("GET", "/exec/{id:.*}/json", "exec:inspect", "read", "Inspect an exec instance", exec),
  route(
    "GET",
    "/containers/{name:.*}/archive",
    "container:archive",
    "read",
    "Read files from a container",
    container,
  ),
  route(
    "POST",
    "/containers/create",
    "container:create",
    "write",
    "Create a container",
    fromQuery("container", "name"),
  ),
  route("POST", "/containers/{name:.*}/kill", "container:kill", "write", "Kill a container", container),
  route("POST", "/containers/{name:.*}/pause", "container:pause", "write", "Pause a container", container),
  route(
    "POST",
    "/containers/{name:.*}/unpause",
    "container:unpause",
    "write",
    "Unpause a container",
    container,
  ),
  route(
    "POST",
    "/containers/{name:.*}/restart",
    "container:restart",
    "write",
    "Restart a container",
    container,
  ),
  route("POST", "/containers/{name:.*}/start", "container:start", "write", "Start a container", container),
  route("POST", "/containers/{name:.*}/stop", "container:stop", "write", "Stop a container", container),
  route("POST", "/containers/{name:.*}/wait", "container:wait", "write", "Wait for a container", container),
  route(
    "POST",
    "/containers/{name:.*}/resize",
    "container:resize",
    "write",
    "Resize a container's TTY",
    container,
  ),
  route(
    "POST",
    "/containers/{name:.*}/attach",
    "container:attach",
    "write",
    "Attach to a container",
    container,
  ),
  route(
    "POST",
    "/containers/{name:.*}/copy",
    "container:copy",
    "write",
    "Copy files out of a container (API < 1.24, Engine < 26)",
    container,
  ),
  route(
    "POST",
    "/containers/{name:.*}/exec",
    "container:exec",
    "write",
    "Create an exec instance in a container",
    container,
  ),
  route("POST", "/exec/{name:.*}/start", "exec:start", "write", "Start an exec instance", execByName),
  route(
    "POST",
    "/exec/{name:.*}/resize",
    "exec:resize",
    "write",
    "Resize an exec instance's TTY",
    execByName,
  ),
  route("POST", "/containers/{name:.*}/rename", "container:rename", "write", "Rename a container", container),
  route(
    "POST",
    "/containers/{name:.*}/update",
    "container:update",
    "write",
    "Update a container's resources",
    container,
  ),
  route("POST", "/containers/prune", "container:prune", "write", "Remove stopped containers"),
  route("POST", "/commit", "image:commit", "write", "Create an image from a container", {
    query: (query, resources) => {
      const source = value(query, "container");
      if (source !== "") resources.container = source;
      targetImage(query, resources);
    },
  }),
  route(
    "PUT",
    "/containers/{name:.*}/archive",
    "container:archive-put",
    "write",
    "Write files into a container",
    container,
  ),
  route("DELETE", "/containers/{name:.*}", "container:remove", "write", "Remove a container", container),

  // image router
  route("GET", "/images/json", "image:list", "read", "List images"),
  route("GET", "/images/search", "image:search", "read", "Search a registry for images"),
  route("GET", "/images/get", "image:save", "read", "Export images as a tarball"),
  route("GET", "/images/{name:.*}/get", "image:save", "read", "Export an image as a tarball", image),
  route("GET", "/images/{name:.*}/history", "image:history", "read", "Read an image's history", image),
  route("GET", "/images/{name:.*}/json", "image:inspect", "read", "Inspect an image", image),
  route(
    "GET",
    "/images/{name:.*}/attestations",
    "image:attestations",
    "read",
    "List an image's attestations",
    image,
  ),
  route("POST", "/images/load", "image:load", "write", "Import images from a tarball"),
  route("POST", "/images/create", "image:pull", "write", "Pull an image (fromImage given)", {
    when: isPull,
    query: (query, resources) => {
      const reference = pulledReference(value(query, "fromImage"), value(query, "tag"));
      if (reference !== "") resources.image = reference;
    },
  }),
  route(
    "POST",
    "/images/create",
    "image:import",
    "write",
    "Import an image from a tarball or URL (no fromImage)",
    {
      query: targetImage,
    },
  ),
  route("POST", "/images/{name:.*}/push", "image:push", "write", "Push an image", {
    ...image,
    query: (query, resources) => {
      if (resources.image !== undefined) {
        resources.image = withTagOrDigest(resources.image, value(query, "tag"));
      }
    },
  }),
  route("POST", "/images/{name:.*}/tag", "image:tag", "write", "Tag an image", image),
  route("POST", "/images/prune", "image:prune", "write", "Remove unused images"),
  route("DELETE", "/images/{name:.*}", "image:remove", "write", "Remove an image", image),

  // system router
  route("OPTIONS", "/{anyroute:.*}", "system:options", "write", "Answer a CORS preflight"),
  route("GET", "/_ping", "system:ping", "read", "Ping the daemon"),
  route("HEAD", "/_ping", "system:ping", "read", "Ping the daemon"),
  route("GET", "/events", "system:events", "read", "Stream daemon events"),
  route("GET", "/info", "system:info", "read", "Show system information"),
  route("GET", "/version", "system:version", "read", "Show version information"),
  route("GET", "/system/df", "system:df", "read", "Show disk usage"),
  route("POST", "/auth", "system:auth", "write", "Check registry credentials"),

  // volume router
  route("GET", "/volumes", "volume:list", "read", "List volumes"),
  route("GET", "/volumes/{name:.*}", "volume:inspect", "read", "Inspect a volume", volume),
  route("POST", "/volumes/create", "volume:create", "write", "Create a volume"),
  route("POST", "/volumes/prune", "volume:prune", "write", "Remove unused volumes"),
  route("PUT", "/volumes/{name:.*}", "volume:update", "write", "Update a cluster volume", volume),
  route("DELETE", "/volumes/{name:.*}", "volume:remove", "write", "Remove a volume", volume),

  // build router
  route("POST", "/build", "image:build", "write", "Build an image"),
  route("POST", "/build/prune", "build:prune", "write", "Remove build cache"),
  route("POST", "/build/cancel", "build:cancel", "write", "Cancel a build"),

  // session router (BuildKit session, hijacked connection)
  route("POST", "/session", "session:start", "write", "Start a BuildKit session"),

  // swarm router
  route("POST", "/swarm/init", "swarm:init", "write", "Initialise a swarm"),
  route("POST", "/swarm/join", "swarm:join", "write", "Join a swarm"),
  route("POST", "/swarm/leave", "swarm:leave", "write", "Leave the swarm"),
  route("GET", "/swarm", "swarm:inspect", "read", "Inspect the swarm"),
  route("GET", "/swarm/unlockkey", "swarm:unlock-key", "read", "Read the swarm unlock key"),
  route("POST", "/swarm/update", "swarm:update", "write", "Update the swarm"),
  route("POST", "/swarm/unlock", "swarm:unlock", "write", "Unlock a locked manager"),
  route("GET", "/services", "service:list", "read", "List services"),
  route("GET", "/services/{id}", "service:inspect", "read", "Inspect a service", byId("service")),
  route("POST", "/services/create", "service:create", "write", "Create a service"),
  route("POST", "/services/{id}/update", "service:update", "write", "Update a service", byId("service")),
  route("DELETE", "/services/{id}", "service:remove", "write", "Remove a service", byId("service")),
  route("GET", "/services/{id}/logs", "service:logs", "read", "Read a service's logs", byId("service")),
  route("GET", "/nodes", "node:list", "read", "List nodes"),
  route("GET", "/nodes/{id}", "node:inspect", "read", "Inspect a node", byId("node")),
  route("DELETE", "/nodes/{id}", "node:remove", "write", "Remove a node", byId("node")),
  route("POST", "/nodes/{id}/update", "node:update", "write", "Update a node", byId("node")),
  route("GET", "/tasks", "task:list", "read", "List tasks"),
  route("GET", "/tasks/{id}", "task:inspect", "read", "Inspect a task", byId("task")),
  route("GET", "/tasks/{id}/logs", "task:logs", "read", "Read a task's logs", byId("task")),
  route("GET", "/secrets", "secret:list", "read", "List secrets"),
  route("POST", "/secrets/create", "secret:create", "write", "Create a secret"),
  route("DELETE", "/secrets/{id}", "secret:remove", "write", "Remove a secret", byId("secret")),
  route("GET", "/secrets/{id}", "secret:inspect", "read", "Inspect a secret", byId("secret")),
  route("POST", "/secrets/{id}/update", "secret:update", "write", "Update a secret", byId("secret")),
  route("GET", "/configs", "config:list", "read", "List configs"),
  route("POST", "/configs/create", "config:create", "write", "Create a config"),
  route("DELETE", "/configs/{id}", "config:remove", "write", "Remove a config", byId("config")),
  route("GET", "/configs/{id}", "config:inspect", "read", "Inspect a config", byId("config")),
  route("POST", "/configs/{id}/update", "config:update", "write", "Update a config", byId("config")),

  // plugin router
  route("GET", "/plugins", "plugin:list", "read", "List plugins"),
  route("GET", "/plugins/{name:.*}/json", "plugin:inspect", "read", "Inspect a plugin", plugin),
  route(
    "GET",
    "/plugins/privileges",
    "plugin:privileges",
    "read",
    "List a plugin's privileges",
    fromQuery("plugin", "remote"),
  ),
  route("DELETE", "/plugins/{name:.*}", "plugin:remove", "write", "Remove a plugin", plugin),
  route("POST", "/plugins/{name:.*}/enable", "plugin:enable", "write", "Enable a plugin", plugin),
  route("POST", "/plugins/{name:.*}/disable", "plugin:disable", "write", "Disable a plugin", plugin),
  route("POST", "/plugins/pull", "plugin:pull", "write", "Install a plugin", fromQuery("plugin", "remote")),
  route("POST", "/plugins/{name:.*}/push", "plugin:push", "write", "Push a plugin", plugin),
  route("POST", "/plugins/{name:.*}/upgrade", "plugin:upgrade", "write", "Upgrade a plugin", plugin),
  route("POST", "/plugins/{name:.*}/set", "plugin:set", "write", "Configure a plugin", plugin),
  route("POST", "/plugins/create", "plugin:create", "write", "Create a plugin", fromQuery("plugin", "name")),

  // distribution router
  route(
    "GET",
    "/distribution/{name:.*}/json",
    "distribution:inspect",
    "read",
    "Read an image's registry manifest",
    image,
  ),

  // network router
  route("GET", "/networks", "network:list", "read", "List networks"),
  route("GET", "/networks/", "network:list", "read", "List networks"),
  route("GET", "/networks/{id:.+}", "network:inspect", "read", "Inspect a network", network),
  route("POST", "/networks/create", "network:create", "write", "Create a network"),
  route(
    "POST",
    "/networks/{id:.*}/connect",
    "network:connect",
    "write",
    "Connect a container to a network",
    network,
  ),
  route(
    "POST",
    "/networks/{id:.*}/disconnect",
    "network:disconnect",
    "write",
    "Disconnect a container from a network",
    network,
  ),
  route("POST", "/networks/prune", "network:prune", "write", "Remove unused networks"),
  route("DELETE", "/networks/{id:.*}", "network:remove", "write", "Remove a network", network),

  // debug router (always registered; Engine 20.10 mounts it under /debug without a version prefix)
  route("GET", "/debug/vars", "system:debug", "read", "Read the daemon's expvar counters"),
  route("GET", "/debug/pprof/", "system:debug", "read", "List the daemon's profiles"),
  route("GET", "/debug/pprof/cmdline", "system:debug", "read", "Read the daemon's command line"),
  route("GET", "/debug/pprof/profile", "system:debug", "read", "Profile the daemon's CPU"),
  route("GET", "/debug/pprof/symbol", "system:debug", "read", "Look up program counters"),
  route("GET", "/debug/pprof/trace", "system:debug", "read", "Trace the daemon"),
  route("GET", "/debug/pprof/{name}", "system:debug", "read", "Read a named profile"),

  // grpc router (BuildKit over a hijacked connection)
  route("POST", "/grpc", "grpc:start", "write", "Start a BuildKit gRPC connection"),
];
