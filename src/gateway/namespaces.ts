/**
 * Namespaces on the gateway (the Engine API on the HTTPS listener), as the REST API has them
 * (src/api/namespace.ts): an object belongs to the namespace its `io.agent.namespace` label names, and a
 * caller sees and uses only the objects of the namespaces it may address - its user name, its certificate's
 * OUs, its policy groups; an API role's credential, its service's namespace; a policy administrator, all of
 * them, and the unlabelled objects besides (made on the plugin socket, or before the gateway). Another
 * namespace's object is answered as dockerd answers a missing one (404, in dockerd's words), so the gateway
 * never confirms that it exists.
 *
 * Containers, volumes and networks are namespaced. Images are not: they are host-wide and shared (a pull or
 * a build by one namespace serves every other), and the policy alone governs who may write them. The
 * built-in networks `bridge`, `host` and `none` are shared too, visible to all.
 *
 * Before a request is forwarded (prepareRequest): every container, exec instance, volume and network it
 * names must be visible; creates are stamped with the caller's namespace (`Labels`), and no `io.agent.`
 * label but `io.agent.namespace` naming one of the caller's namespaces may be set; a container create may
 * use only visible networks, containers and volumes, and the named volumes it would make dockerd create are
 * created first by the gateway (`createVolumes`) or, for `Mounts`, stamped through `VolumeOptions.Labels`, so
 * dockerd never makes an unlabelled one; prunes are limited to the caller's namespace. After: lists are
 * filtered, role credentials redacted and other namespaces' ids kept out of error texts
 * (namespace-responses.ts); events are filtered one by one (namespace-events.ts).
 *
 * Pure: dockerd is reached only through the EngineLookup the caller gives (src/docker/object-lookup.ts).
 */
import type { RouteMatch } from "../authz/routes.ts";
import {
  bodyObject,
  copyJson,
  ensureObjectField,
  isRefusal,
  NamespaceRefusal,
  stringField,
} from "./namespace-body.ts";
import { limitFilters, queryParameter, withQueryParameter } from "./namespace-filters.ts";
import { memoLookup } from "./namespace-memo.ts";
import {
  checkLabels,
  isBuiltinNetwork,
  mayAddress,
  NAMESPACE_LABEL,
  stampLabels,
  visibleTo,
} from "./namespace-labels.ts";
import {
  attachReferences,
  configFromReference,
  networkModeReferences,
  type ObjectReference,
  readContainerCreate,
  serviceLabels,
} from "./namespace-references.ts";
import type {
  EngineLookup,
  NamespaceCaller,
  NamespacedKind,
  NamespaceVerdict,
  ObjectInfo,
} from "./namespace-types.ts";

export type { EngineLookup, NamespaceCaller, NamespacedKind, NamespaceVerdict, ObjectInfo };
export { eventVisible } from "./namespace-events.ts";
export {
  filterNetworkContainers,
  filterResponse,
  redactResponse,
  sanitizeError,
} from "./namespace-responses.ts";
export { BUILTIN_NETWORKS, NAMESPACE_LABEL } from "./namespace-labels.ts";

/** dockerd's own 404 texts (moby 20.10: daemon/errors.go, volume/service/errors.go, libnetwork/error.go). */
export const NOT_FOUND: Readonly<Record<NamespacedKind | "exec", (ref: string) => string>> = {
  container: (ref) => `No such container: ${ref}`,
  exec: (ref) => `No such exec instance: ${ref}`,
  volume: (ref) => `get ${ref}: no such volume`,
  network: (ref) => `network ${ref} not found`,
};

const PRUNES = new Set(["container:prune", "volume:prune", "network:prune"]);

export interface PrepareInput {
  /** From src/authz/routes.ts matchRoute (action + resources from the path/query). */
  readonly route: RouteMatch;
  /** Normalized unversioned path, e.g. /containers/create. */
  readonly path: string;
  /** The raw request target as the client sent it (path + query). */
  readonly target: string;
  /** Parsed JSON body (undefined when none). */
  readonly body: unknown;
  readonly caller: NamespaceCaller;
  readonly lookup: EngineLookup;
}

