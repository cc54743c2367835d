/**
 * The objects a container create body makes the new container use, read as dockerd reads them
 * (daemon/create.go, daemon/volumes.go, runconfig/opts): each one must belong to the caller's namespaces, or
 * a container could join another namespace's network, mount its volumes or share its processes.
 *
 * - HostConfig.NetworkMode: a network name or id, or `container:REF` (`bridge`, `host`, `none`, `default`
 *   are dockerd's own);
 * - NetworkingConfig.EndpointsConfig: its keys (networks) and each endpoint's `Links` (containers);
 * - HostConfig.Links (`name:alias`, or `/name:/self/alias` as dockerd stores them), HostConfig.VolumesFrom
 *   (`REF[:ro|rw]`), HostConfig.PidMode, IpcMode and Cgroup (`container:REF`);
 * - HostConfig.Binds `volume:/path[:opts]` (a source not starting with `/` is a volume name) and
 *   HostConfig.Mounts entries of Type `volume` with a Source (a named volume; without one, anonymous).
 *
 * Every Mounts entry's VolumeOptions.Labels is a label set too: dockerd gives a volume it creates for the
 * mount those labels, so they are checked like the container's own.
 */
import {
  fieldOf,
  isObject,
  NamespaceRefusal,
  objectField,
  objectsField,
  stringField,
  stringsField,
} from "./namespace-body.ts";
import { isBuiltinNetwork } from "./namespace-labels.ts";

export interface ObjectReference {
  readonly kind: "container" | "network" | "volume";
  /** The reference as the body gives it (a name, short id or full id; a volume's name). */
  readonly ref: string;
  /** The field it came from, for messages. */
  readonly where: string;
  /** Volumes named by a Mounts entry: the entry (a rewrite may stamp its VolumeOptions.Labels). */
  readonly mount?: Record<string, unknown>;
}

export interface MountLabels {
  readonly labels: Record<string, unknown>;
  readonly where: string;
}

export interface ContainerCreateBody {
  readonly references: readonly ObjectReference[];
  /** The VolumeOptions.Labels of every Mounts entry that has them. */
  readonly mountLabels: readonly MountLabels[];
  /** HostConfig.VolumeDriver: the driver dockerd creates Binds' missing volumes with. */
  readonly volumeDriver: string | undefined;
}

/** Network modes that name no object (dockerd's own); anything else but `container:` is a network. */
const OWN_MODES = new Set(["", "default", "bridge", "host", "none"]);
const CONTAINER_MODE = "container:";

function containerRef(ref: string): string {
  // dockerd stores links as "/name:/self/alias" and resolves "/name" as "name".
  return ref.startsWith("/") ? ref.slice(1) : ref;
}

/** The objects a network mode names: `container:REF`, a network, or none. */
export function networkModeReferences(mode: string, where: string): ObjectReference[] {
  if (mode.startsWith(CONTAINER_MODE)) {
    const ref = containerRef(mode.slice(CONTAINER_MODE.length));
    return ref === "" ? [] : [{ kind: "container", ref, where }];
  }
  return OWN_MODES.has(mode) ? [] : [{ kind: "network", ref: mode, where }];
}

/** `container:REF` of PidMode, IpcMode and Cgroup; other modes (host, private, shareable) name nothing. */
function containerModeReference(mode: string | undefined, where: string): ObjectReference[] {
  if (mode === undefined || !mode.startsWith(CONTAINER_MODE)) return [];
  const ref = containerRef(mode.slice(CONTAINER_MODE.length));
  return ref === "" ? [] : [{ kind: "container", ref, where }];
}

/** The container of a link, as runconfig/opts.ParseLink reads "name", "name:alias" or "/name:/self/alias". */
function linkReference(link: string, where: string): ObjectReference[] {
  const name = containerRef(link.split(":")[0] ?? "");
  return name === "" ? [] : [{ kind: "container", ref: name, where }];
}

/** The container of a VolumesFrom entry "REF[:ro|rw]". */
function volumesFromReference(spec: string, where: string): ObjectReference[] {
  const ref = containerRef(spec.split(":")[0] ?? "");
  return ref === "" ? [] : [{ kind: "container", ref, where }];
}

/** The named volume of a Binds entry, or none (a host path, or "/dst" alone: an anonymous volume). */
export function bindVolume(spec: string): string | undefined {
  const parts = spec.split(":");
  if (parts.length < 2) return undefined;
  const source = parts[0] ?? "";
  return source === "" || source.startsWith("/") ? undefined : source;
}

