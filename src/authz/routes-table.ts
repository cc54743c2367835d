/**
 * Every Docker Engine API route from API 1.41 (Engine 20.10) to the current one, in the order moby registers
 * them: gorilla/mux takes the first registered route whose method and path match, so order decides between
 * overlapping templates (the checkpoint router comes before the container router precisely so that
 * DELETE /containers/{name}/checkpoints/{checkpoint} is not read as removing a container).
 *
 * Sources: moby daemon/server/router/<router>/<router>.go (api/server/router/... before v29), the router order
 * in daemon/command/daemon.go buildRouters, and api/swagger.yaml.
 */
import type { ResourceKind } from "./routes-types.ts";
import { pulledReference, withTagOrDigest } from "./routes-image-reference.ts";

export type RouteMethod = "GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "OPTIONS";

type MutableResources = Partial<Record<ResourceKind, string>>;

export interface RouteSpec {
  readonly method: RouteMethod;
  readonly pattern: string;
  readonly action: string;
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
  description: string,
  extra: Omit<RouteSpec, "method" | "pattern" | "action" | "description"> = {},
): RouteSpec {
  return { method, pattern, action, description, ...extra };
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
    "List a container's checkpoints",
    container,
  ),
  route(
    "POST",
    "/containers/{name:.*}/checkpoints",
    "container:checkpoint-create",
    "Checkpoint a container",
    container,
  ),
  route(
    "DELETE",
    "/containers/{name}/checkpoints/{checkpoint}",
    "container:checkpoint-remove",
    "Remove a container checkpoint",
    container,
  ),

  // container router
  route(
    "HEAD",
    "/containers/{name:.*}/archive",
    "container:archive",
    "Stat a path in a container",
    container,
  ),
  route("GET", "/containers/json", "container:list", "List containers"),
  route(
    "GET",
    "/containers/{name:.*}/export",
    "container:export",
    "Export a container's filesystem",
    container,
  ),
  route(
    "GET",
    "/containers/{name:.*}/changes",
    "container:changes",
    "List a container's filesystem changes",
    container,
  ),
  route("GET", "/containers/{name:.*}/json", "container:inspect", "Inspect a container", container),
  route("GET", "/containers/{name:.*}/top", "container:top", "List a container's processes", container),
  route("GET", "/containers/{name:.*}/logs", "container:logs", "Read a container's logs", container),
  route(
    "GET",
    "/containers/{name:.*}/stats",
    "container:stats",
    "Read a container's resource usage",
    container,
  ),
  route(
    "GET",
    "/containers/{name:.*}/attach/ws",
    "container:attach",
    "Attach to a container (websocket)",
    container,
  ),
  route("GET", "/exec/{id:.*}/json", "exec:inspect", "Inspect an exec instance", exec),
  route(
    "GET",
    "/containers/{name:.*}/archive",
    "container:archive",
    "Read files from a container",
    container,
  ),
  route(
    "POST",
    "/containers/create",
    "container:create",
    "Create a container",
    fromQuery("container", "name"),
  ),
  route("POST", "/containers/{name:.*}/kill", "container:kill", "Kill a container", container),
  route("POST", "/containers/{name:.*}/pause", "container:pause", "Pause a container", container),
  route("POST", "/containers/{name:.*}/unpause", "container:unpause", "Unpause a container", container),
  route("POST", "/containers/{name:.*}/restart", "container:restart", "Restart a container", container),
  route("POST", "/containers/{name:.*}/start", "container:start", "Start a container", container),
  route("POST", "/containers/{name:.*}/stop", "container:stop", "Stop a container", container),
  route("POST", "/containers/{name:.*}/wait", "container:wait", "Wait for a container", container),
  route("POST", "/containers/{name:.*}/resize", "container:resize", "Resize a container's TTY", container),
  route("POST", "/containers/{name:.*}/attach", "container:attach", "Attach to a container", container),
  route(
    "POST",
    "/containers/{name:.*}/copy",
    "container:copy",
    "Copy files out of a container (API < 1.24, Engine < 26)",
    container,
  ),
  route(
    "POST",
    "/containers/{name:.*}/exec",
    "container:exec",
    "Create an exec instance in a container",
    container,
  ),
  route("POST", "/exec/{name:.*}/start", "exec:start", "Start an exec instance", execByName),
  route("POST", "/exec/{name:.*}/resize", "exec:resize", "Resize an exec instance's TTY", execByName),
  route("POST", "/containers/{name:.*}/rename", "container:rename", "Rename a container", container),
  route(
    "POST",
    "/containers/{name:.*}/update",
    "container:update",
    "Update a container's resources",
    container,
  ),
  route("POST", "/containers/prune", "container:prune", "Remove stopped containers"),
  route("POST", "/commit", "image:commit", "Create an image from a container", {
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
    "Write files into a container",
    container,
  ),
  route("DELETE", "/containers/{name:.*}", "container:remove", "Remove a container", container),

  // image router
  route("GET", "/images/json", "image:list", "List images"),
  route("GET", "/images/search", "image:search", "Search a registry for images"),
  route("GET", "/images/get", "image:save", "Export images as a tarball"),
  route("GET", "/images/{name:.*}/get", "image:save", "Export an image as a tarball", image),
  route("GET", "/images/{name:.*}/history", "image:history", "Read an image's history", image),
  route("GET", "/images/{name:.*}/json", "image:inspect", "Inspect an image", image),
  route("GET", "/images/{name:.*}/attestations", "image:attestations", "List an image's attestations", image),
  route("POST", "/images/load", "image:load", "Import images from a tarball"),
  route("POST", "/images/create", "image:pull", "Pull an image (fromImage given)", {
    when: isPull,
    query: (query, resources) => {
      const reference = pulledReference(value(query, "fromImage"), value(query, "tag"));
      if (reference !== "") resources.image = reference;
    },
  }),
  route("POST", "/images/create", "image:import", "Import an image from a tarball or URL (no fromImage)", {
    query: targetImage,
  }),
  route("POST", "/images/{name:.*}/push", "image:push", "Push an image", {
    ...image,
    query: (query, resources) => {
      if (resources.image !== undefined) {
        resources.image = withTagOrDigest(resources.image, value(query, "tag"));
      }
    },
  }),
  route("POST", "/images/{name:.*}/tag", "image:tag", "Tag an image", image),
  route("POST", "/images/prune", "image:prune", "Remove unused images"),
  route("DELETE", "/images/{name:.*}", "image:remove", "Remove an image", image),

  // system router
  route("OPTIONS", "/{anyroute:.*}", "system:options", "Answer a CORS preflight"),
  route("GET", "/_ping", "system:ping", "Ping the daemon"),
  route("HEAD", "/_ping", "system:ping", "Ping the daemon"),
  route("GET", "/events", "system:events", "Stream daemon events"),
  route("GET", "/info", "system:info", "Show system information"),
  route("GET", "/version", "system:version", "Show version information"),
  route("GET", "/system/df", "system:df", "Show disk usage"),
  route("POST", "/auth", "system:auth", "Check registry credentials"),

  // volume router
  route("GET", "/volumes", "volume:list", "List volumes"),
  route("GET", "/volumes/{name:.*}", "volume:inspect", "Inspect a volume", volume),
  route("POST", "/volumes/create", "volume:create", "Create a volume"),
  route("POST", "/volumes/prune", "volume:prune", "Remove unused volumes"),
  route("PUT", "/volumes/{name:.*}", "volume:update", "Update a cluster volume", volume),
  route("DELETE", "/volumes/{name:.*}", "volume:remove", "Remove a volume", volume),

  // build router
  route("POST", "/build", "image:build", "Build an image"),
  route("POST", "/build/prune", "build:prune", "Remove build cache"),
  route("POST", "/build/cancel", "build:cancel", "Cancel a build"),

  // session router (BuildKit session, hijacked connection)
  route("POST", "/session", "session:start", "Start a BuildKit session"),

  // swarm router
  route("POST", "/swarm/init", "swarm:init", "Initialise a swarm"),
  route("POST", "/swarm/join", "swarm:join", "Join a swarm"),
  route("POST", "/swarm/leave", "swarm:leave", "Leave the swarm"),
  route("GET", "/swarm", "swarm:inspect", "Inspect the swarm"),
  route("GET", "/swarm/unlockkey", "swarm:unlock-key", "Read the swarm unlock key"),
  route("POST", "/swarm/update", "swarm:update", "Update the swarm"),
  route("POST", "/swarm/unlock", "swarm:unlock", "Unlock a locked manager"),
  route("GET", "/services", "service:list", "List services"),
  route("GET", "/services/{id}", "service:inspect", "Inspect a service", byId("service")),
  route("POST", "/services/create", "service:create", "Create a service"),
  route("POST", "/services/{id}/update", "service:update", "Update a service", byId("service")),
  route("DELETE", "/services/{id}", "service:remove", "Remove a service", byId("service")),
  route("GET", "/services/{id}/logs", "service:logs", "Read a service's logs", byId("service")),
  route("GET", "/nodes", "node:list", "List nodes"),
  route("GET", "/nodes/{id}", "node:inspect", "Inspect a node", byId("node")),
  route("DELETE", "/nodes/{id}", "node:remove", "Remove a node", byId("node")),
  route("POST", "/nodes/{id}/update", "node:update", "Update a node", byId("node")),
  route("GET", "/tasks", "task:list", "List tasks"),
  route("GET", "/tasks/{id}", "task:inspect", "Inspect a task", byId("task")),
  route("GET", "/tasks/{id}/logs", "task:logs", "Read a task's logs", byId("task")),
  route("GET", "/secrets", "secret:list", "List secrets"),
  route("POST", "/secrets/create", "secret:create", "Create a secret"),
  route("DELETE", "/secrets/{id}", "secret:remove", "Remove a secret", byId("secret")),
  route("GET", "/secrets/{id}", "secret:inspect", "Inspect a secret", byId("secret")),
  route("POST", "/secrets/{id}/update", "secret:update", "Update a secret", byId("secret")),
  route("GET", "/configs", "config:list", "List configs"),
  route("POST", "/configs/create", "config:create", "Create a config"),
  route("DELETE", "/configs/{id}", "config:remove", "Remove a config", byId("config")),
  route("GET", "/configs/{id}", "config:inspect", "Inspect a config", byId("config")),
  route("POST", "/configs/{id}/update", "config:update", "Update a config", byId("config")),

  // plugin router
  route("GET", "/plugins", "plugin:list", "List plugins"),
  route("GET", "/plugins/{name:.*}/json", "plugin:inspect", "Inspect a plugin", plugin),
  route(
    "GET",
    "/plugins/privileges",
    "plugin:privileges",
    "List a plugin's privileges",
    fromQuery("plugin", "remote"),
  ),
  route("DELETE", "/plugins/{name:.*}", "plugin:remove", "Remove a plugin", plugin),
  route("POST", "/plugins/{name:.*}/enable", "plugin:enable", "Enable a plugin", plugin),
  route("POST", "/plugins/{name:.*}/disable", "plugin:disable", "Disable a plugin", plugin),
  route("POST", "/plugins/pull", "plugin:pull", "Install a plugin", fromQuery("plugin", "remote")),
  route("POST", "/plugins/{name:.*}/push", "plugin:push", "Push a plugin", plugin),
  route("POST", "/plugins/{name:.*}/upgrade", "plugin:upgrade", "Upgrade a plugin", plugin),
  route("POST", "/plugins/{name:.*}/set", "plugin:set", "Configure a plugin", plugin),
  route("POST", "/plugins/create", "plugin:create", "Create a plugin", fromQuery("plugin", "name")),

  // distribution router
  route(
    "GET",
    "/distribution/{name:.*}/json",
    "distribution:inspect",
    "Read an image's registry manifest",
    image,
  ),

  // network router
  route("GET", "/networks", "network:list", "List networks"),
  route("GET", "/networks/", "network:list", "List networks"),
  route("GET", "/networks/{id:.+}", "network:inspect", "Inspect a network", network),
  route("POST", "/networks/create", "network:create", "Create a network"),
  route("POST", "/networks/{id:.*}/connect", "network:connect", "Connect a container to a network", network),
  route(
    "POST",
    "/networks/{id:.*}/disconnect",
    "network:disconnect",
    "Disconnect a container from a network",
    network,
  ),
  route("POST", "/networks/prune", "network:prune", "Remove unused networks"),
  route("DELETE", "/networks/{id:.*}", "network:remove", "Remove a network", network),

  // debug router (always registered; Engine 20.10 mounts it under /debug without a version prefix)
  route("GET", "/debug/vars", "system:debug", "Read the daemon's expvar counters"),
  route("GET", "/debug/pprof/", "system:debug", "List the daemon's profiles"),
  route("GET", "/debug/pprof/cmdline", "system:debug", "Read the daemon's command line"),
  route("GET", "/debug/pprof/profile", "system:debug", "Profile the daemon's CPU"),
  route("GET", "/debug/pprof/symbol", "system:debug", "Look up program counters"),
  route("GET", "/debug/pprof/trace", "system:debug", "Trace the daemon"),
  route("GET", "/debug/pprof/{name}", "system:debug", "Read a named profile"),

  // grpc router (BuildKit over a hijacked connection)
  route("POST", "/grpc", "grpc:start", "Start a BuildKit gRPC connection"),
];