/** The body a gateway sends to POST /volumes/create for one of `createVolumes`. */
export function volumeCreateBody(name: string, caller: NamespaceCaller): Record<string, unknown> {
  return { Name: name, Labels: { [NAMESPACE_LABEL]: caller.namespace } };
}

/**
 * Everything to check or rewrite before forwarding one Engine API request. Never throws for anything the
 * client sent (a malformed body or filter is a 400 verdict); rejects only when the lookup does (dockerd
 * unreachable), which the caller answers as it answers a dockerd failure.
 */
export async function prepareRequest(input: PrepareInput): Promise<NamespaceVerdict> {
  try {
    return await prepare(input);
  } catch (err) {
    if (isRefusal(err)) return { ok: false, status: err.status, message: err.message };
    throw err;
  }
}

/** One request's lookups (each asked once) and what the caller may see. */
class Seen {
  readonly lookup: EngineLookup;

  constructor(readonly caller: NamespaceCaller, lookup: EngineLookup) {
    this.lookup = memoLookup(lookup);
  }

  find(kind: NamespacedKind, ref: string): Promise<ObjectInfo | undefined> {
    return this.lookup.find(kind, ref);
  }

  /** Refuses (404, dockerd's words) an object that is missing or not the caller's to see. */
  async mustSee(kind: NamespacedKind, ref: string): Promise<void> {
    if (this.caller.administrator || (kind === "network" && isBuiltinNetwork(ref))) return;
    const info = await this.find(kind, ref);
    if (info === undefined || !visibleTo(this.caller, kind, info)) {
      throw new NamespaceRefusal(404, NOT_FOUND[kind](ref));
    }
  }

  /**
   * An object a container create names in its body: missing is dockerd's 404; another namespace's is 409. The
   * docker CLI takes any 404 from a create for a missing image and tries to pull it, which would bury the
   * reason; and a name on a Docker host is global anyway (a create of the same name says it is in use).
   */
  async mustUse(kind: NamespacedKind, ref: string): Promise<ObjectInfo | undefined> {
    if (this.caller.administrator || (kind === "network" && isBuiltinNetwork(ref))) return undefined;
    const info = await this.find(kind, ref);
    if (info === undefined) {
      if (kind === "volume") return undefined; // made in the caller's namespace first (createVolumes)
      throw new NamespaceRefusal(404, NOT_FOUND[kind](ref));
    }
    if (!visibleTo(this.caller, kind, info)) {
      throw new NamespaceRefusal(409, `the ${kind} ${ref} is in use by another namespace`);
    }
    return info;
  }
}

async function prepare(input: PrepareInput): Promise<NamespaceVerdict> {
  const { route, caller } = input;
  const seen = new Seen(caller, input.lookup);
  await checkResources(route, seen);
  switch (route.action) {
    case "container:create":
      return await containerCreate(input.body, seen);
    case "volume:create":
      return await volumeCreate(input.body, seen);
    case "network:create":
      return await networkCreate(input.body, seen);
    case "network:connect":
    case "network:disconnect":
      await networkAttach(input.body, seen);
      return { ok: true };
    case "image:build":
      // The classic builder runs its steps' containers in this network mode.
      for (
        const ref of networkModeReferences(queryParameter(input.target, "networkmode") ?? "", "networkmode")
      ) {
        await seen.mustSee(ref.kind, ref.ref);
      }
      return { ok: true };
    case "service:create":
    case "service:update":
      checkServiceLabels(input.body, caller);
      return { ok: true };
    default:
      if (PRUNES.has(route.action) && !caller.administrator) {
        const filters = limitFilters(queryParameter(input.target, "filters"), caller.namespace);
        return { ok: true, target: withQueryParameter(input.target, "filters", filters) };
      }
      return { ok: true };
  }
}

/** Every object the path and query name must be visible; a create's own name is not a lookup. */
async function checkResources(route: RouteMatch, seen: Seen): Promise<void> {
  if (seen.caller.administrator) return;
  const resources = route.resources;
  if (resources.container !== undefined && route.action !== "container:create") {
    await seen.mustSee("container", resources.container);
  }
  if (resources.exec !== undefined) {
    const exec = resources.exec;
    const container = await seen.lookup.containerOfExec(exec);
    const info = container === undefined ? undefined : await seen.find("container", container);
    if (info === undefined || !visibleTo(seen.caller, "container", info)) {
      throw new NamespaceRefusal(404, NOT_FOUND.exec(exec));
    }
  }
  if (resources.volume !== undefined) await seen.mustSee("volume", resources.volume);
  if (resources.network !== undefined) await seen.mustSee("network", resources.network);
}

