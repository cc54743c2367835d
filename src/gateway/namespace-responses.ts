/**
 * dockerd's answers as a caller of the gateway may see them: lists hold only its namespaces' objects (and
 * the built-in networks), role credentials are redacted, and error texts name no other namespace's ids. A
 * body of an unexpected shape is passed on unchanged to administrators and replaced by an empty list of the
 * expected shape for everyone else: fail closed, never throw.
 */
import { REDACTED, ROLE_SECRET_VARIABLES } from "../api/role-credential.ts";
import { isObject } from "./namespace-body.ts";
import { isBuiltinNetwork, namespaceOf } from "./namespace-labels.ts";
import type { EngineLookup, NamespaceCaller } from "./namespace-types.ts";

/** Whether a list item (its `Labels`) belongs to a namespace the caller may address. */
function itemVisible(item: unknown, caller: NamespaceCaller, builtins: boolean): boolean {
  if (!isObject(item)) return false;
  if (builtins && isBuiltinNetwork(item["Name"])) return true;
  const namespace = namespaceOf(item["Labels"]);
  return namespace !== undefined && caller.mayAddress(namespace);
}

function visibleItems(items: unknown, caller: NamespaceCaller, builtins = false): unknown[] {
  return Array.isArray(items) ? items.filter((item) => itemVisible(item, caller, builtins)) : [];
}

/** Filters a JSON response of a list action to what the caller may see; other actions unchanged. */
export function filterResponse(action: string, body: unknown, caller: NamespaceCaller): unknown {
  if (caller.administrator) return body;
  switch (action) {
    case "container:list":
      return visibleItems(body, caller);
    case "network:list":
      return visibleItems(body, caller, true);
    case "volume:list": {
      if (!isObject(body)) return { Volumes: [], Warnings: null };
      return { ...body, Volumes: visibleItems(body["Volumes"], caller) };
    }
    case "system:df": {
      // Images and the build cache are host-wide; LayersSize and the rest are left as dockerd counts them.
      if (!isObject(body)) return { LayersSize: 0, Images: [], Containers: [], Volumes: [], BuildCache: [] };
      return {
        ...body,
        Containers: visibleItems(body["Containers"], caller),
        Volumes: visibleItems(body["Volumes"], caller),
      };
    }
    default:
      return body;
  }
}

/** `K=V` entries of an environment with the role credentials' values replaced. */
function redactEnv(env: unknown): unknown {
  if (!Array.isArray(env)) return env;
  return env.map((entry) => {
    if (typeof entry !== "string") return entry;
    const eq = entry.indexOf("=");
    const key = eq < 0 ? entry : entry.slice(0, eq);
    return eq >= 0 && ROLE_SECRET_VARIABLES.has(key) ? `${key}=${REDACTED}` : entry;
  });
}

function redactConfig(config: unknown): unknown {
  return isObject(config) && Array.isArray(config["Env"])
    ? { ...config, Env: redactEnv(config["Env"]) }
    : config;
}

/**
 * container:inspect: the role credentials (ROLE_SECRET_VARIABLES) in Config.Env shown as REDACTED, for
 * everyone. image:inspect too: an image committed from such a container carries its environment
 * (`Config.Env`, and `ContainerConfig.Env` of the container it was committed from). Exec instances show no
 * environment.
 */
export function redactResponse(action: string, body: unknown): unknown {
  if ((action !== "container:inspect" && action !== "image:inspect") || !isObject(body)) return body;
  const out: Record<string, unknown> = { ...body };
  if (Object.hasOwn(body, "Config")) out["Config"] = redactConfig(body["Config"]);
  if (Object.hasOwn(body, "ContainerConfig")) out["ContainerConfig"] = redactConfig(body["ContainerConfig"]);
  return out;
}

/** dockerd's full (64) and short (12) hex ids, not image ids (`sha256:...`: images are host-wide). */
const OBJECT_ID = /(?<![0-9a-f])(?<!sha256:)(?:[0-9a-f]{64}|[0-9a-f]{12})(?![0-9a-f])/g;
const NAME_CONFLICT = /is already in use by container "[0-9a-f]{64}"/g;
export const HIDDEN_ID = "(hidden)";

function sanitizeText(text: string): string {
  return text.replace(NAME_CONFLICT, "is already in use by another container").replace(OBJECT_ID, HIDDEN_ID);
}

/**
 * An error body from dockerd (a 409 name conflict names the container that holds the name, an image removal
 * conflict the containers that use the image, a volume in use its containers): for a non-administrator,
 * every container-style id in it is hidden, since it may be another namespace's. The ids the caller asked
 * about were checked before forwarding, so little of its own is lost.
 */
export function sanitizeError(status: number, body: unknown, caller: NamespaceCaller): unknown {
  if (caller.administrator || status < 400) return body;
  if (typeof body === "string") return sanitizeText(body);
  if (isObject(body) && typeof body["message"] === "string") {
    return { ...body, message: sanitizeText(body["message"]) };
  }
  return body;
}

/**
 * network:inspect: `Containers` maps the ids of the containers attached to the network (for the built-in
 * bridge, every namespace's) to their names and addresses. A non-administrator sees only those of its
 * namespaces; other entries (a load balancer's `lb-...`, unknown ids) are left out.
 */
export async function filterNetworkContainers(
  body: unknown,
  caller: NamespaceCaller,
  lookup: EngineLookup,
): Promise<unknown> {
  if (caller.administrator) return body;
  if (!isObject(body)) return {};
  const containers = body["Containers"];
  if (containers === undefined || containers === null) return body;
  if (!isObject(containers)) return { ...body, Containers: {} };
  const kept: Record<string, unknown> = {};
  for (const id of Object.keys(containers)) {
    if (!/^[0-9a-f]{64}$/.test(id)) continue;
    const info = await lookup.find("container", id);
    const namespace = info === undefined ? undefined : namespaceOf(info.labels);
    if (namespace !== undefined && caller.mayAddress(namespace)) kept[id] = containers[id];
  }
  return { ...body, Containers: kept };
}
