/**
 * Which of dockerd's `GET /events` a gateway caller sees. A container event carries the container's labels
 * in Actor.Attributes (dockerd copies them there), so it is judged without a lookup; a volume event names
 * the volume (Actor.ID) and a network event the network's id, so those are looked up, and their
 * `container` attribute (a mount, a connect) must be visible too, or the built-in bridge's events would
 * show every namespace's containers. Image events are visible to all (images are host-wide); daemon,
 * plugin, builder and swarm events only to administrators. A volume or network already gone when its event
 * is judged (`destroy`) is not visible: unknown is hidden.
 */
import { isObject } from "./namespace-body.ts";
import { namespaceOf, visibleTo } from "./namespace-labels.ts";
import type { EngineLookup, NamespaceCaller, NamespacedKind } from "./namespace-types.ts";

async function visibleObject(
  kind: NamespacedKind,
  ref: unknown,
  caller: NamespaceCaller,
  lookup: EngineLookup,
): Promise<boolean> {
  if (typeof ref !== "string" || ref === "") return false;
  const info = await lookup.find(kind, ref);
  return info !== undefined && visibleTo(caller, kind, info);
}

/** One event of GET /events (dockerd's JSON object): whether the caller may see it. */
export async function eventVisible(
  event: unknown,
  caller: NamespaceCaller,
  lookup: EngineLookup,
): Promise<boolean> {
  if (caller.administrator) return true;
  if (!isObject(event)) return false;
  const actor = isObject(event["Actor"]) ? event["Actor"] : {};
  const attributes = isObject(actor["Attributes"]) ? actor["Attributes"] : {};
  switch (event["Type"]) {
    case "image":
      return true;
    case "container": {
      const namespace = namespaceOf(attributes);
      return namespace !== undefined && caller.mayAddress(namespace);
    }
    case "volume":
    case "network": {
      const kind = event["Type"];
      if (!await visibleObject(kind, actor["ID"], caller, lookup)) return false;
      const container = attributes["container"];
      return container === undefined || await visibleObject("container", container, caller, lookup);
    }
    default:
      return false;
  }
}