async function containerCreate(given: unknown, seen: Seen): Promise<NamespaceVerdict> {
  const caller = seen.caller;
  const body = copyJson(bodyObject(given));
  stampLabels(body, caller, "Labels");
  const create = readContainerCreate(body);
  for (const { labels, where } of create.mountLabels) {
    checkLabels(labels, (namespace) => mayAddress(caller, namespace), where);
  }
  const createVolumes: string[] = [];
  for (const reference of create.references) {
    if (reference.kind !== "volume") {
      await seen.mustUse(reference.kind, reference.ref);
      continue;
    }
    const info = caller.administrator
      ? await seen.find("volume", reference.ref)
      : await seen.mustUse("volume", reference.ref);
    if (info !== undefined) {
      // visible: used as it is
    } else if (reference.mount !== undefined) {
      stampMountVolume(reference, caller);
    } else if (!createVolumes.includes(reference.ref)) {
      const driver = create.volumeDriver ?? "";
      if (driver !== "" && driver !== "local") {
        // The gateway creates missing volumes with the local driver: another one must be created first.
        throw new NamespaceRefusal(
          400,
          `the volume ${reference.ref} does not exist: create it first (docker volume create --driver ${driver} ${reference.ref})`,
        );
      }
      createVolumes.push(reference.ref);
    }
  }
  return createVolumes.length === 0 ? { ok: true, body } : { ok: true, body, createVolumes };
}

/** A Mounts entry's missing volume: dockerd creates it with VolumeOptions.Labels, so the label goes there. */
function stampMountVolume(reference: ObjectReference, caller: NamespaceCaller): void {
  const where = `${reference.where}.VolumeOptions`;
  const options = ensureObjectField(reference.mount!, "VOLUMEOPTIONS", "VolumeOptions", where);
  stampLabels(options, caller, `${where}.Labels`);
}

async function volumeCreate(given: unknown, seen: Seen): Promise<NamespaceVerdict> {
  const body = copyJson(bodyObject(given));
  stampLabels(body, seen.caller, "Labels");
  const name = stringField(body, "NAME", "Name");
  if (name !== undefined && name !== "" && !seen.caller.administrator) {
    // dockerd answers a create of an existing name with that volume, whoever's it is.
    const info = await seen.find("volume", name);
    if (info !== undefined && !visibleTo(seen.caller, "volume", info)) {
      throw new NamespaceRefusal(409, `volume name ${name} is in use`);
    }
  }
  return { ok: true, body };
}

async function networkCreate(given: unknown, seen: Seen): Promise<NamespaceVerdict> {
  const body = copyJson(bodyObject(given));
  stampLabels(body, seen.caller, "Labels");
  if (!seen.caller.administrator) {
    for (const ref of configFromReference(body)) await seen.mustSee(ref.kind, ref.ref);
    // dockerd (API < 1.44) lets two networks share a name; then neither namespace could use it by name.
    const name = stringField(body, "NAME", "Name");
    if (name !== undefined && name !== "") {
      const info = await seen.find("network", name);
      if (info !== undefined && info.name === name && !visibleTo(seen.caller, "network", info)) {
        throw new NamespaceRefusal(409, `network with name ${name} already exists`);
      }
    }
  }
  return { ok: true, body };
}

/** network connect/disconnect: the container (and a connect's links) must be visible too. */
async function networkAttach(given: unknown, seen: Seen): Promise<void> {
  if (seen.caller.administrator) return;
  for (const ref of attachReferences(bodyObject(given))) await seen.mustSee(ref.kind, ref.ref);
}

/** A swarm service's task labels follow the same rules as a container's (namespace-references.ts). */
function checkServiceLabels(given: unknown, caller: NamespaceCaller): void {
  if (given === undefined) return;
  for (const { labels, where } of serviceLabels(bodyObject(given))) {
    checkLabels(labels, (namespace) => mayAddress(caller, namespace), where);
  }
}