export function readContainerCreate(body: Record<string, unknown>): ContainerCreateBody {
  const references: ObjectReference[] = [];
  const mountLabels: MountLabels[] = [];
  const host = objectField(body, "HOSTCONFIG", "HostConfig") ?? {};
  const mode = stringField(host, "NETWORKMODE", "HostConfig.NetworkMode");
  if (mode !== undefined) references.push(...networkModeReferences(mode, "HostConfig.NetworkMode"));

  const networking = objectField(body, "NETWORKINGCONFIG", "NetworkingConfig") ?? {};
  const endpoints = objectField(networking, "ENDPOINTSCONFIG", "NetworkingConfig.EndpointsConfig") ?? {};
  const where = "NetworkingConfig.EndpointsConfig";
  for (const network of Object.keys(endpoints)) {
    if (!isBuiltinNetwork(network) && network !== "") {
      references.push({ kind: "network", ref: network, where });
    }
    const endpoint = endpoints[network];
    if (endpoint === null || endpoint === undefined) continue;
    if (!isObject(endpoint)) throw new NamespaceRefusal(400, `${where}.${network} must be a JSON object`);
    for (const link of stringsField(endpoint, "LINKS", `${where}.${network}.Links`)) {
      references.push(...linkReference(link, `${where}.${network}.Links`));
    }
  }

  for (const link of stringsField(host, "LINKS", "HostConfig.Links")) {
    references.push(...linkReference(link, "HostConfig.Links"));
  }
  for (const spec of stringsField(host, "VOLUMESFROM", "HostConfig.VolumesFrom")) {
    references.push(...volumesFromReference(spec, "HostConfig.VolumesFrom"));
  }
  const modes: readonly (readonly [string, string])[] = [
    ["PIDMODE", "HostConfig.PidMode"],
    ["IPCMODE", "HostConfig.IpcMode"],
    ["CGROUP", "HostConfig.Cgroup"],
  ];
  for (const [field, at] of modes) {
    references.push(...containerModeReference(stringField(host, field, at), at));
  }

  for (const spec of stringsField(host, "BINDS", "HostConfig.Binds")) {
    const name = bindVolume(spec);
    if (name !== undefined) references.push({ kind: "volume", ref: name, where: "HostConfig.Binds" });
  }
  const mounts = objectsField(host, "MOUNTS", "HostConfig.Mounts");
  mounts.forEach((mount, i) => {
    const where = `HostConfig.Mounts[${i}]`;
    const options = objectField(mount, "VOLUMEOPTIONS", `${where}.VolumeOptions`);
    const labels = options === undefined
      ? undefined
      : objectField(options, "LABELS", `${where}.VolumeOptions.Labels`);
    if (labels !== undefined) mountLabels.push({ labels, where: `${where}.VolumeOptions.Labels` });
    // dockerd's mount types are exact lower-case strings ("volume"); anything else is not a volume mount.
    if (fieldOf(mount, "TYPE", `${where}.Type`) !== "volume") return;
    const source = stringField(mount, "SOURCE", `${where}.Source`);
    if (source !== undefined && source !== "") references.push({ kind: "volume", ref: source, where, mount });
  });
  const volumeDriver = stringField(host, "VOLUMEDRIVER", "HostConfig.VolumeDriver");
  return { references, mountLabels, volumeDriver };
}

/**
 * The label sets of a swarm service spec (service:create, service:update): its tasks are containers with
 * TaskTemplate.ContainerSpec.Labels, and volumes with each mount's VolumeOptions.Labels. The service itself
 * is not namespaced, but the same label rules apply to what it creates.
 */
export function serviceLabels(body: Record<string, unknown>): MountLabels[] {
  const out: MountLabels[] = [];
  const task = objectField(body, "TASKTEMPLATE", "TaskTemplate");
  const spec = task === undefined
    ? undefined
    : objectField(task, "CONTAINERSPEC", "TaskTemplate.ContainerSpec");
  if (spec === undefined) return out;
  const labels = objectField(spec, "LABELS", "TaskTemplate.ContainerSpec.Labels");
  if (labels !== undefined) out.push({ labels, where: "TaskTemplate.ContainerSpec.Labels" });
  objectsField(spec, "MOUNTS", "TaskTemplate.ContainerSpec.Mounts").forEach((mount, i) => {
    const where = `TaskTemplate.ContainerSpec.Mounts[${i}].VolumeOptions`;
    const options = objectField(mount, "VOLUMEOPTIONS", where);
    const volumeLabels = options === undefined
      ? undefined
      : objectField(options, "LABELS", `${where}.Labels`);
    if (volumeLabels !== undefined) out.push({ labels: volumeLabels, where: `${where}.Labels` });
  });
  return out;
}

/** The containers a network connect body names: `Container`, and the links of its EndpointConfig. */
export function attachReferences(body: Record<string, unknown>): ObjectReference[] {
  const container = stringField(body, "CONTAINER", "Container");
  if (container === undefined || container === "") {
    throw new NamespaceRefusal(400, "the request body must name a Container");
  }
  const out: ObjectReference[] = [{ kind: "container", ref: containerRef(container), where: "Container" }];
  const endpoint = objectField(body, "ENDPOINTCONFIG", "EndpointConfig");
  for (const link of endpoint === undefined ? [] : stringsField(endpoint, "LINKS", "EndpointConfig.Links")) {
    out.push(...linkReference(link, "EndpointConfig.Links"));
  }
  return out;
}

/** A network create body's ConfigFrom.Network (a config-only network it takes its settings from). */
export function configFromReference(body: Record<string, unknown>): ObjectReference[] {
  const from = objectField(body, "CONFIGFROM", "ConfigFrom");
  const source = from === undefined ? undefined : stringField(from, "NETWORK", "ConfigFrom.Network");
  return source === undefined || source === "" ? [] : [{ kind: "network", ref: source, where: "ConfigFrom" }];
}
