/**
 * The namespace label: who an object belongs to, and which labels a client may set. An object belongs to the
 * namespace its `io.agent.namespace` label names (exactly that key: Docker labels are case-sensitive, so an
 * object labelled `IO.AGENT.NAMESPACE=alice` belongs to no namespace). On the way in, every label under
 * `io.agent.` is the agent's, compared case-insensitively: `IO.AGENT.NAMESPACE` is not the namespace label
 * to dockerd, but it reads like one to people and tools, and no client needs it. The one exception is
 * `io.agent.namespace` itself naming a namespace the caller may address (an administrator: any).
 */
import { AGENT_LABEL_PREFIX, NAMESPACE_LABEL } from "../api/namespace.ts";
import { ensureObjectField, isObject, NamespaceRefusal } from "./namespace-body.ts";
import type { NamespaceCaller, NamespacedKind, ObjectInfo } from "./namespace-types.ts";

export { AGENT_LABEL_PREFIX, NAMESPACE_LABEL };

/** dockerd's predefined networks: shared by every namespace, visible to all (they carry no labels). */
export const BUILTIN_NETWORKS: ReadonlySet<string> = new Set(["bridge", "host", "none"]);

export const FOREIGN_NAMESPACE_LABEL = `the label ${NAMESPACE_LABEL} may only name your own namespaces`;

/** The namespace a label set names, or undefined when it names none. */
export function namespaceOf(labels: unknown): string | undefined {
  if (!isObject(labels) || !Object.hasOwn(labels, NAMESPACE_LABEL)) return undefined;
  const value = labels[NAMESPACE_LABEL];
  return typeof value === "string" && value !== "" ? value : undefined;
}

/** Whether `name` is one of dockerd's predefined networks. */
export function isBuiltinNetwork(name: unknown): boolean {
  return typeof name === "string" && BUILTIN_NETWORKS.has(name);
}

/** Whether the caller may address `namespace` (an administrator may address every one). */
export function mayAddress(caller: NamespaceCaller, namespace: string): boolean {
  return caller.administrator || caller.mayAddress(namespace);
}

/**
 * Through the gateway: an object is visible when it belongs to a namespace the caller may address, or is a
 * built-in network; an unlabelled one only to administrators.
 */
export function visibleTo(caller: NamespaceCaller, kind: NamespacedKind, info: ObjectInfo): boolean {
  if (caller.administrator) return true;
  if (kind === "network" && isBuiltinNetwork(info.name)) return true;
  const namespace = namespaceOf(info.labels);
  return namespace !== undefined && caller.mayAddress(namespace);
}

/**
 * On the plugin socket: an object belongs elsewhere when it is labelled with a namespace the requester may
 * not address. Unlabelled objects belong to no one there (the policy and dockerd decide).
 */
export function belongsElsewhere(may: (namespace: string) => boolean, labels: unknown): boolean {
  const namespace = namespaceOf(labels);
  return namespace !== undefined && !may(namespace);
}

/**
 * Checks the labels a client asks for: values are strings, `io.agent.namespace` names a namespace `may`
 * allows, no other `io.agent.` label. Answers the namespace the labels name, if any.
 */
export function checkLabels(
  labels: Record<string, unknown>,
  may: (namespace: string) => boolean,
  where: string,
): string | undefined {
  let named: string | undefined;
  for (const key of Object.keys(labels)) {
    const value = labels[key];
    if (typeof value !== "string") throw new NamespaceRefusal(400, `${where} must map names to strings`);
    if (key === NAMESPACE_LABEL) {
      if (value === "" || !may(value)) throw new NamespaceRefusal(403, FOREIGN_NAMESPACE_LABEL);
      named = value;
    } else if (key.toLowerCase().startsWith(AGENT_LABEL_PREFIX)) {
      throw new NamespaceRefusal(
        403,
        `labels under ${AGENT_LABEL_PREFIX} are set by the agent only (${key})`,
      );
    }
  }
  return named;
}

/**
 * Checks the `Labels` field of `object` (Go's case-insensitive key) and stamps the caller's namespace into
 * it when the client named none. Changes `object`: give it a copy.
 */
export function stampLabels(object: Record<string, unknown>, caller: NamespaceCaller, where: string): void {
  const labels = ensureObjectField(object, "LABELS", "Labels", where);
  const named = checkLabels(labels, (namespace) => mayAddress(caller, namespace), where);
  if (named === undefined) labels[NAMESPACE_LABEL] = caller.namespace;
}
