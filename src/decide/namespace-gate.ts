/**
 * The namespace gate: namespaces on the plugin socket. dockerd's requests cannot be rewritten there (no
 * stamping, no filtered lists), so the gate enforces what can be enforced by refusing, for a requester that
 * is not a policy administrator:
 *
 * - any container, exec instance, volume or network the path or query names that is labelled with a
 *   namespace the requester may not address (its user name, its leaf certificate's OUs, its policy groups;
 *   anonymous has none). Unlabelled and missing objects pass: the policy and dockerd decide;
 * - a create whose labels set `io.agent.namespace` to a namespace the requester may not address, or set any
 *   other `io.agent.` label (the rules of src/gateway/namespace-labels.ts), a volume create of a name that
 *   is another namespace's volume (dockerd would answer with that volume), and a container whose image's
 *   label would place it in another namespace (a container inherits its image's labels);
 * - a container create body that uses another namespace's network, container or volume
 *   (src/gateway/namespace-references.ts), a network connect or disconnect of another namespace's container,
 *   a build in another namespace's network;
 * - a prune not limited to the requester's namespaces: dockerd would prune every namespace's objects, and
 *   the gate cannot add the filter (`--filter label=io.agent.namespace=NS`, or `label!=io.agent.namespace`
 *   for the unlabelled objects only).
 *
 * Reasons never hold another namespace's ids or names: only the reference the requester sent. Other doors
 * (`facts.door` set: the HTTPS API, the gateway) enforce namespaces themselves and pass; so does the agent's
 * own internal token. Only the AuthZReq is judged: dockerd asks for the AuthZRes of an allowed request only.
 * Lookups go to dockerd through this plugin and must carry their own proofs (src/docker/object-lookup.ts);
 * a failed lookup fails the gate (the plugin denies).
 */
import {
  bodyObject,
  isRefusal,
  NamespaceRefusal,
  objectField,
  stringField,
} from "../gateway/namespace-body.ts";
import { filtersLimitToNamespace, pruneStaysInNamespaces } from "../gateway/namespace-filters.ts";
import {
  belongsElsewhere,
  checkLabels,
  isBuiltinNetwork,
  NAMESPACE_LABEL,
  namespaceOf,
} from "../gateway/namespace-labels.ts";
import {
  attachReferences,
  configFromReference,
  networkModeReferences,
  type ObjectReference,
  readContainerCreate,
  serviceLabels,
} from "../gateway/namespace-references.ts";
import { memoLookup } from "../gateway/namespace-memo.ts";
import type { EngineLookup, NamespacedKind } from "../gateway/namespace-types.ts";
import type { Policy } from "../policy/index.ts";
import type { RequestFacts } from "./facts.ts";
import type { Gate, GateVerdict } from "./gate.ts";

export const NAMESPACE_RULE = "namespace";

const ALLOW: GateVerdict = { allow: true, ruleId: undefined, reason: "allowed" };
const PRUNES = new Set(["container:prune", "volume:prune", "network:prune"]);

export interface NamespacePluginGate extends Gate {
  readonly name: "namespace";
}

/** Who the requester is to the namespaces: administrator, or the namespaces it may address. */
interface Requester {
  readonly administrator: boolean;
  readonly may: (namespace: string) => boolean;
}

function requesterOf(facts: RequestFacts, policy: Policy): Requester {
  const user = facts.request.user;
  const leaf = facts.leafCertificate;
  const administrator = policy.isAdministrator?.({
    user,
    certificate: leaf === undefined
      ? undefined
      : { organizations: leaf.organizations, organizationalUnits: leaf.organizationalUnits },
  }) ?? false;
  // Anonymous (the unix socket, or a certificate without a user name) has no namespace at all.
  const mine = user === undefined || user === ""
    ? new Set<string>()
    : new Set([user, ...(leaf?.organizationalUnits ?? []), ...(policy.groupsOf?.(user) ?? [])]);
  return { administrator, may: (namespace) => mine.has(namespace) };
}

const elsewhere = (what: string, ref: string) =>
  new NamespaceRefusal(403, `${what} ${ref} belongs to another namespace`);

export function namespaceGate(policy: Policy, lookup: EngineLookup): NamespacePluginGate {
  return {
    name: "namespace",
    async check(facts) {
      if (facts.phase !== "request" || facts.door !== undefined || facts.agentToken === true) return ALLOW;
      const route = facts.route;
      if (route === undefined) return ALLOW;
      const requester = requesterOf(facts, policy);
      if (requester.administrator) return ALLOW;
      try {
        await checkRequest(facts, requester, memoLookup(lookup));
      } catch (err) {
        if (isRefusal(err)) return { allow: false, ruleId: NAMESPACE_RULE, reason: err.message };
        throw err;
      }
      return ALLOW;
    },
  };
}

async function refuseElsewhere(
  kind: NamespacedKind,
  ref: string,
  requester: Requester,
  lookup: EngineLookup,
): Promise<void> {
  if (kind === "network" && isBuiltinNetwork(ref)) return;
  const info = await lookup.find(kind, ref);
  if (info !== undefined && belongsElsewhere(requester.may, info.labels)) throw elsewhere(kind, ref);
}

async function refuseReferences(
  references: readonly ObjectReference[],
  requester: Requester,
  lookup: EngineLookup,
): Promise<void> {
  for (const reference of references) await refuseElsewhere(reference.kind, reference.ref, requester, lookup);
}

async function checkRequest(facts: RequestFacts, requester: Requester, lookup: EngineLookup): Promise<void> {
  const route = facts.route!;
  const { resources, action } = route;
  if (resources.container !== undefined && action !== "container:create") {
    await refuseElsewhere("container", resources.container, requester, lookup);
  }
  if (resources.exec !== undefined) {
    const container = await lookup.containerOfExec(resources.exec);
    const info = container === undefined ? undefined : await lookup.find("container", container);
    if (info !== undefined && belongsElsewhere(requester.may, info.labels)) {
      throw elsewhere("exec instance", resources.exec);
    }
  }
  if (resources.volume !== undefined) await refuseElsewhere("volume", resources.volume, requester, lookup);
  if (resources.network !== undefined) await refuseElsewhere("network", resources.network, requester, lookup);

  const body = facts.body;
  // Read only where a body is judged; a body that is not a JSON object is refused there (400 text).
  const object = () => bodyObject(body);
  switch (action) {
    case "container:create": {
      const create = object();
      const labels = objectField(create, "LABELS", "Labels");
      if (labels !== undefined) checkLabels(labels, requester.may, "Labels");
      const read = readContainerCreate(create);
      for (const { labels: set, where } of read.mountLabels) checkLabels(set, requester.may, where);
      await refuseReferences(read.references, requester, lookup);
      if (namespaceOf(labels) === undefined) await refuseInheritedLabel(create, requester, lookup);
      return;
    }
    case "volume:create": {
      const create = object();
      const labels = objectField(create, "LABELS", "Labels");
      if (labels !== undefined) checkLabels(labels, requester.may, "Labels");
      const name = stringField(create, "NAME", "Name");
      if (name !== undefined && name !== "") await refuseElsewhere("volume", name, requester, lookup);
      return;
    }
    case "network:create": {
      const create = object();
      const labels = objectField(create, "LABELS", "Labels");
      if (labels !== undefined) checkLabels(labels, requester.may, "Labels");
      await refuseReferences(configFromReference(create), requester, lookup);
      return;
    }
    case "service:create":
    case "service:update":
      for (const { labels, where } of serviceLabels(object())) checkLabels(labels, requester.may, where);
      return;
    case "network:connect":
    case "network:disconnect":
      // Without a body dockerd refuses the call itself.
      if (body !== undefined) await refuseReferences(attachReferences(object()), requester, lookup);
      return;
    case "image:build": {
      const mode = facts.uri.query.get("networkmode") ?? "";
      await refuseReferences(networkModeReferences(mode, "networkmode"), requester, lookup);
      return;
    }
    default:
      if (PRUNES.has(action)) checkPrune(facts, requester);
  }
}

/** A container inherits its image's labels it does not set: an image's io.agent.namespace would place it. */
async function refuseInheritedLabel(
  body: Record<string, unknown>,
  requester: Requester,
  lookup: EngineLookup,
): Promise<void> {
  const image = stringField(body, "IMAGE", "Image");
  if (image === undefined || image === "" || lookup.imageLabels === undefined) return;
  const labels = await lookup.imageLabels(image);
  if (labels !== undefined && belongsElsewhere(requester.may, labels)) {
    throw new NamespaceRefusal(
      403,
      `containers of image ${image} would belong to another namespace (its label ${NAMESPACE_LABEL}): set that label to one of your namespaces`,
    );
  }
}

function checkPrune(facts: RequestFacts, requester: Requester): void {
  const raw = facts.uri.query.get("filters");
  if (pruneStaysInNamespaces(raw, requester.may)) return;
  // Distinguish a filter for another namespace from none at all only by the advice given.
  const advice = filtersLimitToNamespace(raw, () => true)
    ? "the label filter names another namespace"
    : `add --filter label=${NAMESPACE_LABEL}=NAMESPACE (one of yours), or --filter label!=${NAMESPACE_LABEL}`;
  throw new NamespaceRefusal(403, `a prune on this socket must stay within your namespaces: ${advice}`);
}
